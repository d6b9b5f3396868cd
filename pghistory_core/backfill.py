"""Backfill: record the rows a table already holds when tracking starts.

Layer: runtime. Triggers record changes from the moment they are installed; the rows that
existed before have no event, so an object's history starts at its first change. A backfill
writes one event per existing row under a label of the tracking (typically a
``ManualEvent("backfill")``), linked to the active context like :func:`create_event`.

The rows are read in primary-key order in batches (keyset: each batch starts after the last
key of the one before, so every batch is an index range scan, however far the backfill has
gone), each batch in its own transaction (a savepoint inside the caller's transaction).
With ``skip_existing`` (the default) a row that already has an event in the event table is
skipped, so a backfill that stopped half-way can simply be run again.

Concurrent writers. A batch finds where its rows end (key order, no lock), locks the rows
of that key range (``FOR SHARE``, through the primary key's index), waiting for
transactions changing them, then, in a further statement (a new snapshot under READ
COMMITTED), writes their events with ``INSERT ... SELECT``. So an event never holds values
older than an update or delete that committed before it: without the lock, a batch passing
a row while an uncommitted update or delete held it recorded the old row *after* that
change's event, and the row read as unchanged, or as existing after its delete. A row
changed while its batch waited has that change's event and is skipped; a row deleted
meanwhile is not recorded; a row inserted while the backfill runs is recorded by its
trigger only (with ``skip_existing=False``, an insert committed before its batch passes
gets both events). Writers of the batch's rows wait for the batch to commit; one that
locks rows of the batch in descending key order can deadlock with it, and Postgres then
fails one of the two (usually the batch: run the backfill again, it resumes). The lock
needs the UPDATE privilege on the table, as ``SELECT ... FOR SHARE`` always does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from pghistory_core import db, sql
from pghistory_core.context import current
from pghistory_core.errors import ConfigurationError
from pghistory_core.render import ATTACH_CONTEXT_FUNCTION, event_insert_head, event_table_ident, event_values, mirror_type
from pghistory_core.spec import DENORMALIZED, FK, Tracking
from pghistory_core.sql import JSON

__all__ = ["BackfillResult", "backfill", "backfill_lock_sql", "backfill_range_sql", "backfill_write_sql"]

#: Rows per batch by default: a few MB of events per transaction.
BATCH_SIZE = 10_000

_ROW = sql.Identifier("pgh_row")
_BATCH = sql.Identifier("pgh_batch")
_WRITTEN = sql.Identifier("pgh_written")
_CONTEXT = sql.Identifier("pgh_ctx")
_LOCKED = sql.Identifier("pgh_locked")


@dataclasses.dataclass(frozen=True)
class BackfillResult:
    """What a backfill did: rows read, events written, rows skipped (they had an event)."""

    rows: int
    events: int

    @property
    def skipped(self) -> int:
        return self.rows - self.events


def _check(tracking: Tracking, label: str | None, batch_size: int, skip_existing: bool) -> None:
    if label is not None:
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


def _key_types(tracking: Tracking) -> list[str]:
    # The column's type without typmod, and serial as its integer type (a cast target).
    return [mirror_type(tracking.table.column(k).type) for k in tracking.table.primary_key]


def _key_bound(tracking: Tracking, values: tuple[str, ...], what: str) -> sql.Composable:
    """``(k1, k2) <op> (CAST(v1 AS t1), ...)``'s right side, from a key sent as text."""
    keys = tracking.table.primary_key
    if len(values) != len(keys):
        raise ConfigurationError(f"{tracking.table.qualified_name}: {what} needs {len(keys)} values, got {values!r}")
    return sql.join(", ", [sql.SQL("CAST({} AS {})").format(sql.Literal(v), sql.SQL(t)) for v, t in zip(values, _key_types(tracking))])


def backfill_range_sql(tracking: Tracking, after: tuple[str, ...] | None, batch_size: int) -> sql.Composable:
    """A batch's first statement: where the next *batch_size* rows after the key *after*
    (None: from the start) end, in key order (an index range scan, no lock).

    Returns one row ``(rows in the batch, last key as a text array)``. Keys travel as text
    (cast back to each key column's type), so any key type Postgres can order works,
    whatever the driver makes of its values.
    """
    _check(tracking, None, batch_size, False)
    keys = [sql.Identifier(k) for k in tracking.table.primary_key]
    key_list = sql.join(", ", keys)
    where: sql.Composable = sql.SQL("")
    if after is not None:
        where = sql.SQL(" WHERE ({}) > ({})").format(key_list, _key_bound(tracking, after, "a key after which to continue"))
    # Qualified: an unqualified name in ORDER BY would mean the text output column.
    descending = sql.join(", ", [_BATCH + sql.SQL(".") + k + sql.SQL(" DESC") for k in keys])
    last = sql.join(", ", [_BATCH + sql.SQL(".") + k + sql.SQL("::text") for k in keys])
    return sql.SQL(
        "WITH {batch} AS MATERIALIZED (SELECT {keys} FROM {table}{where} ORDER BY {keys} LIMIT {size}) "
        "SELECT (SELECT count(*) FROM {batch}), (SELECT ARRAY[{last}] FROM {batch} ORDER BY {descending} LIMIT 1)"
    ).format(
        batch=_BATCH,
        keys=key_list,
        table=sql.Identifier(tracking.table.schema, tracking.table.name),
        where=where,
        size=sql.Literal(batch_size),
        last=last,
        descending=descending,
    )


