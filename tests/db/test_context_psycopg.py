"""Database tier: the context reaches the triggers through psycopg 3 (sync), every way.

Layer: tests (database tier). Writes go through ``pghistory_psycopg`` connections; results
are read on a plain connection. Every test checks the event rows' context id and
metadata, so it fails if the context is missing, wrong or leaked.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql as psql

import pghistory_core as ph
import pghistory_psycopg
from tests.db.context_support import (  # noqa: F401 - fixtures
    CASH,
    Event,
    contexts,
    db,
    events,
    reader,
    table,
    tracked_dsn,
)

Conn = psycopg.Connection[tuple[object, ...]]


@pytest.fixture
def ac(db: str) -> Iterator[Conn]:
    """An instrumented autocommit connection."""
    with pghistory_psycopg.connect(db, autocommit=True) as conn:
        yield conn


@pytest.fixture
def tx(db: str) -> Iterator[Conn]:
    """An instrumented connection in the default (transactional) mode."""
    with pghistory_psycopg.connect(db) as conn:
        yield conn


def insert(table: str, id: int, note: str = "") -> psql.Composed:
    return psql.SQL("INSERT INTO {} VALUES ({}, 1, {})").format(psql.Identifier(table), id, note)


def setting(conn: Conn) -> object:
    row = conn.execute("SELECT current_setting('pghistory.context_id', true)").fetchone()
    assert row is not None
    return row[0]


# ---------------------------------------------------------------- autocommit / explicit


def test_autocommit_every_mode_and_level(ac: Conn, reader: Conn, table: str) -> None:
    with ph.context(user="ada") as active:
        ac.execute(insert(table, 1))
        ac.execute(psql.SQL("UPDATE {} SET dollars = 2").format(psql.Identifier(table)))
        ac.execute(psql.SQL("DELETE FROM {}").format(psql.Identifier(table)))
    ac.execute(insert(table, 2))
    ctx = (active.id, {"user": "ada"})
    assert [(e.label, e.obj_id, e.context_id, e.metadata) for e in events(reader, table)] == [
        ("insert", 1, *ctx),
        ("update", 1, *ctx),
        ("delete", 1, *ctx),
        ("insert", 2, None, None),
    ]
    assert setting(ac) in ("", None)  # nothing left on the session


def test_explicit_transaction_every_mode_and_level(tx: Conn, reader: Conn, table: str) -> None:
    with ph.context(user="ada") as active:
        tx.execute(insert(table, 1))
        tx.execute(insert(table, 2))
        tx.commit()
        tx.execute(insert(table, 3))  # a second transaction in the same block
        tx.commit()
    tx.execute(insert(table, 4))
    tx.commit()
    got = [(e.obj_id, e.context_id, e.metadata) for e in events(reader, table)]
    assert got == [(1, active.id, {"user": "ada"}), (2, active.id, {"user": "ada"}), (3, active.id, {"user": "ada"}), (4, None, None)]


def test_transaction_blocks_on_autocommit_connection(ac: Conn, reader: Conn) -> None:
    with ph.context(user="ada") as first:
        with ac.transaction():
            ac.execute(insert(CASH, 1))
    with ph.context(user="bob") as second:
        # psycopg begins this transaction itself: the state must not believe the context
        # of the previous transaction is still set.
        with ac.transaction():
            ac.execute(insert(CASH, 2))
        with ac.transaction():
            ac.execute(insert(CASH, 3))
    with ac.transaction():
        ac.execute(insert(CASH, 4))
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, first.id), (2, second.id), (3, second.id), (4, None)]


def test_same_context_in_consecutive_transactions(ac: Conn, reader: Conn) -> None:
    with ph.context(user="ada") as active:
        for i in range(3):
            with ac.transaction():
                ac.execute(insert(CASH, i))
    assert [e.context_id for e in events(reader)] == [active.id] * 3


def test_write_after_the_block_in_the_same_transaction_has_no_context(tx: Conn, reader: Conn) -> None:
    with ph.context(user="ada") as active:
        tx.execute(insert(CASH, 1))
    tx.execute(insert(CASH, 2))
    tx.commit()
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id), (2, None)]


def test_no_leak_to_the_next_transaction_on_the_session(tx: Conn, reader: Conn) -> None:
    with ph.context(user="ada"):
        tx.execute(insert(CASH, 1))
        tx.commit()
    # Read on the same session, in a new transaction, with a plain cursor.
    assert psycopg.Cursor(tx).execute("SELECT current_setting('pghistory.context_id', true)").fetchone() in [("",), (None,)]
    tx.rollback()


def test_raw_begin_and_commit_in_autocommit(ac: Conn, reader: Conn) -> None:
    with ph.context(user="ada") as active:
        ac.execute("BEGIN")
        ac.execute(insert(CASH, 1))
        ac.execute("COMMIT")
        ac.execute("BEGIN")
        ac.execute(insert(CASH, 2))
        ac.execute("COMMIT")
    ac.execute(insert(CASH, 3))
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id), (2, active.id), (3, None)]


def test_context_change_inside_one_transaction(tx: Conn, reader: Conn) -> None:
    with ph.context(user="ada") as first:
        tx.execute(insert(CASH, 1))
    with ph.context(user="bob") as second:
        tx.execute(insert(CASH, 2))
        ph.context(step=2)
        tx.execute(insert(CASH, 3))
    tx.commit()
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, first.id), (2, second.id), (3, second.id)]
    assert contexts(reader) == {first.id: {"user": "ada"}, second.id: {"user": "bob", "step": 2}}


# -------------------------------------------------------------------------- savepoints


def test_raw_savepoints(tx: Conn, reader: Conn, table: str) -> None:
    with ph.context(user="ada") as active:
        tx.execute("SAVEPOINT a")
        # The context is first sent inside the savepoint...
        tx.execute(insert(table, 1))
        tx.execute("RELEASE SAVEPOINT a")
        tx.execute(insert(table, 2))
        tx.execute("SAVEPOINT b")
        tx.execute(insert(table, 3))
        tx.execute("ROLLBACK TO SAVEPOINT b")
        tx.execute(insert(table, 4))
        tx.commit()
    assert [(e.obj_id, e.context_id) for e in events(reader, table)] == [(1, active.id), (2, active.id), (4, active.id)]


def test_rollback_to_a_savepoint_taken_before_the_context_was_sent(tx: Conn, reader: Conn) -> None:
    with ph.context(user="ada") as active:
        tx.execute("SAVEPOINT a")
        tx.execute(insert(CASH, 1))  # context sent inside savepoint a
        tx.execute("rollback to a")  # ... and reverted with it
        tx.execute(insert(CASH, 2))
        tx.commit()
    assert [(e.obj_id, e.context_id, e.metadata) for e in events(reader)] == [(2, active.id, {"user": "ada"})]


def test_rollback_to_savepoint_brings_back_a_cleared_context(tx: Conn, reader: Conn) -> None:
    with ph.context(user="ada") as active:
        tx.execute(insert(CASH, 1))
        tx.execute("SAVEPOINT a")
    tx.execute(insert(CASH, 2))  # the context is cleared for this write
    tx.execute("ROLLBACK TO SAVEPOINT a")  # ... which restores it on the server
    tx.execute(insert(CASH, 3))
    tx.commit()
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id), (3, None)]


def test_nested_transaction_blocks(ac: Conn, reader: Conn, table: str) -> None:
    with ph.context(user="ada") as active:
        with ac.transaction():
            with ac.transaction():
                ac.execute(insert(table, 1))  # context sent inside the savepoint
            with ac.transaction():
                ac.execute(insert(table, 2))
                raise psycopg.Rollback()
            with ac.transaction(force_rollback=True):
                ac.execute(insert(table, 3))
            with pytest.raises(ZeroDivisionError):
                with ac.transaction():
                    ac.execute(insert(table, 4))
                    raise ZeroDivisionError
            ac.execute(insert(table, 5))
    assert [(e.obj_id, e.context_id) for e in events(reader, table)] == [(1, active.id), (5, active.id)]


def test_context_first_sent_in_a_rolled_back_nested_block(tx: Conn, ac: Conn, reader: Conn) -> None:
    tx.execute("SELECT 1")  # the driver's transaction is open, nothing sent yet
    with ph.context(user="ada") as active:
        with tx.transaction():  # a savepoint
            tx.execute(insert(CASH, 1))  # the context is sent inside the savepoint...
            raise psycopg.Rollback()  # ... and rolled back with it
        tx.execute(insert(CASH, 2))
        tx.commit()
        with ac.transaction():
            with ac.transaction():
                ac.execute(insert(CASH, 3))
                raise psycopg.Rollback()
            ac.execute(insert(CASH, 4))
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(2, active.id), (4, active.id)]


# --------------------------------------------------------- binding, prepare, executemany


@pytest.mark.parametrize("autocommit", [True, False])
@pytest.mark.parametrize("cursor_factory", [psycopg.Cursor, psycopg.ClientCursor, psycopg.RawCursor])
def test_binding_modes_and_prepare(db: str, reader: Conn, autocommit: bool, cursor_factory: type[psycopg.Cursor[tuple[object, ...]]]) -> None:
    placeholders = "$1, $2, $3" if cursor_factory is psycopg.RawCursor else "%s, %s, %s"
    query = "INSERT INTO cash_fk_stmt VALUES (" + placeholders + ")"
    with pghistory_psycopg.connect(db, autocommit=autocommit, cursor_factory=cursor_factory) as conn:
        cur = conn.cursor()
        assert isinstance(cur, cursor_factory)
        with ph.context(user="ada") as active:
            for i in range(3):
                cur.execute(query, (i, 1, "plain"))
            for i in range(3, 10):  # more than prepare_threshold (5) executions
                cur.execute(query, (i, 1, "prepared"), prepare=True)
            conn.commit()
        cur.execute(query, (10, 1, "after"))
        conn.commit()
    got = events(reader)
    assert [e.context_id for e in got] == [active.id] * 10 + [None]
    assert got[0].metadata == {"user": "ada"}


@pytest.mark.parametrize("autocommit", [True, False])
@pytest.mark.parametrize("returning", [False, True])
def test_executemany(db: str, reader: Conn, table: str, autocommit: bool, returning: bool) -> None:
    query = psql.SQL("INSERT INTO {} VALUES (%s, %s, %s) RETURNING id").format(psql.Identifier(table))
    with pghistory_psycopg.connect(db, autocommit=autocommit) as conn, conn.cursor() as cur:
        with ph.context(user="ada") as active:
            cur.executemany(query, [(i, i, "x") for i in range(5)], returning=returning)
            if returning:
                ids = []
                while True:
                    ids.append(cur.fetchone())
                    if not cur.nextset():
                        break
                assert ids == [(i,) for i in range(5)]
            conn.commit()
        cur.executemany(query, [(9, 9, "after")])
        conn.commit()
    assert [(e.obj_id, e.context_id) for e in events(reader, table)] == [(i, active.id) for i in range(5)] + [(9, None)]


@pytest.mark.parametrize("autocommit", [True, False])
@pytest.mark.parametrize("cursor_factory", [psycopg.Cursor, psycopg.ClientCursor])
def test_percent_in_raw_sql(db: str, reader: Conn, autocommit: bool, cursor_factory: type[psycopg.Cursor[tuple[object, ...]]]) -> None:
    with pghistory_psycopg.connect(db, autocommit=autocommit, cursor_factory=cursor_factory) as conn:
        with ph.context(note="100% sure %s %(x)s") as active:
            conn.execute("INSERT INTO cash_fk_stmt VALUES (1, 1, '100%')")
            conn.execute("INSERT INTO cash_fk_stmt VALUES (%s, 1, '50%%')", (2,))
            conn.execute("INSERT INTO cash_fk_stmt VALUES (%(id)s, 1, '%%s')", {"id": 3})
            conn.commit()
    assert reader.execute("SELECT note FROM cash_fk_stmt ORDER BY id").fetchall() == [("100%",), ("50%",), ("%s",)]
    assert [(e.context_id, e.metadata) for e in events(reader)] == [(active.id, {"note": "100% sure %s %(x)s"})] * 3


def test_several_statements_in_one_text(ac: Conn, reader: Conn) -> None:
    with ph.context(user="ada") as active:
        cur = ac.execute(
            "INSERT INTO cash_fk_stmt VALUES (1, 1, 'a;b') RETURNING id; INSERT INTO cash_fk_row VALUES (2, 1, '') RETURNING id"
        )
        # The cursor shows the user's results, not the context statement's.
        assert cur.fetchall() == [(1,)]
        assert cur.nextset() and cur.fetchall() == [(2,)]
        assert not cur.nextset()
        client = pghistory_psycopg.ClientCursor(ac)
        client.execute("INSERT INTO cash_fk_stmt VALUES (%s, 1, '%%'); INSERT INTO cash_fk_stmt VALUES (%s, 1, '')", (3, 4))
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id), (3, active.id), (4, active.id)]
    assert [(e.obj_id, e.context_id) for e in events(reader, "cash_fk_row")] == [(2, active.id)]


def test_user_pipeline(ac: Conn, reader: Conn) -> None:
    with ph.context(user="ada") as active:
        with ac.pipeline():
            ac.execute(insert(CASH, 1))
            ac.execute(insert(CASH, 2))
    with ac.pipeline():
        ac.execute(insert(CASH, 3))
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id), (2, active.id), (3, None)]


# ---------------------------------------------------- named cursors, COPY, stream


@pytest.fixture
def writing_function(db: str) -> str:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "CREATE OR REPLACE FUNCTION public.write_cash(i int) RETURNS int LANGUAGE sql "
            "AS $$ INSERT INTO public.cash_fk_stmt VALUES (i, 1, 'cursor') RETURNING id $$"
        )
    return db


def test_named_cursor_in_a_transaction(writing_function: str, reader: Conn) -> None:
    with pghistory_psycopg.connect(writing_function) as conn:
        with ph.context(user="ada") as active:
            with conn.cursor(name="writer") as cur:
                assert isinstance(cur, psycopg.ServerCursor)
                cur.execute("SELECT public.write_cash(i) FROM generate_series(1, 3) i")
                assert cur.fetchall() == [(1,), (2,), (3,)]
            conn.commit()
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(i, active.id) for i in (1, 2, 3)]


def test_named_cursor_with_hold_in_autocommit(writing_function: str, reader: Conn) -> None:
    with pghistory_psycopg.connect(writing_function, autocommit=True) as conn:
        with ph.context(user="ada") as active:
            with conn.cursor(name="writer", withhold=True) as cur:
                cur.execute("SELECT public.write_cash(i) FROM generate_series(1, 2) i")
                assert cur.fetchall() == [(1,), (2,)]
        conn.execute(insert(CASH, 3))
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id), (2, active.id), (3, None)]


@pytest.mark.parametrize("autocommit", [True, False])
def test_copy_and_stream(db: str, reader: Conn, autocommit: bool) -> None:
    with pghistory_psycopg.connect(db, autocommit=autocommit) as conn, conn.cursor() as cur:
        with ph.context(user="ada") as active:
            with cur.copy("COPY cash_fk_stmt (id, dollars, note) FROM STDIN") as copy:
                copy.write_row((1, 1, "copied"))
                copy.write_row((2, 1, "100%"))
            rows = list(cur.stream("INSERT INTO cash_fk_row VALUES (7, 1, 'streamed') RETURNING id"))
            assert rows == [(7,)]
            conn.commit()
        with cur.copy("COPY cash_fk_stmt (id, dollars, note) FROM STDIN") as copy:
            copy.write_row((3, 1, "after"))
        conn.commit()
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id), (2, active.id), (3, None)]
    assert [(e.obj_id, e.context_id) for e in events(reader, "cash_fk_row")] == [(7, active.id)]


# ---------------------------------------------------- statements that must pass through


def test_vacuum_and_concurrent_index_pass_through_in_autocommit(ac: Conn, reader: Conn) -> None:
    with ph.context(user="ada") as active:
        ac.execute(insert(CASH, 1))
        # Each fails if it is sent in a transaction block or pipeline with anything else.
        ac.execute("VACUUM (ANALYZE) cash_fk_stmt")
        ac.execute("/* why */ CREATE INDEX CONCURRENTLY cash_note_idx ON cash_fk_stmt (note)")
        ac.execute("REINDEX INDEX CONCURRENTLY cash_note_idx")
        ac.execute("DROP INDEX CONCURRENTLY cash_note_idx")
        ac.execute(insert(CASH, 2))
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id), (2, active.id)]


def test_errored_transaction_shows_the_users_error(tx: Conn, reader: Conn) -> None:
    with ph.context(user="ada") as active:
        tx.execute(insert(CASH, 1))
        with pytest.raises(psycopg.errors.UniqueViolation, match="cash_fk_stmt_pkey"):
            tx.execute(insert(CASH, 1))
        # Nothing of ours is sent into the failed transaction: Postgres' own error follows.
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            tx.execute(insert(CASH, 2))
        tx.rollback()
        tx.execute(insert(CASH, 3))
        tx.commit()
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(3, active.id)]


def test_errored_autocommit_statement_shows_the_users_error(ac: Conn, reader: Conn) -> None:
    with ph.context(user="ada") as active:
        ac.execute(insert(CASH, 1))
        with pytest.raises(psycopg.errors.UniqueViolation, match="cash_fk_stmt_pkey"):
            ac.execute(insert(CASH, 1))
        with pytest.raises(psycopg.errors.UndefinedTable):
            ac.execute("INSERT INTO nowhere VALUES (1)")
        ac.execute(insert(CASH, 2))
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id), (2, active.id)]


def test_error_then_rollback_to_savepoint(tx: Conn, reader: Conn) -> None:
    with ph.context(user="ada") as active:
        tx.execute(insert(CASH, 1))
        tx.execute("SAVEPOINT s")
        with pytest.raises(psycopg.errors.UniqueViolation):
            tx.execute(insert(CASH, 1))
        tx.execute("ROLLBACK TO SAVEPOINT s")
        tx.execute(insert(CASH, 2))
        tx.commit()
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id), (2, active.id)]


# ------------------------------------------------------------ databases and connections


def test_instrument_an_existing_connection(db: str, reader: Conn) -> None:
    with psycopg.connect(db, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        assert pghistory_psycopg.instrument(conn) is conn
        assert pghistory_psycopg.instrument(conn) is conn
        assert isinstance(conn, pghistory_psycopg.Connection)
        assert isinstance(conn.cursor(), psycopg.ClientCursor)
        with ph.context(user="ada") as active:
            conn.execute(insert(CASH, 1))
            with conn.transaction():
                conn.execute(insert(CASH, 2))
        conn.execute(insert(CASH, 3))
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id), (2, active.id), (3, None)]


def test_plain_connection_is_refused_with_a_clear_error(db: str) -> None:
    with psycopg.connect(db) as conn:
        with pytest.raises(ph.ConfigurationError, match="instrument"):
            pghistory_psycopg.Cursor(conn).execute("SELECT 1")


# ---------------------------------------------------------------- the context API


def test_nested_contexts_share_the_id_and_merge_metadata(ac: Conn, reader: Conn, table: str) -> None:
    with ph.context(user="ada", step="outer") as outer:
        ac.execute(insert(table, 1))
        with ph.context(step="inner", job=7) as inner:
            assert inner is outer
            ac.execute(insert(table, 2))
        ac.execute(insert(table, 3))
    got = events(reader, table)
    assert {e.context_id for e in got} == {outer.id}
    merged = {"user": "ada", "step": "inner", "job": 7}
    if table.startswith("cash_fk"):
        assert contexts(reader) == {outer.id: merged}
    else:
        assert [e.metadata for e in got] == [{"user": "ada", "step": "outer"}, merged, merged]


def test_context_without_entering(ac: Conn, reader: Conn) -> None:
    ph.context(orphan=True)  # no context active: nothing happens
    assert ph.current() is None
    with ph.context(user="ada") as active:
        ph.context(request=42)  # adds to the active context
        ac.execute(insert(CASH, 1))
    assert ph.current() is None
    assert [(e.context_id, e.metadata) for e in events(reader)] == [(active.id, {"user": "ada", "request": 42})]


def test_decorator(ac: Conn, reader: Conn) -> None:
    seen: list[uuid.UUID] = []

    @ph.context(job="nightly")
    def job(i: int) -> int:
        active = ph.current()
        assert active is not None
        seen.append(active.id)
        ac.execute(insert(CASH, i))
        return i

    assert job(1) == 1 and job(2) == 2
    assert ph.current() is None
    assert seen[0] != seen[1]  # one context per call
    assert [(e.context_id, e.metadata) for e in events(reader)] == [(seen[0], {"job": "nightly"}), (seen[1], {"job": "nightly"})]


@pytest.mark.parametrize("mode_table", ["cash_fk_stmt", "cash_dn_row"])
def test_metadata_is_stored_verbatim(ac: Conn, reader: Conn, mode_table: str) -> None:
    metadata = {
        "quote": "it's \"quoted\"",
        "backslash": "C:\\temp\\new \\x00 \\u0041",
        "percent": "%s %% %(name)s",
        "dollar": "$$ $pgh$ $1",
        "unicode": "héllo wörld ✓ 日本 🎉",
        "nested": {"list": [1, 2.5, None, True], "semicolon": "a; DROP TABLE x; --"},
    }
    with ph.context(**metadata) as active:
        ac.execute(insert(mode_table, 1))
    assert [(e.context_id, e.metadata) for e in events(reader, mode_table)] == [(active.id, metadata)]


@pytest.mark.parametrize("bad", [object(), {1, 2}, float("nan"), b"bytes", "\x00"])
def test_non_json_metadata_raises_before_any_sql(ac: Conn, reader: Conn, bad: object) -> None:
    with pytest.raises(ph.ContextError, match="metadata"):
        with ph.context(value=bad):
            ac.execute(insert(CASH, 1))  # pragma: no cover - never reached
    with ph.context(user="ada"):
        with pytest.raises(ph.ContextError):
            ph.context(value=bad)
    assert events(reader) == []
    assert contexts(reader) == {}


@pytest.mark.parametrize("autocommit", [True, False])
def test_ignore_suppresses_events_for_its_block_only(db: str, reader: Conn, table: str, autocommit: bool) -> None:
    with pghistory_psycopg.connect(db, autocommit=autocommit) as conn:
        with ph.context(user="ada") as active:
            conn.execute(insert(table, 1))
            with ph.ignore():
                conn.execute(insert(table, 2))
            conn.execute(insert(table, 3))
            conn.commit()
        with ph.ignore():
            conn.execute(insert(table, 4))
        conn.execute(insert(table, 5))
        conn.commit()
    assert reader.execute(psql.SQL("SELECT count(*) FROM {}").format(psql.Identifier(table))).fetchone() == (5,)
    assert [(e.obj_id, e.context_id) for e in events(reader, table)] == [(1, active.id), (3, active.id), (5, None)]


def test_events_carry_no_context_outside_any_block(ac: Conn, reader: Conn) -> None:
    ac.execute(insert(CASH, 1))
    with ac.transaction():
        ac.execute(insert(CASH, 2))
    assert events(reader) == [Event("insert", 1, None, None), Event("insert", 2, None, None)]
    assert contexts(reader) == {}


def test_sql_composed_and_bytes_queries(ac: Conn, reader: Conn) -> None:
    with ph.context(user="ada") as active:
        ac.execute(psql.SQL("INSERT INTO {} VALUES ({}, 1, {})").format(psql.Identifier(CASH), 1, "x"))
        ac.execute(b"INSERT INTO cash_fk_stmt VALUES (2, 1, 'bytes')")
        ac.execute(b"VACUUM cash_fk_stmt")
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id), (2, active.id)]


def test_copy_from_file_object(ac: Conn, reader: Conn) -> None:
    data = io.StringIO("1\t1\tfrom file\n")
    with ph.context(user="ada") as active:
        with ac.cursor() as cur, cur.copy("COPY cash_fk_stmt (id, dollars, note) FROM STDIN") as copy:
            copy.write(data.read())
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id)]


@pytest.mark.parametrize("params", [None, (2,)])
def test_cursor_reports_the_users_results_in_autocommit(ac: Conn, reader: Conn, params: tuple[int] | None) -> None:
    ac.execute("INSERT INTO cash_fk_stmt VALUES (1, 1, ''), (2, 1, ''), (3, 1, '')")
    query = "UPDATE cash_fk_stmt SET dollars = 2 WHERE id <= " + ("%s" if params else "2") + " RETURNING id"
    with ph.context(user="ada") as active, ac.cursor() as cur:
        cur.execute(query, params)
        assert (cur.rowcount, cur.statusmessage) == (2, "UPDATE 2")
        assert cur.description is not None and [c.name for c in cur.description] == ["id"]
        assert sorted(cur.fetchall()) == [(1,), (2,)]
        assert not cur.nextset()
    assert [(e.label, e.context_id) for e in events(reader) if e.label == "update"] == [("update", active.id)] * 2
