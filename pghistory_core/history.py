"""Reading history: an object's events, events across event tables with diffs, state as of a time.

Layer: reading history (stage 5). Pure functions (``*_sql``) render SQL from
:class:`~pghistory_core.spec.Tracking` descriptions without a connection; small executors
run it over any DB-API connection (:mod:`pghistory_core.db`) and return frozen
dataclasses. Reverting is in :mod:`pghistory_core.revert`.

How the queries are built, and why:

- **One branch per event table, joined with UNION ALL.** Every filter is applied *inside*
  its branch, on the event table itself, so Postgres can use the ``pgh_obj_id`` and
  ``pgh_context_id`` indexes. Filtering the outside of a UNION (a view over every event
  table) makes the planner scan everything; we never do that.
- **Diffs.** ``pgh_diff`` compares an event with the previous event of the same object in
  the same event table (by ``pgh_id``), and lists only the keys whose JSON values differ,
  as ``{column: [old, new]}``; it is NULL for an object's first event and ``{}`` when
  nothing changed (a manual event). When the query is about one object, the branch reads
  that object's events through the index and takes the previous one with ``lag()``;
  other filters are evaluated in the same pass and applied afterwards, so the previous
  event is found even when it is filtered out. Without an object filter the branch
  first applies its filters (and the page limit), then finds each row's previous event
  with an index lookup (``LEFT JOIN LATERAL``).
- **Order and pages.** Events are ordered by ``(pgh_created_at, pgh_id, pgh_model)``:
  ``pgh_id`` alone means nothing across event tables, and events of one transaction share
  ``pgh_created_at`` (``now()``), so the event table's name breaks the remaining ties and
  the order is total. Pages are keyset pages: pass the last event's :attr:`Event.cursor`
  as ``after=``. Each branch is limited before the union, so a page never reads more
  than ``limit`` rows per event table.
- **JSON.** ``pgh_data`` is the event row as ``jsonb`` without its ``pgh_*`` columns, so
  integers come back as ``int``, other numbers as ``Decimal`` with every digit ``jsonb``
  holds (a float would lose the tail of a ``numeric(30,10)``), and times as ISO strings
  rendered in the session's time zone. As-of queries return native column
  values instead (``Decimal``, ``datetime``...), and reverts copy values in SQL, never
  through JSON.
- **Object identity.** An object is identified by ``pgh_obj_id`` (indexed). A tracking
  created with ``obj_ref=False`` is read through its mirrored primary-key columns (not
  indexed), if it mirrors them. ``pgh_obj_id`` holds the key *after* the change, so after
  a primary-key change the object's history continues under its new key, and the first
  event under the new key has no diff: the old key is not recorded anywhere.

As of a time, a row's state is the data of its latest event (by ``pgh_id``) created at or
before that time; the row did not exist if that event is a delete or if there is none.
This needs a tracking that mirrors every column and records every insert, update and
delete; rows that existed before tracking started are only known from their first event.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Union

from pghistory_core import conditions as c
from pghistory_core import db, sql
from pghistory_core.errors import ConfigurationError, HistoryError
from pghistory_core.render import CONTEXT_TABLE, event_columns, event_table_ident
from pghistory_core.schema import Table
from pghistory_core.spec import DENORMALIZED, EVENT_COLUMNS, FK, NO_CONTEXT, Tracking
from pghistory_core.sql import LiteralValue
from pghistory_core.trackers import Delete, Insert, ManualEvent, New, Old, RowEvent, Update

__all__ = [
    "Cursor",
    "Event",
    "Reference",
    "RowVersion",
    "TableRef",
    "StateSource",
    "events",
    "events_sql",
    "object_history",
    "object_history_sql",
    "object_as_of",
    "object_as_of_sql",
    "table_as_of",
    "table_as_of_sql",
    "trackings_of",
    "tracking_for_model",
    "state_source",
    "full_row_problems",
    "replay_problems",
    "label_kinds",
]

#: A tracked table: the :class:`Table` itself or its qualified name ``"schema.name"``.
TableRef = Union[Table, str]

# Aliases used in the generated SQL. They never clash with a column, whatever its name:
# every column reference is qualified, and subqueries select named columns, never ``*``.
_X = sql.Identifier("pgh_x")  # the event table, inside a branch
_E = sql.Identifier("pgh_e")  # a branch's filtered rows
_P = sql.Identifier("pgh_p")  # the previous event (lateral lookup)
_Y = sql.Identifier("pgh_y")  # the event table, inside the lateral lookup
_C = sql.Identifier("pgh_c")  # the shared context table
_H = sql.Identifier("pgh_h")  # the union of all branches
_S = sql.Identifier("pgh_s")  # as-of: the latest event per object

#: Keys removed from ``to_jsonb(event row)`` to leave the mirrored row.
_EVENT_KEYS = sql.SQL("{}::text[]").format(sql.Literal(list(EVENT_COLUMNS)))

#: The columns every history query returns, in order.
EVENT_FIELDS = (
    "pgh_id",
    "pgh_created_at",
    "pgh_label",
    "pgh_model",
    "pgh_obj_model",
    "pgh_obj_id",
    "pgh_context_id",
    "pgh_context",
    "pgh_data",
    "pgh_diff",
)


_JSON_FIELDS = ("pgh_obj_id", "pgh_context", "pgh_data", "pgh_diff")


# ------------------------------------------------------------------------------ values


@dataclasses.dataclass(frozen=True)
class Cursor:
    """A position in the event order ``(pgh_created_at, pgh_id, pgh_model)``.

    :attr:`token` is a string form for APIs and the command line; :meth:`parse` reads it.
    """

    pgh_created_at: datetime.datetime
    pgh_id: int
    pgh_model: str

    def __post_init__(self) -> None:
        if not isinstance(self.pgh_created_at, datetime.datetime):
            raise ConfigurationError(f"Cursor.pgh_created_at must be a datetime, got {self.pgh_created_at!r}")
        if isinstance(self.pgh_id, bool) or not isinstance(self.pgh_id, int):
            raise ConfigurationError(f"Cursor.pgh_id must be an int, got {self.pgh_id!r}")
        if not isinstance(self.pgh_model, str) or not self.pgh_model:
            raise ConfigurationError(f"Cursor.pgh_model must be an event table name, got {self.pgh_model!r}")

    @property
    def token(self) -> str:
        return f"{self.pgh_created_at.isoformat()}|{self.pgh_id}|{self.pgh_model}"

    @classmethod
    def parse(cls, token: str) -> Cursor:
        parts = token.split("|", 2)
        try:
            return cls(datetime.datetime.fromisoformat(parts[0]), int(parts[1]), parts[2])
        except (IndexError, ValueError) as exc:
            raise ConfigurationError(
                f"invalid history cursor {token!r}: expected '<iso timestamp>|<pgh_id>|<event table>' ({exc})"
            ) from None


@dataclasses.dataclass(frozen=True)
class Event:
    """One event, from any event table.

    ``pgh_model`` is the event table (``schema.name``), ``pgh_obj_model`` the tracked table.
    ``pgh_obj_id`` is the tracked row's primary key as a JSON value (``int`` for integer
    keys, ``str`` for uuid/text keys, a list for composite keys read from mirrored
    columns); None when the tracking has no object reference. ``pgh_context`` is the
    context metadata (from the shared context table, or the denormalized column).
    ``pgh_data`` is the mirrored row; ``pgh_diff`` is ``{column: [old, new]}`` against the
    previous event of the same object in the same event table, None for the first.
    """

    pgh_id: int
    pgh_created_at: datetime.datetime
    pgh_label: str
    pgh_model: str
    pgh_obj_model: str
    pgh_obj_id: object
    pgh_context_id: uuid.UUID | None
    pgh_context: dict[str, object] | None
    pgh_data: dict[str, object]
    pgh_diff: dict[str, list[object]] | None

    @property
    def cursor(self) -> Cursor:
        """Pass as ``after=`` to get the page that follows this event."""
        return Cursor(self.pgh_created_at, self.pgh_id, self.pgh_model)


@dataclasses.dataclass(frozen=True)
class Reference:
    """Select events whose mirrored ``column`` equals ``value``.

    ``Reference("user_id", 5)`` matches every tracking that mirrors a ``user_id`` column;
    ``Reference("user_id", 5, table="public.cash")`` only trackings of ``public.cash``.
    Several references are ORed: pass one per column that references the object.
    Mirrored columns are not indexed; add an index on the event table if this is hot.
    """

    column: str
    value: LiteralValue
    table: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.column, str) or not self.column:
            raise ConfigurationError(f"Reference.column must be a column name, got {self.column!r}")
        if self.value is None:
            raise ConfigurationError(f"Reference({self.column!r}): the value cannot be None")
        if isinstance(self.table, Table):
            object.__setattr__(self, "table", self.table.qualified_name)


@dataclasses.dataclass(frozen=True)
class RowVersion:
    """A row's values at a point in time, and the event they come from."""

    values: dict[str, object]
    pgh_id: int
    pgh_created_at: datetime.datetime
    pgh_label: str


