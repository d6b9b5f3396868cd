"""Database tier: the context reaches the triggers through psycopg 2.

Layer: tests (database tier).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import psycopg
import pytest

import pghistory_core as ph
import pghistory_psycopg
from tests.db.context_support import (  # noqa: F401 - fixtures
    CASH,
    contexts,
    db,
    events,
    reader,
    table,
    tracked_dsn,
)

psycopg2 = pytest.importorskip("psycopg2")
extras = pytest.importorskip("psycopg2.extras")
errors = pytest.importorskip("psycopg2.errors")
from psycopg2 import sql as psql  # noqa: E402

Conn = psycopg.Connection[tuple[object, ...]]


def connect(dsn: str, autocommit: bool, **kwargs: object) -> pghistory_psycopg.Psycopg2Connection:
    conn = pghistory_psycopg.psycopg2_connect(dsn, **kwargs)
    conn.autocommit = autocommit
    return conn


@pytest.fixture(params=[True, False], ids=["autocommit", "transaction"])
def pg2(request: pytest.FixtureRequest, db: str) -> Iterator[pghistory_psycopg.Psycopg2Connection]:
    conn = connect(db, bool(request.param))
    try:
        yield conn
    finally:
        conn.close()


def insert(table: str, id: int) -> psql.Composed:
    return psql.SQL("INSERT INTO {} VALUES ({}, 1, '')").format(psql.Identifier(table), psql.Literal(id))


def test_every_mode_and_level(pg2: pghistory_psycopg.Psycopg2Connection, reader: Conn, table: str) -> None:
    with ph.context(user="ada") as active:
        with pg2.cursor() as cur:
            cur.execute(insert(table, 1))
            cur.execute(psql.SQL("UPDATE {} SET dollars = %s").format(psql.Identifier(table)), (5,))
        pg2.commit()
    with pg2.cursor() as cur:
        cur.execute(insert(table, 2))
    pg2.commit()
    ctx = (active.id, {"user": "ada"})
    assert [(e.label, e.obj_id, e.context_id, e.metadata) for e in events(reader, table)] == [
        ("insert", 1, *ctx),
        ("update", 1, *ctx),
        ("insert", 2, None, None),
    ]


def test_percent_with_and_without_parameters(pg2: pghistory_psycopg.Psycopg2Connection, reader: Conn) -> None:
    with ph.context(note="100% %s %(x)s") as active, pg2.cursor() as cur:
        cur.execute("INSERT INTO cash_fk_stmt VALUES (1, 1, '100%')")
        cur.execute("INSERT INTO cash_fk_stmt VALUES (%s, 1, '50%%')", (2,))
        cur.execute("INSERT INTO cash_fk_stmt VALUES (%(id)s, 1, %(note)s)", {"id": 3, "note": "%s"})
        cur.execute(b"INSERT INTO cash_fk_stmt VALUES (4, 1, '%')")
        pg2.commit()
    assert reader.execute("SELECT note FROM cash_fk_stmt ORDER BY id").fetchall() == [("100%",), ("50%",), ("%s",), ("%",)]
    assert [(e.context_id, e.metadata) for e in events(reader)] == [(active.id, {"note": "100% %s %(x)s"})] * 4


def test_executemany(pg2: pghistory_psycopg.Psycopg2Connection, reader: Conn, table: str) -> None:
    query = psql.SQL("INSERT INTO {} VALUES (%s, %s, %s)").format(psql.Identifier(table))
    with ph.context(user="ada") as active, pg2.cursor() as cur:
        cur.executemany(query, [(i, i, "%") for i in range(4)])
        assert cur.rowcount == 4
        pg2.commit()
    with pg2.cursor() as cur:
        cur.executemany(query, iter([(9, 9, "after")]))
    pg2.commit()
    assert [(e.obj_id, e.context_id) for e in events(reader, table)] == [(i, active.id) for i in range(4)] + [(9, None)]


def test_results_are_the_users(pg2: pghistory_psycopg.Psycopg2Connection, reader: Conn) -> None:
    with ph.context(user="ada") as active:
        with pg2.cursor(cursor_factory=extras.RealDictCursor) as cur:
            cur.execute("INSERT INTO cash_fk_stmt VALUES (%s, 1, 'x') RETURNING id, note", (1,))
            assert cur.fetchall() == [{"id": 1, "note": "x"}]
            assert cur.rowcount == 1
            cur.execute("UPDATE cash_fk_stmt SET dollars = 2 WHERE id = 1")
            assert cur.rowcount == 1
            assert cur.statusmessage == "UPDATE 1"
        pg2.commit()
    assert [(e.label, e.context_id) for e in events(reader)] == [("insert", active.id), ("update", active.id)]


def test_connection_cursor_factory_is_instrumented(db: str, reader: Conn) -> None:
    conn = connect(db, True, cursor_factory=extras.DictCursor)
    try:
        with ph.context(user="ada") as active, conn.cursor() as cur:
            assert isinstance(cur, extras.DictCursor)
            cur.execute(insert(CASH, 1))
    finally:
        conn.close()
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id)]


def test_named_cursor_in_a_transaction(db: str, reader: Conn) -> None:
    with psycopg.connect(db, autocommit=True) as admin:
        admin.execute(
            "CREATE OR REPLACE FUNCTION public.write_cash(i int) RETURNS int LANGUAGE sql "
            "AS $$ INSERT INTO public.cash_fk_stmt VALUES (i, 1, 'cursor') RETURNING id $$"
        )
    conn = connect(db, False)
    auto = connect(db, True)
    try:
        with ph.context(user="ada") as active:
            with conn.cursor("named") as cur:
                cur.execute("SELECT public.write_cash(i) FROM generate_series(1, 3) i")
                assert cur.fetchall() == [(1,), (2,), (3,)]
            conn.commit()
            with auto.cursor("held", withhold=True) as cur:
                cur.execute("SELECT public.write_cash(i) FROM generate_series(4, 5) i")
                assert cur.fetchall() == [(4,), (5,)]
        with auto.cursor() as cur:
            cur.execute(insert(CASH, 6))
    finally:
        conn.close()
        auto.close()
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(i, active.id) for i in range(1, 6)] + [(6, None)]


def test_copy_and_callproc(pg2: pghistory_psycopg.Psycopg2Connection, reader: Conn) -> None:
    with psycopg.connect(reader.info.dsn, autocommit=True) as admin:
        admin.execute(
            "CREATE OR REPLACE FUNCTION public.add_cash(i int) RETURNS int LANGUAGE sql "
            "AS $$ INSERT INTO public.cash_fk_stmt VALUES (i, 1, 'proc') RETURNING id $$"
        )
    with ph.context(user="ada") as active, pg2.cursor() as cur:
        cur.copy_expert("COPY cash_fk_stmt (id, dollars, note) FROM STDIN", io.StringIO("1\t1\tcopied\n"))
        cur.copy_from(io.StringIO("2\t1\tfrom\n"), "cash_fk_stmt", columns=("id", "dollars", "note"))
        cur.callproc("public.add_cash", (3,))
        assert cur.fetchall() == [(3,)]
        pg2.commit()
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id), (2, active.id), (3, active.id)]


def test_savepoints(db: str, reader: Conn) -> None:
    conn = connect(db, False)
    try:
        with ph.context(user="ada") as active, conn.cursor() as cur:
            cur.execute("SAVEPOINT a")
            cur.execute(insert(CASH, 1))  # first sent inside savepoint a ...
            cur.execute("ROLLBACK TO SAVEPOINT a")  # ... and reverted
            cur.execute(insert(CASH, 2))
            cur.execute("SAVEPOINT b")
            cur.execute(insert(CASH, 3))
            cur.execute("RELEASE SAVEPOINT b")
            conn.commit()
    finally:
        conn.close()
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(2, active.id), (3, active.id)]


def test_errored_transaction_shows_the_users_error(db: str, reader: Conn) -> None:
    conn = connect(db, False)
    try:
        with ph.context(user="ada") as active, conn.cursor() as cur:
            cur.execute(insert(CASH, 1))
            with pytest.raises(errors.UniqueViolation):
                cur.execute(insert(CASH, 1))
            with pytest.raises(errors.InFailedSqlTransaction):
                cur.execute(insert(CASH, 2))
            conn.rollback()
            cur.execute(insert(CASH, 3))
            conn.commit()
    finally:
        conn.close()
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(3, active.id)]


def test_vacuum_and_concurrent_index_pass_through(db: str, reader: Conn) -> None:
    conn = connect(db, True)
    try:
        with ph.context(user="ada") as active, conn.cursor() as cur:
            cur.execute("VACUUM cash_fk_stmt")
            cur.execute("CREATE INDEX CONCURRENTLY cash_note_idx2 ON cash_fk_stmt (note)")
            cur.execute("DROP INDEX CONCURRENTLY cash_note_idx2")
            with pytest.raises(errors.UniqueViolation):
                cur.execute("INSERT INTO cash_fk_stmt VALUES (1, 1, ''), (1, 1, '')")
            cur.execute(insert(CASH, 2))
    finally:
        conn.close()
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(2, active.id)]


def test_write_after_the_block_in_the_same_transaction_has_no_context(db: str, reader: Conn) -> None:
    conn = connect(db, False)
    try:
        with conn.cursor() as cur:
            with ph.context(user="ada") as active:
                cur.execute(insert(CASH, 1))
            cur.execute(insert(CASH, 2))
            conn.commit()
            cur.execute("SELECT current_setting('pghistory.context_id', true)")
            assert cur.fetchone() in [("",), (None,)]
    finally:
        conn.close()
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id), (2, None)]


def test_ignore(pg2: pghistory_psycopg.Psycopg2Connection, reader: Conn) -> None:
    with ph.context(user="ada") as active, pg2.cursor() as cur:
        cur.execute(insert(CASH, 1))
        with ph.ignore():
            cur.execute(insert(CASH, 2))
        cur.execute(insert(CASH, 3))
        pg2.commit()
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id), (3, active.id)]


def test_instrument_is_refused_with_a_clear_error(db: str) -> None:
    plain = psycopg2.connect(db)
    try:
        with pytest.raises(ph.ConfigurationError, match="connection_factory"):
            pghistory_psycopg.instrument(plain)
    finally:
        plain.close()
