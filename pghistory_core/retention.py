"""Retention: delete the events older than a point in time.

Layer: runtime. Event tables only grow; a retention policy keeps the last N days. Deletes go
in batches in ``pgh_id`` order (keyset: each batch continues after the last id of the one
before, through the primary key, so the whole run reads each event table once however
large it is, and no ``pgh_created_at`` index is needed), each batch in its own transaction
(a savepoint inside the caller's transaction), so locks and WAL stay small and a stopped run
keeps what it did.

Append-only event tables refuse: their protection exists so that history cannot be deleted,
and retention does not bypass it (turn ``append_only`` off first, deliberately).

A partitioned event table (``Tracking(partition=...)``) first loses the partitions that lie
entirely before the cut-off, dropped or detached whole (:mod:`pghistory_core.partitions`):
no row-by-row delete, vacuum or WAL for them. Only the events left before the cut-off in the
partition holding it (and in the DEFAULT partition) are deleted in batches.

Context rows (``pghistory_context``) are shared by every event table, so deleting events
never deletes them. :func:`delete_unreferenced_contexts` does, as a separate step: the rows
last written before the cut-off that no event references any more. Their metadata (who, which
request) is often the personal data a retention policy exists to remove. "Referenced" is read
from the catalog, not from the specs, so event tables the caller did not name (another
application, another ORM) keep their contexts: every table with a ``pgh_context_id`` column
and every foreign key to the context table counts. Each batch first locks its candidate rows
(``FOR UPDATE SKIP LOCKED``: rows a writer holds are skipped), then deletes them only if a
fresh snapshot still finds no reference. A writer attaching events to a context locks that
row until it commits (``FOR KEY SHARE`` when the row already holds its metadata, so writers
of one context never wait for each other; the upsert's lock when it merges metadata), so it
either holds the row (skipped here) or waits for this batch and then writes the row anew:
an event never ends up pointing at a deleted context. The re-check needs READ COMMITTED;
other isolation levels are refused.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Sequence

from pghistory_core import db, sql
from pghistory_core.errors import ConfigurationError
from pghistory_core.history import model_name
from pghistory_core.partitions import drop_partitions_before
from pghistory_core.render import CONTEXT_TABLE, event_table_ident
from pghistory_core.spec import DEFAULT_CONTEXT_SCHEMA, Tracking

__all__ = [
    "count_events_before",
    "count_unreferenced_contexts",
    "delete_batch_sql",
    "delete_events",
    "delete_unreferenced_contexts",
    "parse_before",
]

#: Events per batch by default.
BATCH_SIZE = 10_000

_BEFORE_EXAMPLE = "e.g. 2024-05-01T00:00:00+00:00"


def parse_before(text: str) -> datetime.datetime:
    """The cut-off a user typed (``--before``), as an aware datetime.

    ISO 8601 with a time zone offset only: a naive time would be read in whichever zone the
    client or server happens to use, and deleting history needs an exact instant. Raises
    :class:`ConfigurationError` naming the problem (commands turn it into their own error).
    """
    try:
        before = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigurationError(
            f"--before {text!r} is not a timestamp: use ISO 8601 with an offset, {_BEFORE_EXAMPLE}"
        ) from None
    if before.tzinfo is None:
        raise ConfigurationError(
            f"--before {text!r} has no time zone offset: deleting history needs an exact time, {_BEFORE_EXAMPLE}"
        )
    return before


def _checked(trackings: Tracking | Sequence[Tracking], before: datetime.datetime, batch_size: int) -> list[Tracking]:
    chosen = [trackings] if isinstance(trackings, Tracking) else list(trackings)
    if not chosen:
        raise ConfigurationError("no tracking given: name the event tables to delete events from")
    if not isinstance(before, datetime.datetime) or before.tzinfo is None:
        raise ConfigurationError(
            f"before must be a timezone-aware datetime (events are stored as timestamptz), got {before!r}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigurationError(f"batch_size must be a positive integer, got {batch_size!r}")
    protected = [model_name(t) for t in chosen if t.append_only]
    if protected:
        raise ConfigurationError(
            f"event table(s) {', '.join(protected)} are append-only: their events cannot be deleted "
            "(turn append_only off and reinstall first, if deleting history is intended)"
        )
    return chosen


def _unique(trackings: list[Tracking]) -> list[Tracking]:
    """One tracking per event table (two trackings may share one in theory; delete once)."""
    seen: dict[str, Tracking] = {}
    for tracking in trackings:
        seen.setdefault(model_name(tracking), tracking)
    return list(seen.values())


def count_events_before(
    conn: db.Connection, trackings: Tracking | Sequence[Tracking], before: datetime.datetime
) -> dict[str, int]:
    """How many events each event table holds from before *before* (what
    :func:`delete_events` would delete), by qualified event table name."""
    chosen = _unique(_checked(trackings, before, BATCH_SIZE))
    counts = {}
    for tracking in chosen:
        query = sql.SQL('SELECT count(*) FROM {} WHERE "pgh_created_at" < {}').format(
            event_table_ident(tracking), sql.Literal(before)
        )
        counts[model_name(tracking)] = int(str(db.fetch_all(conn, query)[0][0]))
    return counts


def delete_batch_sql(
    tracking: Tracking, before: datetime.datetime, after_id: int | None, batch_size: int
) -> sql.Composable:
    """One batch: delete up to *batch_size* events older than *before* with ``pgh_id`` above
    *after_id* (None: from the first); returns one row ``(events deleted, last pgh_id,
    events found)`` (last is NULL when none was left). Fewer deleted than found means
    another session deleted some of them meanwhile: only fewer *found* than *batch_size*
    means the end."""
    table = event_table_ident(tracking)
    after = sql.SQL("") if after_id is None else sql.SQL('"pgh_id" > {} AND ').format(sql.Literal(after_id))
    return sql.SQL(
        'WITH "pgh_batch" AS MATERIALIZED (SELECT "pgh_id" FROM {} WHERE {}"pgh_created_at" < {} '
        'ORDER BY "pgh_id" LIMIT {}), "pgh_gone" AS (DELETE FROM {} WHERE "pgh_id" IN (SELECT "pgh_id" FROM "pgh_batch") '
        'RETURNING 1) SELECT (SELECT count(*) FROM "pgh_gone"), (SELECT max("pgh_id") FROM "pgh_batch"), '
        '(SELECT count(*) FROM "pgh_batch")'
    ).format(table, after, sql.Literal(before), sql.Literal(batch_size), table)


def delete_events(
    conn: db.Connection,
    trackings: Tracking | Sequence[Tracking],
    before: datetime.datetime,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[str, int], None] | None = None,
    detach: bool = False,
) -> dict[str, int]:
    """Delete every event created before *before* from the event tables of *trackings*.

    A partitioned event table first loses its partitions older than *before* as a whole
    (dropped, or with *detach* detached and kept as ordinary tables); the events left
    before *before* (in the partition holding the cut-off, or in the DEFAULT partition) are
    deleted in batches like any other. Returns the number of events removed per qualified
    event table name; *progress* is called after each step with (event table, removed so
    far in it).
    """
    chosen = _unique(_checked(trackings, before, batch_size))
    deleted: dict[str, int] = {}
    for tracking in chosen:
        name = model_name(tracking)
        total = 0
        if tracking.partition is not None:
            total = sum(drop_partitions_before(conn, tracking, before, detach=detach).values())
            if progress is not None and total:
                progress(name, total)
        after_id: int | None = None
        while True:
            with db.transaction(conn):
                count, last, found = db.fetch_all(conn, delete_batch_sql(tracking, before, after_id, batch_size))[0]
            total += int(str(count))
            if progress is not None:
                progress(name, total)
            # Not the deleted count: events a concurrent session deleted first are not
            # deleted here, and stopping then would leave the older events behind.
            if last is None or int(str(found)) < batch_size:
                break
            after_id = int(str(last))
        deleted[name] = total
    return deleted


# ---------------------------------------------------------------------------- contexts


def _check_cut_off(before: datetime.datetime, batch_size: int) -> None:
    if not isinstance(before, datetime.datetime) or before.tzinfo is None:
        raise ConfigurationError(
            f"before must be a timezone-aware datetime (contexts are stored as timestamptz), got {before!r}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigurationError(f"batch_size must be a positive integer, got {batch_size!r}")


def _context_table(conn: db.Connection, context_schema: str) -> sql.Identifier:
    table = sql.Identifier(context_schema, CONTEXT_TABLE)
    query = sql.SQL("SELECT to_regclass({}) IS NOT NULL").format(sql.Literal(sql.render(table)))
    if db.fetch_all(conn, query)[0][0] is not True:
        raise ConfigurationError(f"there is no context table {context_schema}.{CONTEXT_TABLE} in this database")
    return table


_REFERRERS = """SELECT n.nspname::text, c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
  AND (
    a.attname = 'pgh_context_id'
    OR EXISTS (
      SELECT FROM pg_constraint k
      WHERE k.contype = 'f' AND k.conrelid = c.oid AND k.confrelid = {context}::regclass
        AND k.conkey = ARRAY[a.attnum]
    )
  )
