"""Database tier: the harness gives each test a fresh, private database and drops it after.

Layer: tests (database tier).
"""

from __future__ import annotations

import psycopg
from psycopg.rows import TupleRow

from tests.pg import DB_PREFIX, Server, fresh_database

_seen: list[str] = []


def _current_database(conn: psycopg.Connection[TupleRow]) -> str:
    row = conn.execute("SELECT current_database()").fetchone()
    assert row is not None
    return str(row[0])


def _public_relations(conn: psycopg.Connection[TupleRow]) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind NOT IN ('i', 'I') ORDER BY 1"
    ).fetchall()
    return [str(row[0]) for row in rows]


def test_database_is_fresh(conn: psycopg.Connection[TupleRow]) -> None:
    name = _current_database(conn)
    assert name.startswith(DB_PREFIX)
    assert _public_relations(conn) == []
    # Leave a table behind: the next test must not see it.
    conn.execute("CREATE TABLE public.left_behind (id int PRIMARY KEY)")
    assert _public_relations(conn) == ["left_behind"]
    _seen.append(name)


def test_each_test_gets_its_own_database(conn: psycopg.Connection[TupleRow]) -> None:
    name = _current_database(conn)
    assert name.startswith(DB_PREFIX)
    assert name not in _seen
    assert _public_relations(conn) == []
    _seen.append(name)


def test_database_is_dropped_even_with_a_session_left_open(pg_server: Server) -> None:
    with fresh_database(pg_server) as dsn:
        lingering = psycopg.connect(dsn)
        name = _current_database(lingering)
    try:
        with psycopg.connect(pg_server.dsn, autocommit=True) as admin:
            left = admin.execute("SELECT count(*) FROM pg_catalog.pg_database WHERE datname = %s", [name]).fetchone()
        assert left == (0,)
    finally:
        lingering.close()
