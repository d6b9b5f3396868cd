"""Backfill: record the rows a table already holds when tracking starts.

Layer: runtime. Triggers record changes from the moment they are installed; the rows that
existed before have no event, so an object's history starts at its first change. A backfill
writes one event per existing row under a label of the tracking (typically a
``ManualEvent("backfill")``), linked to the active context like :func:`create_event`.

The rows are read in primary-key order in batches (keyset: each batch starts after the last
key of the one before, so every batch is an index range scan, however far the backfill has
gone), one ``INSERT ... SELECT`` per batch, each batch in its own transaction (a savepoint
inside the caller's transaction). With ``skip_existing`` (the default) a row that already
has an event in the event table is skipped, so a backfill that stopped half-way can simply
be run again. A row inserted while the backfill runs is recorded by its trigger; if that
transaction has not committed when its batch passes, the row gets both events.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from pghistory_core import db, sql
from pghistory_core.context import current
from pghistory_core.errors import ConfigurationError
from pghistory_core.render import ATTACH_CONTEXT_FUNCTION, event_insert_head, event_table_ident, event_values, mirror_type
from pghistory_core.spec import DENORMALIZED, FK, Tracking
from pghistory_core.sql import JSON

__all__ = ["BackfillResult", "backfill", "backfill_batch_sql"]

#: Rows per batch by default: a few MB of events per transaction.
BATCH_SIZE = 10_000

_ROW = sql.Identifier("pgh_row")
_BATCH = sql.Identifier("pgh_batch")
_WRITTEN = sql.Identifier("pgh_written")
_CONTEXT = sql.Identifier("pgh_ctx")


@dataclasses.dataclass(frozen=True)
class BackfillResult:
    """What a backfill did: rows read, events written, rows skipped (they had an event)."""

    rows: int
    events: int

    @property
    def skipped(self) -> int:
        return self.rows - self.events


def _check(tracking: Tracking, label: str, batch_size: int, skip_existing: bool) -> None:
    tracking.tracker(label)  # raises, naming the known labels, if the label is unknown
    where = tracking.table.qualified_name
    if not tracking.table.primary_key:
        raise ConfigurationError(f"{where} has no primary key; a backfill reads the table in key order")
    if skip_existing and not tracking.obj_ref:
        raise ConfigurationError(
            f"{where}: skip_existing needs pgh_obj_id to tell which rows already have events, and this "
            "tracking has obj_ref=False; pass skip_existing=False to record every row"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigurationError(f"batch_size must be a positive integer, got {batch_size!r}")


def backfill_batch_sql(
    tracking: Tracking, label: str, after: tuple[str, ...] | None, batch_size: int, skip_existing: bool = True
) -> sql.Composable:
    """One batch: the next *batch_size* rows after the key *after* (None: from the start).

    Returns one row ``(rows read, events written, *last key)``, or none when no row is
    left. Keys travel as text (``::text``, cast back to each key column's type), so any key
    type Postgres can order works, whatever the driver makes of its values.
    """
    _check(tracking, label, batch_size, skip_existing)
    keys = [sql.Identifier(k) for k in tracking.table.primary_key]
    table = sql.Identifier(tracking.table.schema, tracking.table.name)
    events = event_table_ident(tracking)
    active = current()

    ctes: list[sql.Composable] = []
    key_list = sql.join(", ", keys)
    where: sql.Composable = sql.SQL("")
    if after is not None:
        if len(after) != len(keys):
            raise ConfigurationError(f"{tracking.table.qualified_name}: a key after which to continue needs {len(keys)} values, got {after!r}")
        # The column's type without typmod, and serial as its integer type (a cast target).
        types = [mirror_type(tracking.table.column(k).type) for k in tracking.table.primary_key]
        bounds = [sql.SQL("CAST({} AS {})").format(sql.Literal(v), sql.SQL(t)) for v, t in zip(after, types)]
        where = sql.SQL(" WHERE ({}) > ({})").format(key_list, sql.join(", ", bounds))
    ctes.append(
        sql.SQL("{} AS MATERIALIZED (SELECT * FROM {}{} ORDER BY {} LIMIT {})").format(
            _BATCH, table, where, key_list, sql.Literal(batch_size)
        )
    )

    context_id: sql.Composable = sql.SQL("NULL")
    context_meta: sql.Composable = sql.SQL("NULL")
    joins: sql.Composable = sql.SQL("")
    if active is not None and tracking.context == FK:
        # Once per batch, not per row: the context row is written (or merged) once.
        ctes.append(
            sql.SQL("{} AS MATERIALIZED (SELECT {}({}, {}) AS id)").format(
                _CONTEXT,
                sql.Identifier(tracking.context_schema, ATTACH_CONTEXT_FUNCTION),
                sql.Literal(active.id),
                sql.Literal(JSON(active.metadata)),
            )
        )
        context_id = _CONTEXT + sql.SQL(".id")
        joins = sql.SQL(" CROSS JOIN {}").format(_CONTEXT)
    elif active is not None and tracking.context == DENORMALIZED:
        context_id = sql.Literal(active.id)
        context_meta = sql.Literal(JSON(active.metadata))

    values = event_values(tracking, label, _ROW, context_id, context_meta)
    skip: sql.Composable = sql.SQL("")
    if skip_existing:
        skip = sql.SQL(' WHERE NOT EXISTS (SELECT 1 FROM {} AS "pgh_e" WHERE "pgh_e"."pgh_obj_id" = {}.{})').format(
            events, _ROW, keys[0]
        )
    in_order = sql.join(", ", [_ROW + sql.SQL(".") + k for k in keys])
    ctes.append(
        sql.SQL("{} AS ({} SELECT {} FROM {} AS {}{}{} ORDER BY {} RETURNING 1)").format(
            _WRITTEN, event_insert_head(tracking), sql.join(", ", values), _BATCH, _ROW, joins, skip, in_order
        )
    )
    # Qualified: an unqualified name in ORDER BY would mean the text output column.
    descending = sql.join(", ", [_BATCH + sql.SQL(".") + k + sql.SQL(" DESC") for k in keys])
    as_text = sql.join(", ", [_BATCH + sql.SQL(".") + k + sql.SQL("::text") for k in keys])
    return sql.SQL(
        "WITH {} SELECT (SELECT count(*) FROM {}), (SELECT count(*) FROM {}), {} FROM {} ORDER BY {} LIMIT 1"
    ).format(sql.join(", ", ctes), _BATCH, _WRITTEN, as_text, _BATCH, descending)


def backfill(
    conn: db.Connection,
    tracking: Tracking,
    label: str,
    *,
    batch_size: int = BATCH_SIZE,
    skip_existing: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> BackfillResult:
    """Record every row *tracking*'s table holds as an event labelled *label*.

    *progress* is called after each batch with (rows read so far, rows in the table when
    the backfill started). Returns the totals; see the module docstring for batches,
    transactions and re-runs.
    """
    _check(tracking, label, batch_size, skip_existing)
    table = sql.Identifier(tracking.table.schema, tracking.table.name)
    total = int(str(db.fetch_all(conn, sql.SQL("SELECT count(*) FROM {}").format(table))[0][0]))
    rows = events = 0
    after: tuple[str, ...] | None = None
    while True:
        with db.transaction(conn):
            found = db.fetch_all(conn, backfill_batch_sql(tracking, label, after, batch_size, skip_existing))
        if not found:
            break
        read, written, *last = found[0]
        rows += int(str(read))
        events += int(str(written))
        after = tuple(str(value) for value in last)
        if progress is not None:
            progress(rows, max(total, rows))
        if int(str(read)) < batch_size:
            break
    return BackfillResult(rows=rows, events=events)