# --------------------------------------------------------------------------- trackings


def _table_name(table: TableRef) -> str:
    if isinstance(table, Table):
        return table.qualified_name
    if not isinstance(table, str) or not table:
        raise ConfigurationError(f"a table must be a Table or 'schema.name', got {table!r}")
    return table


def trackings_of(trackings: Iterable[Tracking], table: TableRef) -> tuple[Tracking, ...]:
    """The trackings of *table*: a :class:`Table`, ``"schema.name"``, or a bare name when
    only one schema has a tracked table of that name. Raises :class:`HistoryError` when
    there are none (or a bare name is ambiguous)."""
    trackings = tuple(trackings)
    name = _table_name(table)
    found = tuple(t for t in trackings if t.table.qualified_name == name)
    if not found and not isinstance(table, Table) and "." not in name:
        found = tuple(t for t in trackings if t.table.name == name)
        schemas = sorted({t.table.schema for t in found})
        if len(schemas) > 1:
            raise HistoryError(
                f"table name {name!r} is ambiguous: tracked in schemas {', '.join(schemas)}; write schema.{name}"
            )
    if not found:
        known = sorted({t.table.qualified_name for t in trackings})
        raise HistoryError(f"no tracking of table {name}; tracked tables: {', '.join(known) or 'none'}")
    return found