def backfill_lock_sql(tracking: Tracking, after: tuple[str, ...] | None, last: tuple[str, ...]) -> sql.Composable:
    """A batch's second statement: lock (``FOR SHARE``) the rows whose key is after *after*
    (None: from the start) and up to *last*, through the primary key's index.

    Returns one row: per key column, the locked rows' values as a text array, in key
    order. A row a concurrent transaction is changing is waited for; a row it deleted, or
    whose key it moved out of the range, is not locked (its own events record it).
    """
    keys = [sql.Identifier(k) for k in tracking.table.primary_key]
    key_list = sql.join(", ", keys)
    where = sql.SQL("({}) <= ({})").format(key_list, _key_bound(tracking, last, "the last key of a batch"))
    if after is not None:
        where = sql.SQL("({}) > ({}) AND ").format(key_list, _key_bound(tracking, after, "a key after which to continue")) + where
    in_order = sql.join(", ", [_LOCKED + sql.SQL(".") + k for k in keys])
    return sql.SQL("WITH {locked} AS MATERIALIZED (SELECT {keys} FROM {table} WHERE {where} FOR SHARE) SELECT {arrays}").format(
        locked=_LOCKED,
        keys=key_list,
        table=sql.Identifier(tracking.table.schema, tracking.table.name),
        where=where,
        arrays=sql.join(
            ", ",
            [sql.SQL("(SELECT array_agg({}.{}::text ORDER BY {}) FROM {})").format(_LOCKED, k, in_order, _LOCKED) for k in keys],
        ),
    )


def backfill_write_sql(
    tracking: Tracking, label: str, locked: Sequence[Sequence[str]], skip_existing: bool = True
) -> sql.Composable:
    """A batch's second statement: one event labelled *label* for each row whose key is in
    *locked* (one text array per key column, as :func:`backfill_lock_sql` returns them),
    skipping rows that already have an event when *skip_existing*. Returns one row: the
    number of events written.

    A statement of its own, so its snapshot is taken after the rows were locked: it reads
    the values concurrent transactions committed meanwhile, and sees their events.
    """
    _check(tracking, label, 1, skip_existing)
    keys = [sql.Identifier(k) for k in tracking.table.primary_key]
    table = sql.Identifier(tracking.table.schema, tracking.table.name)
    events = event_table_ident(tracking)
    active = current()
    if len(locked) != len(keys):
        raise ConfigurationError(f"{tracking.table.qualified_name}: locked keys need {len(keys)} arrays, got {len(locked)}")

    unnested = sql.Identifier("pgh_u")
    columns = [sql.Identifier(f"pgh_k{i}") for i in range(len(keys))]
    casts = sql.join(
        ", ", [sql.SQL("CAST({}.{} AS {})").format(unnested, c, sql.SQL(t)) for c, t in zip(columns, _key_types(tracking))]
    )
    arrays = sql.join(", ", [sql.SQL("{}::text[]").format(sql.Literal([str(v) for v in values])) for values in locked])
    row_keys = sql.join(", ", [_ROW + sql.SQL(".") + k for k in keys])
    ctes: list[sql.Composable] = [
        sql.SQL("{} AS MATERIALIZED (SELECT * FROM {} AS {} WHERE ({}) IN (SELECT {} FROM unnest({}) AS {}({})))").format(
            _BATCH, table, _ROW, row_keys, casts, arrays, unnested, sql.join(", ", columns)
        )
    ]

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
    ctes.append(
        sql.SQL("{} AS ({} SELECT {} FROM {} AS {}{}{} ORDER BY {} RETURNING 1)").format(
            _WRITTEN, event_insert_head(tracking), sql.join(", ", values), _BATCH, _ROW, joins, skip, row_keys
        )
    )
    return sql.SQL("WITH {} SELECT count(*) FROM {}").format(sql.join(", ", ctes), _WRITTEN)


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
            found, last = db.fetch_all(conn, backfill_range_sql(tracking, after, batch_size))[0]
            written = held = 0
            if isinstance(last, list):  # NULL when no row is left
                locked = db.fetch_all(conn, backfill_lock_sql(tracking, after, tuple(str(v) for v in last)))[0]
                if isinstance(locked[0], list):  # NULL when every row of the range is gone
                    keys = [[str(v) for v in values] for values in locked if isinstance(values, list)]
                    held = len(keys[0])
                    written = int(str(db.fetch_all(conn, backfill_write_sql(tracking, label, keys, skip_existing))[0][0]))
        read = int(str(found))
        if not read or not isinstance(last, list):
            break
        # Rows read: those locked. A row deleted, or whose key moved, while the batch waited
        # for its writer is not read here (its own events record it; a moved row is read
        # again under its new key if that comes later in key order).
        rows += held
        events += written
        after = tuple(str(value) for value in last)
        if progress is not None:
            progress(rows, max(total, rows))
        if read < batch_size:
            break
    return BackfillResult(rows=rows, events=events)