ORDER BY 1, 2, 3"""


@dataclasses.dataclass(frozen=True)
class _Referrer:
    schema: str
    table: str
    column: str

    def still_refers(self, context_alias: sql.Identifier, discounted: dict[tuple[str, str], datetime.datetime]) -> sql.Composable:
        """``EXISTS`` an event (row) of this table pointing at the context row; events a
        pending deletion will remove (*discounted*: created before a cut-off) do not count."""
        cut_off = discounted.get((self.schema, self.table))
        gone = sql.SQL("") if cut_off is None else sql.SQL(' AND "pgh_created_at" >= {}').format(sql.Literal(cut_off))
        return sql.SQL("EXISTS (SELECT FROM {} WHERE {} = {}.{}{})").format(
            sql.Identifier(self.schema, self.table), sql.Identifier(self.column), context_alias, sql.Identifier("id"), gone
        )


def _referrers(conn: db.Connection, table: sql.Identifier) -> list[_Referrer]:
    """Every column that may hold a context id: ``pgh_context_id`` columns and foreign keys
    to the context table, in any schema. A ``pgh_context_id`` of another type than uuid is
    refused: which contexts it refers to cannot be told, and guessing could delete one in use."""
    rows = db.fetch_all(conn, sql.SQL(_REFERRERS).format(context=sql.Literal(sql.render(table))))
    referrers = []
    for schema, name, column, type_ in rows:
        if type_ != "uuid":
            raise ConfigurationError(
                f"{schema}.{name}.{column} is {type_}, not uuid: cannot tell which context rows it references, "
                "so none are deleted (drop or convert that column first)"
            )
        referrers.append(_Referrer(str(schema), str(name), str(column)))
    return referrers


_ALIAS = sql.Identifier("pgh_c")


def _unreferenced(referrers: Sequence[_Referrer], discounted: dict[tuple[str, str], datetime.datetime]) -> sql.Composable:
    if not referrers:
        return sql.SQL("TRUE")
    return sql.join(" AND ", [sql.SQL("NOT ") + r.still_refers(_ALIAS, discounted) for r in referrers])


def count_unreferenced_contexts(
    conn: db.Connection,
    before: datetime.datetime,
    *,
    context_schema: str = DEFAULT_CONTEXT_SCHEMA,
    discounting: Sequence[Tracking] = (),
) -> int:
    """How many context rows last written before *before* no event references: what
    :func:`delete_unreferenced_contexts` would delete. Events of *discounting* created
    before *before* are counted as already gone (a dry run of :func:`delete_events`
    followed by the context step)."""
    _check_cut_off(before, BATCH_SIZE)
    table = _context_table(conn, context_schema)
    discounted = {(t.event_schema_name, t.event_table_name): before for t in discounting}
    query = sql.SQL('SELECT count(*) FROM {} AS {} WHERE {}."updated_at" < {} AND {}').format(
        table, _ALIAS, _ALIAS, sql.Literal(before), _unreferenced(_referrers(conn, table), discounted)
    )
    return int(str(db.fetch_all(conn, query)[0][0]))


def _read_committed(conn: db.Connection) -> None:
    level = str(db.fetch_all(conn, "SELECT current_setting('transaction_isolation')")[0][0])
    if level != "read committed":
        raise ConfigurationError(
            f"deleting context rows needs READ COMMITTED (each batch re-checks references in a new snapshot "
            f"after locking its rows); this transaction is {level.upper()}"
        )


def delete_unreferenced_contexts(
    conn: db.Connection,
    before: datetime.datetime,
    *,
    context_schema: str = DEFAULT_CONTEXT_SCHEMA,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Delete the context rows last written (``updated_at``) before *before* that no event
    references any more, in batches of *batch_size* in id order, each in its own transaction
    (a savepoint inside the caller's). Run it after :func:`delete_events`. Returns how many
    were deleted; *progress* is called after each batch with the count so far. Rows a
    concurrent writer is attaching events to are left for the next run (module docstring).
    """
    _check_cut_off(before, batch_size)
    table = _context_table(conn, context_schema)
    referrers = _referrers(conn, table)
    unreferenced = _unreferenced(referrers, {})
    total = 0
    after_id: str | None = None
    while True:
        with db.transaction(conn):
            _read_committed(conn)
            after = sql.SQL("") if after_id is None else sql.SQL(' AND "id" > {}::uuid').format(sql.Literal(after_id))
            locked = [
                str(row[0])
                for row in db.fetch_all(
                    conn,
                    sql.SQL(
                        'SELECT "id" FROM {} WHERE "updated_at" < {}{} ORDER BY "id" LIMIT {} FOR UPDATE SKIP LOCKED'
                    ).format(table, sql.Literal(before), after, sql.Literal(batch_size)),
                )
            ]
            if locked:
                # A new statement, so a new snapshot: events committed while the rows were
                # being locked are seen.
                delete = sql.SQL(
                    'WITH "pgh_gone" AS (DELETE FROM {} AS {} WHERE {}."id" = ANY({}::uuid[]) AND {} RETURNING 1) '
                    'SELECT count(*) FROM "pgh_gone"'
                ).format(table, _ALIAS, _ALIAS, sql.Literal(locked), unreferenced)
                total += int(str(db.fetch_all(conn, delete)[0][0]))
        if progress is not None:
            progress(total)
        if len(locked) < batch_size:
            return total
        after_id = locked[-1]
