"""Database tier: the shared context row under concurrent transactions of one context.

Layer: tests (database tier). A job's workers, or tasks that copy a request's context, run
their own transactions under one context id. Writing the shared ``pghistory_context`` row
must not make them wait for each other: an ``ON CONFLICT DO UPDATE`` locks the existing row
until commit even when it changes nothing, which serialised such transactions at their first
tracked write. Each test holds one transaction open on one connection and writes on another
under ``lock_timeout``, so a wait shows as an error instead of a hang.
"""

from __future__ import annotations

import psycopg
import pytest

import pghistory_core as ph
import pghistory_psycopg
from pghistory_core.sql import SQL, Identifier, render
from tests.db.context_support import (  # noqa: F401 - fixtures
    contexts,
    db,
    events,
    reader,
    tracked_dsn,
    trackings,
)

Conn = psycopg.Connection[tuple[object, ...]]
FK_TABLES = ("cash_fk_stmt", "cash_fk_row")


def _insert(conn: Conn, table: str, key: int) -> None:
    conn.execute(render(SQL("INSERT INTO {} VALUES (%s, 1, '')").format(Identifier("public", table))), (key,))


def _times(conn: Conn, context_id: object) -> tuple[object, object]:
    """``created_at`` and ``updated_at`` of the context row."""
    row = conn.execute("SELECT created_at, updated_at FROM public.pghistory_context WHERE id = %s", (context_id,)).fetchone()
    assert row is not None
    return row[0], row[1]


def _writer(dsn: str) -> Conn:
    conn: Conn = pghistory_psycopg.connect(dsn, autocommit=True)
    conn.execute("SET lock_timeout = '2s'")
    return conn


@pytest.mark.parametrize("table", FK_TABLES)
def test_transactions_of_one_context_do_not_wait_for_each_other(db: str, reader: Conn, table: str) -> None:
    with _writer(db) as first, _writer(db) as second, ph.context(job="nightly") as active:
        with first.transaction():
            _insert(first, table, 1)  # the context row now exists, committed
        with first.transaction():
            _insert(first, table, 2)  # this transaction stays open while the other writes
            with second.transaction():
                _insert(second, table, 3)

    recorded = events(reader, table)
    assert [(e.obj_id, e.context_id, e.metadata) for e in recorded] == [
        (1, active.id, {"job": "nightly"}),
        (2, active.id, {"job": "nightly"}),
        (3, active.id, {"job": "nightly"}),
    ]
    assert contexts(reader) == {active.id: {"job": "nightly"}}


@pytest.mark.parametrize("table", FK_TABLES)
def test_metadata_added_in_a_later_transaction_is_merged(db: str, reader: Conn, table: str) -> None:
    with _writer(db) as conn, ph.context(job="nightly") as active:
        with conn.transaction():
            _insert(conn, table, 1)
        created, updated = _times(reader, active.id)
        ph.context(batch=2)
        with conn.transaction():
            _insert(conn, table, 2)

    assert contexts(reader) == {active.id: {"job": "nightly", "batch": 2}}
    created_after, updated_after = _times(reader, active.id)
    assert created_after == created and updated_after > updated  # type: ignore[operator]


@pytest.mark.parametrize("table", FK_TABLES)
def test_a_context_row_deleted_between_transactions_is_written_again(db: str, reader: Conn, table: str) -> None:
    """Retention may delete a context row no event references any more; a later write in
    that context still finds its metadata stored."""
    with _writer(db) as conn, ph.context(job="nightly") as active:
        with conn.transaction():
            _insert(conn, table, 1)
        reader.execute("DELETE FROM public.pghistory_context WHERE id = %s", (active.id,))
        assert contexts(reader) == {}
        with conn.transaction():
            _insert(conn, table, 2)

    assert contexts(reader) == {active.id: {"job": "nightly"}}
    # Both events point at the context id, whose row holds the metadata again.
    assert [(e.context_id, e.metadata) for e in events(reader, table)] == [(active.id, {"job": "nightly"})] * 2


def test_manual_events_of_one_context_do_not_wait_for_each_other(db: str, reader: Conn) -> None:
    tracking = next(t for t in trackings() if t.table.name == "cash_fk_stmt")
    with ph.ignore(), _writer(db) as setup:
        for key in (1, 2, 3):
            _insert(setup, "cash_fk_stmt", key)
    with _writer(db) as first, _writer(db) as second, ph.context(job="audit") as active:
        with first.transaction():
            ph.create_event(first, tracking, "update", 1)
        with first.transaction():
            ph.create_event(first, tracking, "update", 2)
            with second.transaction():
                ph.create_event(second, tracking, "update", 3)

    assert [(e.obj_id, e.context_id) for e in events(reader, "cash_fk_stmt")] == [
        (1, active.id),
        (2, active.id),
        (3, active.id),
    ]
    assert contexts(reader) == {active.id: {"job": "audit"}}