def model_name(tracking: Tracking) -> str:
    """The event table's qualified name, as reported in ``pgh_model``."""
    return f"{tracking.event_schema_name}.{tracking.event_table_name}"


def tracking_for_model(trackings: Iterable[Tracking], model: str) -> Tracking:
    """The tracking whose event table is *model* (``schema.name``, as in ``pgh_model``)."""
    trackings = tuple(trackings)
    for tracking in trackings:
        if model_name(tracking) == model:
            return tracking
    known = ", ".join(sorted(model_name(t) for t in trackings)) or "none"
    raise HistoryError(f"no tracking writes event table {model}; event tables: {known}")


def _mirror_types(tracking: Tracking) -> dict[str, str]:
    return dict(event_columns(tracking))


def _identity(tracking: Tracking, alias: sql.Composable) -> list[sql.Composable] | None:
    """The expressions identifying the tracked object in an event row: ``pgh_obj_id``, or
    the mirrored primary-key columns for trackings without an object reference."""
    if tracking.obj_id_type is not None:
        return [alias + sql.SQL('."pgh_obj_id"')]
    keys = tracking.table.primary_key
    if keys and all(k in tracking.tracked_columns for k in keys):
        return [alias + sql.SQL(".") + sql.Identifier(k) for k in keys]
    return None


def _identity_types(tracking: Tracking) -> list[str]:
    types = _mirror_types(tracking)
    if tracking.obj_id_type is not None:
        return [types["pgh_obj_id"]]
    return [types[k] for k in tracking.table.primary_key]


def _require_identity(tracking: Tracking, alias: sql.Composable, what: str) -> list[sql.Composable]:
    identity = _identity(tracking, alias)
    if identity is None:
        raise HistoryError(
            f"{what}: the tracking of {tracking.table.qualified_name} (event table {model_name(tracking)}) has no "
            f"object reference (obj_ref=False) and does not mirror the primary key "
            f"{list(tracking.table.primary_key)}, so its events cannot be tied to a row"
        )
    return identity


def _pk_values(tracking: Tracking, pk: LiteralValue) -> tuple[LiteralValue, ...]:
    keys = tracking.table.primary_key if tracking.obj_id_type is None else ("pgh_obj_id",)
    if len(keys) > 1:
        if not isinstance(pk, (list, tuple)) or len(pk) != len(keys):
            raise ConfigurationError(
                f"{tracking.table.qualified_name}: primary key {list(tracking.table.primary_key)} needs "
                f"{len(keys)} values, got {pk!r}"
            )
        return tuple(pk)
    if isinstance(pk, (list, tuple)) and len(pk) == 1:
        return (pk[0],)
    if pk is None:
        raise ConfigurationError(f"{tracking.table.qualified_name}: a primary key value is required, got None")
    return (pk,)


def _match_object(tracking: Tracking, alias: sql.Composable, pk: LiteralValue, what: str) -> sql.Composable:
    """``alias.pgh_obj_id = CAST(<pk> AS <type>)``: the cast keeps the comparison
    index-backed whatever Python type the key came in as (``'5'`` from a command line)."""
    identity = _require_identity(tracking, alias, what)
    values = _pk_values(tracking, pk)
    return sql.join(
        " AND ",
        [
            sql.SQL("{} = CAST({} AS {})").format(expr, sql.Literal(value), sql.SQL(type_))
            for expr, value, type_ in zip(identity, values, _identity_types(tracking))
        ],
    )


def _obj_id_json(tracking: Tracking, alias: sql.Composable) -> sql.Composable:
    identity = _identity(tracking, alias)
    if identity is None:
        return sql.SQL("NULL::jsonb")
    if len(identity) == 1:
        return sql.SQL("to_jsonb({})").format(identity[0])
    return sql.SQL("jsonb_build_array({})").format(sql.join(", ", identity))


def _data(alias: sql.Composable) -> sql.Composable:
    """The mirrored row of an event as jsonb."""
    return sql.SQL("(to_jsonb({}.*) - {})").format(alias, _EVENT_KEYS)


def _diff(current: sql.Composable, previous: sql.Composable) -> sql.Composable:
    # A FULL JOIN keeps keys present on one side only (a column added to the event table
    # later is present on both sides as null, but the join costs nothing).
    return sql.SQL(
        "CASE WHEN {prev} IS NULL THEN NULL ELSE coalesce(("
        "SELECT jsonb_object_agg(coalesce(pgh_n.key, pgh_o.key), jsonb_build_array(pgh_o.value, pgh_n.value)) "
        "FROM jsonb_each({cur}) AS pgh_n FULL JOIN jsonb_each({prev}) AS pgh_o ON pgh_o.key = pgh_n.key "
        "WHERE pgh_n.value IS DISTINCT FROM pgh_o.value), '{{}}'::jsonb) END"
    ).format(cur=current, prev=previous)


def _column(alias: sql.Composable, name: str) -> sql.Composable:
    return alias + sql.SQL(".") + sql.Identifier(name)


# ----------------------------------------------------------------------------- filters


