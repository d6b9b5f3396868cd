"""Database tier: reproductions of django-pghistory's context defects, passing here.

Layer: tests (database tier). Each test names the upstream defect it reproduces (issue 3,
first paragraph) and runs the user's scenario against our implementation. Upstream sends
the context by rewriting each statement (the context's ``SELECT set_config(...)`` glued in
front of the user's SQL, with the parameters merged), held in one process-wide tracker;
that is what the defects come from.
"""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from psycopg import sql as psql

import pghistory_core as ph
import pghistory_psycopg
from tests.db.context_support import (  # noqa: F401 - fixtures
    CASH,
    contexts,
    create_tracked_tables,
    db,
    events,
    reader,
    tracked_dsn,
)
from tests.pg import Server, fresh_database

Conn = psycopg.Connection[tuple[object, ...]]


class _Rendezvous:
    """Both tasks reach this point before either goes on (asyncio.Barrier is 3.11+)."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.arrived = 0
        self.event = asyncio.Event()

    async def wait(self) -> None:
        self.arrived += 1
        if self.arrived == self.parties:
            self.event.set()
        await self.event.wait()


def test_concurrent_asyncio_tasks_do_not_share_or_lose_metadata(db: str, reader: Conn) -> None:
    """Upstream: concurrent asyncio tasks share one context and lose metadata."""

    async def request(n: int, opened: _Rendezvous, wrote: _Rendezvous) -> uuid.UUID:
        async with await pghistory_psycopg.connect_async(db, autocommit=True) as conn:
            async with ph.context(user=f"user-{n}") as active:
                await opened.wait()  # both contexts are open at once
                ph.context(step="validated")
                await conn.execute("INSERT INTO cash_dn_stmt VALUES (%s, 1, '')", (n,))
                await wrote.wait()
                ph.context(**{f"only-{n}": True})
                await conn.execute("UPDATE cash_dn_stmt SET dollars = 2 WHERE id = %s", (n,))
                return active.id

    async def main() -> list[uuid.UUID]:
        opened, wrote = _Rendezvous(2), _Rendezvous(2)
        return list(await asyncio.gather(request(0, opened, wrote), request(1, opened, wrote)))

    ids = asyncio.run(main())
    assert ids[0] != ids[1]
    got = sorted(((e.obj_id, e.label, e.context_id, e.metadata) for e in events(reader, "cash_dn_stmt")), key=str)
    assert got == sorted(
        [
            (n, label, ids[n], {"user": f"user-{n}", "step": "validated", **({f"only-{n}": True} if label == "update" else {})})
            for n in (0, 1)
            for label in ("insert", "update")
        ],
        key=str,
    )


@pytest.mark.parametrize("autocommit", [True, False])
def test_server_side_binding_writes_succeed(db: str, reader: Conn, autocommit: bool) -> None:
    """Upstream: with psycopg 3 server-side binding every write in a context fails
    ("cannot insert multiple commands into a prepared statement")."""
    with pghistory_psycopg.connect(db, autocommit=autocommit) as conn, conn.cursor() as cur:
        assert not isinstance(cur, psycopg.ClientCursor)  # the default: server-side binding
        with ph.context(user="ada") as active:
            cur.execute("INSERT INTO cash_fk_stmt VALUES (%s, %s, %s)", (1, 10, "x"))
            cur.execute("UPDATE cash_fk_stmt SET dollars = %(d)s WHERE id = %(id)s", {"d": 11, "id": 1})
            conn.commit()
    assert [(e.label, e.context_id) for e in events(reader)] == [("insert", active.id), ("update", active.id)]


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_executemany_in_a_context(db: str, reader: Conn, driver: str) -> None:
    """Upstream: ``executemany`` inside a context raises."""
    rows = [(i, i, "x") for i in range(3)]
    with ph.context(user="ada") as active:
        if driver == "psycopg":
            with pghistory_psycopg.connect(db, autocommit=True) as conn:
                conn.cursor().executemany("INSERT INTO cash_fk_stmt VALUES (%s, %s, %s)", rows)
        else:
            pytest.importorskip("psycopg2")
            conn2 = pghistory_psycopg.psycopg2_connect(db)
            try:
                conn2.cursor().executemany("INSERT INTO cash_fk_stmt VALUES (%s, %s, %s)", rows)
                conn2.commit()
            finally:
                conn2.close()
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(i, active.id) for i in range(3)]


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_raw_sql_with_percent_in_a_context(db: str, reader: Conn, driver: str) -> None:
    """Upstream: raw SQL containing ``%`` fails inside a context (the rewritten statement
    gains parameters, so ``%`` becomes a placeholder)."""
    with ph.context(user="100%") as active:
        if driver == "psycopg":
            with pghistory_psycopg.connect(db, autocommit=True) as conn:
                conn.execute("INSERT INTO cash_fk_stmt VALUES (1, 1, 'growth: 100%')")
                conn.execute("UPDATE cash_fk_stmt SET note = note || %s || '%%'", (" and 5",))
        else:
            pytest.importorskip("psycopg2")
            conn2 = pghistory_psycopg.psycopg2_connect(db)
            conn2.autocommit = True
            try:
                conn2.cursor().execute("INSERT INTO cash_fk_stmt VALUES (1, 1, 'growth: 100%')")
                conn2.cursor().execute("UPDATE cash_fk_stmt SET note = note || %s || '%%'", (" and 5",))
            finally:
                conn2.close()
    assert reader.execute("SELECT note FROM cash_fk_stmt").fetchall() == [("growth: 100% and 5%",)]
    assert [(e.label, e.context_id, e.metadata) for e in events(reader)] == [
        ("insert", active.id, {"user": "100%"}),
        ("update", active.id, {"user": "100%"}),
    ]


def test_nothing_pins_the_server_session(db: str, reader: Conn) -> None:
    """Upstream: sessions get pinned by PgBouncer / RDS Proxy. Nothing of ours outlives
    the transaction: no session setting, no prepared statement (see also the PgBouncer
    test, tests/db/test_context_pgbouncer.py)."""
    with pghistory_psycopg.connect(db, autocommit=True, prepare_threshold=0) as conn:
        with ph.context(user="ada") as active:
            for i in range(3):
                conn.execute("INSERT INTO cash_fk_stmt VALUES (%s, 1, '')", (i,))
            with conn.transaction():
                conn.execute("INSERT INTO cash_fk_stmt VALUES (%s, 1, '')", (10,))
        plain = psycopg.Cursor(conn)  # not instrumented: reads the session as it is
        settings = plain.execute(
            "SELECT current_setting('pghistory.context_id', true), current_setting('pghistory.context_metadata', true)"
        ).fetchone()
        assert settings in [("", ""), (None, None)]
        prepared = [row[0] for row in plain.execute("SELECT statement FROM pg_prepared_statements").fetchall()]
        assert prepared and not [text for text in prepared if "set_config" in str(text)]
    assert {e.context_id for e in events(reader)} == {active.id}


def test_connections_to_several_databases_all_get_the_context(pg_server: Server, db: str, reader: Conn) -> None:
    """Upstream: only the default database gets the context."""
    with fresh_database(pg_server) as other:
        create_tracked_tables(other)
        with pghistory_psycopg.connect(db, autocommit=True) as first, pghistory_psycopg.connect(other) as second:
            with ph.context(user="ada") as active:
                first.execute(psql.SQL("INSERT INTO {} VALUES (1, 1, '')").format(psql.Identifier(CASH)))
                second.execute(psql.SQL("INSERT INTO {} VALUES (2, 1, '')").format(psql.Identifier(CASH)))
                second.commit()
        with psycopg.connect(other, autocommit=True) as other_reader:
            assert [(e.obj_id, e.context_id, e.metadata) for e in events(other_reader)] == [(2, active.id, {"user": "ada"})]
            assert contexts(other_reader) == {active.id: {"user": "ada"}}
    assert [(e.obj_id, e.context_id, e.metadata) for e in events(reader)] == [(1, active.id, {"user": "ada"})]
    assert contexts(reader) == {active.id: {"user": "ada"}}
