"""Manual events: record a row's current values under a label, from application code.

Layer: runtime. The event is built by one ``INSERT ... SELECT`` from the tracked row, so
the stored values are exactly what the database holds (auto-now columns keep the row's
values), and it is linked to the active context (:func:`pghistory_core.context`).
"""

from __future__ import annotations

from collections.abc import Sequence

from pghistory_core import db, sql
from pghistory_core.context import current
from pghistory_core.errors import ConfigurationError, HistoryError
from pghistory_core.render import ATTACH_CONTEXT_FUNCTION, event_insert_head, event_values
from pghistory_core.spec import DENORMALIZED, FK, Tracking
from pghistory_core.sql import JSON, LiteralValue

__all__ = ["create_event", "create_event_sql"]


def _pk_values(tracking: Tracking, pk: LiteralValue | Sequence[LiteralValue]) -> tuple[LiteralValue, ...]:
    keys = tracking.table.primary_key
    if not keys:
        raise ConfigurationError(f"{tracking.table.qualified_name} has no primary key; manual events need one")
    values = tuple(pk) if len(keys) > 1 and isinstance(pk, (list, tuple)) else (pk,)
    if len(values) != len(keys):
        raise ConfigurationError(
            f"{tracking.table.qualified_name}: primary key {list(keys)} needs {len(keys)} values, got {pk!r}"
        )
    return values


def create_event_sql(tracking: Tracking, label: str, pk: LiteralValue | Sequence[LiteralValue]) -> sql.Composable:
    """The ``INSERT ... SELECT ... RETURNING pgh_id`` recording the row with key *pk*."""
    tracking.tracker(label)  # raises if the label is unknown
    values = _pk_values(tracking, pk)
    row = sql.Identifier("pgh_row")
    active = current()
    context_id: sql.Composable = sql.SQL("NULL")
    context_meta: sql.Composable = sql.SQL("NULL")
    if active is not None and tracking.context == FK:
        context_id = sql.SQL("{}({}, {})").format(
            sql.Identifier(tracking.context_schema, ATTACH_CONTEXT_FUNCTION),
            sql.Literal(active.id),
            sql.Literal(JSON(active.metadata)),
        )
    elif active is not None and tracking.context == DENORMALIZED:
        context_id = sql.Literal(active.id)
        context_meta = sql.Literal(JSON(active.metadata))
    select = event_values(tracking, label, row, context_id, context_meta)
    where = sql.join(
        " AND ",
        [
            sql.SQL("{}.{} = {}").format(row, sql.Identifier(key), sql.Literal(value))
            for key, value in zip(tracking.table.primary_key, values)
        ],
    )
    return sql.SQL("{} SELECT {} FROM {} AS {} WHERE {} RETURNING \"pgh_id\"").format(
        event_insert_head(tracking),
        sql.join(", ", select),
        sql.Identifier(tracking.table.schema, tracking.table.name),
        row,
        where,
    )


def create_event(conn: db.Connection, tracking: Tracking, label: str, pk: LiteralValue | Sequence[LiteralValue]) -> int:
    """Record the current values of the row with primary key *pk* under *label*.

    Returns the new event's ``pgh_id``. Raises :class:`HistoryError` if no such row exists.
    """
    rows = db.fetch_all(conn, create_event_sql(tracking, label, pk))
    if not rows:
        raise HistoryError(f"{tracking.table.qualified_name} has no row with primary key {pk!r}")
    return int(str(rows[0][0]))