@dataclasses.dataclass(frozen=True)
class _Filters:
    obj: tuple[str, LiteralValue] | None = None
    references: tuple[Reference, ...] = ()
    labels: tuple[str, ...] | None = None
    context_id: uuid.UUID | None = None
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None
    after: Cursor | None = None
    limit: int | None = None
    newest_first: bool = False


def _as_uuid(value: uuid.UUID | str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ConfigurationError(f"a context id must be a UUID, got {value!r}") from None


def _check_time(value: object, what: str) -> None:
    if value is not None and not isinstance(value, datetime.datetime):
        raise ConfigurationError(f"{what} must be a datetime, got {value!r}")


def _make_filters(
    *,
    obj: tuple[TableRef, LiteralValue] | None,
    references: Reference | Sequence[Reference] | None,
    labels: str | Sequence[str] | None,
    context_id: uuid.UUID | str | None,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    after: Cursor | Event | None,
    limit: int | None,
    newest_first: bool,
) -> _Filters:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigurationError(f"limit must be a positive int, got {limit!r}")
    _check_time(since, "since")
    _check_time(until, "until")
    if isinstance(after, Event):
        after = after.cursor
    if after is not None and not isinstance(after, Cursor):
        raise ConfigurationError(f"after must be a Cursor or an Event, got {after!r}")
    refs: tuple[Reference, ...]
    if references is None:
        refs = ()
    elif isinstance(references, Reference):
        refs = (references,)
    else:
        refs = tuple(references)
        for ref in refs:
            if not isinstance(ref, Reference):
                raise ConfigurationError(f"references must be Reference objects, got {ref!r}")
    label_tuple = (labels,) if isinstance(labels, str) else (tuple(labels) if labels is not None else None)
    obj_pair: tuple[str, LiteralValue] | None = None
    if obj is not None:
        if not isinstance(obj, tuple) or len(obj) != 2:
            raise ConfigurationError(f"obj must be a (table, primary key) pair, got {obj!r}")
        obj_pair = (_table_name(obj[0]), obj[1])
    return _Filters(
        obj=obj_pair,
        references=refs,
        labels=label_tuple,
        context_id=_as_uuid(context_id) if context_id is not None else None,
        since=since,
        until=until,
        after=after,
        limit=limit,
        newest_first=newest_first,
    )


def _conditions(tracking: Tracking, filters: _Filters, refs: Sequence[Reference]) -> list[sql.Composable]:
    """Every filter except the object filter, over the event table alias."""
    out: list[sql.Composable] = []
    if refs:
        types = _mirror_types(tracking)
        out.append(
            sql.SQL("(")
            + sql.join(
                " OR ",
                [
                    sql.SQL("{} = CAST({} AS {})").format(
                        _column(_X, ref.column), sql.Literal(ref.value), sql.SQL(types[ref.column])
                    )
                    for ref in refs
                ],
            )
            + sql.SQL(")")
        )
    if filters.labels is not None:
        out.append(
            sql.SQL('{}."pgh_label" = ANY({}::text[])').format(_X, sql.Literal(list(filters.labels)))
            if filters.labels
            else sql.SQL("FALSE")
        )
    if filters.context_id is not None:
        out.append(sql.SQL('{}."pgh_context_id" = {}').format(_X, sql.Literal(filters.context_id)))
    if filters.since is not None:
        out.append(sql.SQL('{}."pgh_created_at" >= {}').format(_X, sql.Literal(filters.since)))
    if filters.until is not None:
        out.append(sql.SQL('{}."pgh_created_at" < {}').format(_X, sql.Literal(filters.until)))
    if filters.after is not None:
        cursor = filters.after
        out.append(
            sql.SQL('({}."pgh_created_at", {}."pgh_id", {}) {} ({}, {}, {})').format(
                _X,
                _X,
                sql.Literal(model_name(tracking)),
                sql.SQL("<" if filters.newest_first else ">"),
                sql.Literal(cursor.pgh_created_at),
                sql.Literal(cursor.pgh_id),
                sql.Literal(cursor.pgh_model),
            )
        )
    return out


def _order(alias: sql.Composable, newest_first: bool, *, with_model: bool = False) -> sql.Composable:
    direction = sql.SQL(" DESC" if newest_first else "")
    keys = ['"pgh_created_at"', '"pgh_id"'] + (['"pgh_model"'] if with_model else [])
    return sql.SQL("ORDER BY ") + sql.join(", ", [alias + sql.SQL("." + k) + direction for k in keys])


def _branch(tracking: Tracking, filters: _Filters) -> sql.Composable | None:
    """The SELECT for one event table, or None when the filters exclude it."""
    if filters.obj is not None and (
        filters.obj[0] != tracking.table.qualified_name or _identity(tracking, _X) is None
    ):
        return None  # another table, or events that cannot be tied to a row
    if filters.context_id is not None and tracking.context == NO_CONTEXT:
        return None
    refs = [
        r
        for r in filters.references
        if (r.table is None or r.table == tracking.table.qualified_name) and r.column in tracking.tracked_columns
    ]
    if filters.references and not refs:
        return None
    conditions = _conditions(tracking, filters, refs)
    event_table = event_table_ident(tracking)
    inner: list[sql.Composable] = [
        sql.SQL('{}."pgh_id"').format(_X),
        sql.SQL('{}."pgh_created_at"').format(_X),
        sql.SQL('{}."pgh_label"').format(_X),
        sql.SQL('{} AS "pgh_obj_id"').format(_obj_id_json(tracking, _X)),
        sql.SQL('{}."pgh_context_id"').format(_X) if tracking.context != NO_CONTEXT else sql.SQL('NULL::uuid AS "pgh_context_id"'),
        sql.SQL('{}."pgh_context"').format(_X) if tracking.context == DENORMALIZED else sql.SQL('NULL::jsonb AS "pgh_context"'),
        sql.SQL('{} AS "pgh_data"').format(_data(_X)),
    ]
    identity = _identity(tracking, _X)
    limit = sql.SQL(" LIMIT {}").format(sql.Literal(filters.limit)) if filters.limit is not None else sql.SQL("")
    joins: list[sql.Composable] = []
    outer_where: sql.Composable = sql.SQL("")
    outer_order: sql.Composable = sql.SQL("")
    if filters.obj is not None:
        # One object: read its events through the index, take the previous one with
        # lag(), and apply the other filters after the window so lag() still sees them.
        where = _match_object(tracking, _X, filters.obj[1], "object history")
        inner.append(
            sql.SQL('lag({}) OVER (PARTITION BY {} ORDER BY {}."pgh_id") AS "pgh_prev"').format(
                _data(_X), sql.join(", ", identity or []), _X
            )
        )
        if conditions:
            inner.append(sql.SQL('({}) AS "pgh_keep"').format(sql.join(" AND ", conditions)))
            outer_where = sql.SQL(' WHERE {}."pgh_keep"').format(_E)
        if filters.limit is not None:
            outer_order = sql.SQL(" ") + _order(_E, filters.newest_first) + limit
        source = sql.SQL("SELECT {} FROM {} AS {} WHERE {}").format(sql.join(", ", inner), event_table, _X, where)
        previous: sql.Composable = sql.SQL('{}."pgh_prev"').format(_E)
    else:
        # Filter (and limit) first, then look up each remaining row's previous event.
        keys = [sql.SQL('{} AS {}').format(expr, sql.Identifier(f"pgh_key_{i}")) for i, expr in enumerate(identity or [])]
        where = sql.SQL(" WHERE {}").format(sql.join(" AND ", conditions)) if conditions else sql.SQL("")
        rows: sql.Composable = event_table
        if filters.limit is not None:
            # Sort and limit the raw rows first, then build pgh_data for the page only:
            # Postgres does not postpone to_jsonb() past a top-N sort, so a newest-first page
            # of a large table would otherwise serialise every row.
            rows = sql.SQL("(SELECT {}.* FROM {} AS {}{} {}{})").format(
                _X, event_table, _X, where, _order(_X, filters.newest_first), limit
            )
            where = sql.SQL("")
        source = sql.SQL("SELECT {} FROM {} AS {}{}").format(sql.join(", ", [*inner, *keys]), rows, _X, where)
        if identity is not None:
            match = sql.join(
                " AND ",
                [
                    sql.SQL("{} = {}.{}").format(expr, _E, sql.Identifier(f"pgh_key_{i}"))
                    for i, expr in enumerate(_identity(tracking, _Y) or [])
                ],
            )
            joins.append(
                sql.SQL(
                    ' LEFT JOIN LATERAL (SELECT {} AS "pgh_data" FROM {} AS {} WHERE {} AND {}."pgh_id" < {}."pgh_id" '
                    'ORDER BY {}."pgh_id" DESC LIMIT 1) AS {} ON TRUE'
                ).format(_data(_Y), event_table, _Y, match, _Y, _E, _Y, _P)
            )
            previous = sql.SQL('{}."pgh_data"').format(_P)
        else:
            previous = sql.SQL("NULL::jsonb")
    if tracking.context == FK:
        # A scalar subquery: one primary-key lookup per returned event, whatever the size
        # of the shared context table (a join could be planned as a scan of it).
        metadata: sql.Composable = sql.SQL('(SELECT {}."metadata" FROM {} AS {} WHERE {}."id" = {}."pgh_context_id")').format(
            _C, sql.Identifier(tracking.context_schema, CONTEXT_TABLE), _C, _C, _E
        )
    else:
        metadata = sql.SQL('{}."pgh_context"').format(_E)
    outer = [
        sql.SQL('{}."pgh_id"').format(_E),
        sql.SQL('{}."pgh_created_at"').format(_E),
        sql.SQL('{}."pgh_label"').format(_E),
        sql.SQL('{}::text AS "pgh_model"').format(sql.Literal(model_name(tracking))),
        sql.SQL('{}::text AS "pgh_obj_model"').format(sql.Literal(tracking.table.qualified_name)),
        sql.SQL('{}."pgh_obj_id"').format(_E),
        sql.SQL('{}."pgh_context_id"').format(_E),
        sql.SQL('{} AS "pgh_context"').format(metadata),
        sql.SQL('{}."pgh_data"').format(_E),
        sql.SQL('{} AS "pgh_diff"').format(_diff(sql.SQL('{}."pgh_data"').format(_E), previous)),
    ]
    return sql.SQL("SELECT {} FROM ({}) AS {}{}{}{}").format(
        sql.join(", ", outer), source, _E, sql.Composed(joins), outer_where, outer_order
    )


def _union(branches: Sequence[sql.Composable], filters: _Filters) -> sql.Composable:
    # JSON leaves as text and is decoded here, the same way whatever the driver.
    columns = sql.join(
        ", ",
        [
            sql.SQL("{}.{}::text AS {}").format(_H, sql.Identifier(name), sql.Identifier(name))
            if name in _JSON_FIELDS
            else _H + sql.SQL(".") + sql.Identifier(name)
            for name in EVENT_FIELDS
        ],
    )
    body = sql.join(" UNION ALL ", [sql.SQL("(") + b + sql.SQL(")") for b in branches])
    limit = sql.SQL(" LIMIT {}").format(sql.Literal(filters.limit)) if filters.limit is not None else sql.SQL("")
    return sql.SQL("SELECT {} FROM ({}) AS {} ").format(columns, body, _H) + _order(
        _H, filters.newest_first, with_model=True
    ) + limit


def _events_query(trackings: Sequence[Tracking], filters: _Filters) -> sql.Composable:
    trackings = tuple(trackings)
    if not trackings:
        raise HistoryError("no trackings given: pass the trackings whose event tables to read")
    # Resolve table names ("cash" -> "public.cash") against the trackings.
    if filters.obj is not None:
        of_table = trackings_of(trackings, filters.obj[0])
        if all(_identity(t, _X) is None for t in of_table):
            _require_identity(of_table[0], _X, "object history")  # raises, saying why
        filters = dataclasses.replace(filters, obj=(of_table[0].table.qualified_name, filters.obj[1]))
    if any(ref.table is not None for ref in filters.references):
        filters = dataclasses.replace(
            filters,
            references=tuple(
                dataclasses.replace(ref, table=trackings_of(trackings, ref.table)[0].table.qualified_name)
                if ref.table is not None
                else ref
                for ref in filters.references
            ),
        )
    for ref in filters.references:
        if not any(
            (ref.table is None or ref.table == t.table.qualified_name) and ref.column in t.tracked_columns
            for t in trackings
        ):
            where = f"tracking of {ref.table}" if ref.table else "tracking"
            raise HistoryError(f"{ref!r}: no {where} among the given ones mirrors a column {ref.column!r}")
    branches = [b for b in (_branch(t, filters) for t in trackings) if b is not None]
    if not branches:
        raise HistoryError(
            "no event table can match these filters (a context id was given, but every tracking uses NO_CONTEXT)"
        )
    return _union(branches, filters)


# ------------------------------------------------------------------------------ events


def events_sql(
    trackings: Sequence[Tracking],
    *,
    obj: tuple[TableRef, LiteralValue] | None = None,
    references: Reference | Sequence[Reference] | None = None,
    labels: str | Sequence[str] | None = None,
    context_id: uuid.UUID | str | None = None,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    after: Cursor | Event | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> sql.Composable:
    """The SQL of :func:`events`."""
    filters = _make_filters(
        obj=obj,
        references=references,
        labels=labels,
        context_id=context_id,
        since=since,
        until=until,
        after=after,
        limit=limit,
        newest_first=newest_first,
    )
    return _events_query(trackings, filters)


def events(
    conn: db.Connection,
    trackings: Sequence[Tracking],
    *,
    obj: tuple[TableRef, LiteralValue] | None = None,
    references: Reference | Sequence[Reference] | None = None,
    labels: str | Sequence[str] | None = None,
    context_id: uuid.UUID | str | None = None,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    after: Cursor | Event | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[Event]:
    """Events across the event tables of *trackings*, with data and diffs.

    Filters are ANDed: ``obj=(table, pk)`` (events of one tracked row), ``references``
    (events whose mirrored column holds a value, see :class:`Reference`), ``labels``,
    ``context_id``, ``since`` (inclusive) and ``until`` (exclusive). The set of event
    tables is the *trackings* passed. ``after`` (a :class:`Cursor` or the last
    :class:`Event` of the previous page) and ``limit`` page through the results.
    """
    query = events_sql(
        trackings,
        obj=obj,
        references=references,
        labels=labels,
        context_id=context_id,
        since=since,
        until=until,
        after=after,
        limit=limit,
        newest_first=newest_first,
    )
    return [_event(row) for row in db.fetch_all(conn, query)]


def object_history_sql(
    trackings: Sequence[Tracking],
    table: TableRef,
    pk: LiteralValue,
    *,
    newest_first: bool = False,
    limit: int | None = None,
    after: Cursor | Event | None = None,
) -> sql.Composable:
    """The SQL of :func:`object_history`."""
    return events_sql(
        trackings_of(trackings, table), obj=(table, pk), newest_first=newest_first, limit=limit, after=after
    )


def object_history(
    conn: db.Connection,
    trackings: Sequence[Tracking],
    table: TableRef,
    pk: LiteralValue,
    *,
    newest_first: bool = False,
    limit: int | None = None,
    after: Cursor | Event | None = None,
) -> list[Event]:
    """Every event of the row of *table* with primary key *pk*, across every tracking of
    the table among *trackings*, oldest first (or newest first). Index-backed."""
    return [
        _event(row)
        for row in db.fetch_all(
            conn, object_history_sql(trackings, table, pk, newest_first=newest_first, limit=limit, after=after)
        )
    ]


def _json(value: object, exact: bool = True) -> object:
    """Decode JSON sent as text (queries cast jsonb to text, so no driver decodes it).

    ``exact``: numbers with a fraction or an exponent become :class:`~decimal.Decimal`,
    digit for digit as ``jsonb`` holds them (a ``numeric(30,10)`` value as a float lost
    its last digits, and an old and a new value in a diff could print alike).
    """
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8")
    return json.loads(str(value), parse_float=decimal.Decimal if exact else float)


def _event(row: Sequence[object]) -> Event:
    values = dict(zip(EVENT_FIELDS, row))
    context_id = values["pgh_context_id"]
    if context_id is not None and not isinstance(context_id, uuid.UUID):
        context_id = uuid.UUID(str(context_id))
    return Event(
        pgh_id=int(values["pgh_id"]),  # type: ignore[call-overload]
        pgh_created_at=values["pgh_created_at"],  # type: ignore[arg-type]
        pgh_label=str(values["pgh_label"]),
        pgh_model=str(values["pgh_model"]),
        pgh_obj_model=str(values["pgh_obj_model"]),
        pgh_obj_id=_json(values["pgh_obj_id"]),
        pgh_context_id=context_id,
        pgh_context=_json(values["pgh_context"], exact=False),  # type: ignore[arg-type]  # metadata Python wrote
        pgh_data=_json(values["pgh_data"]),  # type: ignore[arg-type]
        pgh_diff=_json(values["pgh_diff"]),  # type: ignore[arg-type]
    )


# ------------------------------------------------------------------------------- as of


def _records_every_update(tracking: Tracking, tracker: RowEvent) -> bool:
    """Whether an update tracker fires on every update that changes the mirrored row:
    no condition, or the default ``AnyChange()`` over every tracked column."""
    condition = tracker.condition
    if condition is None:
        return True
    if type(condition) is not c.AnyChange:
        return False
    context = c.CompileContext(
        table=tracking.table, tracked=tracking.tracked_columns, old=None, new=None, where="as-of check"
    )
    return set(c.change_columns(condition, context)) >= set(tracking.tracked_columns)


def full_row_problems(tracking: Tracking) -> list[str]:
    """Why events of *tracking* do not hold whole rows (empty when they do)."""
    missing = [name for name in tracking.table.column_names if name not in tracking.tracked_columns]
    if missing:
        return [f"columns not tracked: {', '.join(missing)}"]
    return []


@dataclasses.dataclass(frozen=True)
class StateSource:
    """A tracking whose events replay a table's rows: it mirrors every column and records
    every insert, update and delete. ``state_labels`` are the labels whose event holds the
    row as it became (NEW rows and manual events); ``delete_labels`` mark rows gone.
    Update trackers storing the OLD row are in neither."""

    tracking: Tracking
    state_labels: tuple[str, ...]
    delete_labels: tuple[str, ...]
    insert_labels: tuple[str, ...]
    old_update_labels: tuple[str, ...]


def label_kinds(tracking: Tracking) -> StateSource:
    state, deletes, inserts, old_updates = [], [], [], []
    for tracker in tracking.trackers:
        if isinstance(tracker, ManualEvent):
            state.append(tracker.label)
        elif isinstance(tracker, RowEvent):
            if tracker.operation == Delete:
                deletes.append(tracker.label)
            elif tracker.row == New:
                state.append(tracker.label)
                if tracker.operation == Insert:
                    inserts.append(tracker.label)
            elif tracker.operation == Update and tracker.row == Old:
                old_updates.append(tracker.label)
    return StateSource(tracking, tuple(state), tuple(deletes), tuple(inserts), tuple(old_updates))


def replay_problems(tracking: Tracking, *, deletes: bool = True) -> list[str]:
    """Why *tracking* cannot replay its table's rows (empty when it can): it must mirror
    every column, tie events to rows, and record every insert, update and (unless
    ``deletes=False``) delete."""
    problems = full_row_problems(tracking)
    if _identity(tracking, _X) is None:
        problems.append("no object reference and the primary key is not mirrored")
    row_events = [t for t in tracking.trackers if isinstance(t, RowEvent)]
    operations = [
        (Insert, "inserts", "InsertEvent()"),
        (Update, "updates", "UpdateEvent()"),
        (Delete, "deletes", "DeleteEvent()"),
    ]
    for operation, noun, hint in operations if deletes else operations[:2]:
        candidates = [t for t in row_events if t.operation == operation and (operation == Delete or t.row == New)]
        if not candidates:
            problems.append(f"{noun} not tracked (add {hint})")
            continue
        if operation == Update:
            complete = [t for t in candidates if _records_every_update(tracking, t)]
        else:
            complete = [t for t in candidates if t.condition is None]
        if not complete:
            conditions = "; ".join(f"{t.label!r} has condition {t.condition!r}" for t in candidates)
            allowed = (
                "only condition=None or the default AnyChange() over every tracked column records every update"
                if operation == Update
                else "only condition=None records every one"
            )
            problems.append(f"{noun} are tracked conditionally ({conditions}): {allowed}")
    return problems


def state_source(trackings: Iterable[Tracking], table: TableRef) -> StateSource:
    """The tracking of *table* that can replay its rows (see :class:`StateSource`).

    Raises :class:`HistoryError` explaining, per tracking, what is missing.
    """
    candidates = trackings_of(trackings, table)
    reasons = []
    for tracking in candidates:
        problems = replay_problems(tracking)
        if not problems:
            return label_kinds(tracking)
        reasons.append(f"event table {model_name(tracking)}: {'; '.join(problems)}")
    raise HistoryError(
        f"cannot tell the state of {candidates[0].table.qualified_name} at a point in time: no tracking mirrors every column and "
        f"records every insert, update and delete. " + " | ".join(reasons)
    )


def _state_columns(tracking: Tracking, alias: sql.Composable) -> list[sql.Composable]:
    return [_column(alias, name) for name in tracking.table.column_names]


def object_as_of_sql(
    trackings: Sequence[Tracking], table: TableRef, pk: LiteralValue, at: datetime.datetime
) -> sql.Composable:
    """The SQL of :func:`object_as_of`."""
    _check_time(at, "at")
    source = state_source(trackings, table)
    tracking = source.tracking
    labels = [*source.state_labels, *source.delete_labels]
    return sql.SQL(
        'SELECT {x}."pgh_id", {x}."pgh_created_at", {x}."pgh_label", {cols} FROM {table} AS {x} '
        'WHERE {match} AND {x}."pgh_created_at" <= {at} AND {x}."pgh_label" = ANY({labels}::text[]) '
        'ORDER BY {x}."pgh_id" DESC LIMIT 1'
    ).format(
        x=_X,
        cols=sql.join(", ", _state_columns(tracking, _X)),
        table=event_table_ident(tracking),
        match=_match_object(tracking, _X, pk, "as-of"),
        at=sql.Literal(at),
        labels=sql.Literal(labels),
    )


def object_as_of(
    conn: db.Connection, trackings: Sequence[Tracking], table: TableRef, pk: LiteralValue, at: datetime.datetime
) -> RowVersion | None:
    """The row of *table* with primary key *pk* as it was at *at*, or None if it did not
    exist then (or had not been recorded yet). A naive *at* is in the session time zone."""
    source = state_source(trackings, table)
    rows = db.fetch_all(conn, object_as_of_sql(trackings, table, pk, at))
    if not rows or rows[0][2] in source.delete_labels:
        return None
    return _version(source.tracking, rows[0])


def table_as_of_sql(trackings: Sequence[Tracking], table: TableRef, at: datetime.datetime) -> sql.Composable:
    """The SQL of :func:`table_as_of`."""
    _check_time(at, "at")
    source = state_source(trackings, table)
    tracking = source.tracking
    identity = _require_identity(tracking, _X, "as-of")
    labels = [*source.state_labels, *source.delete_labels]
    pk_order = sql.join(", ", [_column(_S, k) for k in tracking.table.primary_key] or [sql.SQL('{}."pgh_id"').format(_S)])
    return sql.SQL(
        'SELECT {s}."pgh_id", {s}."pgh_created_at", {s}."pgh_label", {scols} FROM ('
        'SELECT DISTINCT ON ({identity}) {x}."pgh_id", {x}."pgh_created_at", {x}."pgh_label", {xcols} '
        'FROM {table} AS {x} WHERE {x}."pgh_created_at" <= {at} AND {x}."pgh_label" = ANY({labels}::text[]) '
        'ORDER BY {identity}, {x}."pgh_id" DESC) AS {s} '
        'WHERE NOT ({s}."pgh_label" = ANY({deletes}::text[])) ORDER BY {pk}'
    ).format(
        s=_S,
        x=_X,
        scols=sql.join(", ", _state_columns(tracking, _S)),
        xcols=sql.join(", ", _state_columns(tracking, _X)),
        identity=sql.join(", ", identity),
        table=event_table_ident(tracking),
        at=sql.Literal(at),
        labels=sql.Literal(labels),
        deletes=sql.Literal(list(source.delete_labels)),
        pk=pk_order,
    )


def table_as_of(
    conn: db.Connection, trackings: Sequence[Tracking], table: TableRef, at: datetime.datetime
) -> list[RowVersion]:
    """Every row of *table* that existed at *at*, with its values then, ordered by primary key."""
    source = state_source(trackings, table)
    return [_version(source.tracking, row) for row in db.fetch_all(conn, table_as_of_sql(trackings, table, at))]


def _version(tracking: Tracking, row: Sequence[object]) -> RowVersion:
    values: Mapping[str, object] = dict(zip(tracking.table.column_names, row[3:]))
    return RowVersion(
        values=dict(values),
        pgh_id=int(row[0]),  # type: ignore[call-overload]
        pgh_created_at=row[1],  # type: ignore[arg-type]
        pgh_label=str(row[2]),
    )
