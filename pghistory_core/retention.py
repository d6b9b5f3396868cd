"""Retention: delete the events older than a point in time.

Layer: runtime. Event tables only grow; a retention policy keeps the last N days. Deletes go
in batches in ``pgh_id`` order (keyset: each batch continues after the last id of the one
before, through the primary key, so the whole run reads each event table once however
large it is, and no ``pgh_created_at`` index is needed), each batch in its own transaction
(a savepoint inside the caller's transaction), so locks and WAL stay small and a stopped run
keeps what it did.

Append-only event tables refuse: their protection exists so that history cannot be deleted,
and retention does not bypass it (turn ``append_only`` off first, deliberately). Context rows
in ``pghistory_context`` are kept: other event tables may still reference them.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence

from pghistory_core import db, sql
from pghistory_core.errors import ConfigurationError
from pghistory_core.history import model_name
from pghistory_core.render import event_table_ident
from pghistory_core.spec import Tracking

__all__ = ["count_events_before", "delete_batch_sql", "delete_events", "parse_before"]

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
    *after_id* (None: from the first); returns one row ``(events deleted, last pgh_id)``
    (NULL when none was left)."""
    table = event_table_ident(tracking)
    after = sql.SQL("") if after_id is None else sql.SQL('"pgh_id" > {} AND ').format(sql.Literal(after_id))
    return sql.SQL(
        'WITH "pgh_batch" AS MATERIALIZED (SELECT "pgh_id" FROM {} WHERE {}"pgh_created_at" < {} '
        'ORDER BY "pgh_id" LIMIT {}), "pgh_gone" AS (DELETE FROM {} WHERE "pgh_id" IN (SELECT "pgh_id" FROM "pgh_batch") '
        'RETURNING 1) SELECT (SELECT count(*) FROM "pgh_gone"), (SELECT max("pgh_id") FROM "pgh_batch")'
    ).format(table, after, sql.Literal(before), sql.Literal(batch_size), table)


def delete_events(
    conn: db.Connection,
    trackings: Tracking | Sequence[Tracking],
    before: datetime.datetime,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Delete every event created before *before* from the event tables of *trackings*.

    Returns the number deleted per qualified event table name; *progress* is called after
    each batch with (event table, deleted so far in it).
    """
    chosen = _unique(_checked(trackings, before, batch_size))
    deleted: dict[str, int] = {}
    for tracking in chosen:
        name = model_name(tracking)
        total = 0
        after_id: int | None = None
        while True:
            with db.transaction(conn):
                count, last = db.fetch_all(conn, delete_batch_sql(tracking, before, after_id, batch_size))[0]
            total += int(str(count))
            if progress is not None:
                progress(name, total)
            if last is None or int(str(count)) < batch_size:
                break
            after_id = int(str(last))
        deleted[name] = total
    return deleted
