"""Database tier: in autocommit mode the context travels as a comment in front of the write.

Layer: tests (database tier). ``RETURNING current_query()`` shows the text the server
received for the very statement that wrote the event, so each test checks both what was
sent and what the triggers recorded from it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pghistory_psycopg
import psycopg
import pytest
from psycopg import sql as psql

import pghistory_core as ph
from pghistory_core import transport
from tests.db.context_support import (  # noqa: F401 - fixtures
    CASH,
    contexts,
    create_tracked_tables,
    db,
    events,
    reader,
    table,
)
from tests.pg import Server, fresh_database

Conn = psycopg.Connection[tuple[object, ...]]


@pytest.fixture(scope="module")
def tracked_dsn(pg_server: Server) -> Iterator[str]:
    """The four tracked tables, and no trigger that cannot read the comment."""
    with fresh_database(pg_server) as dsn:
        create_tracked_tables(dsn)
        yield dsn


@pytest.fixture
def ac(db: str) -> Iterator[Conn]:
    with pghistory_psycopg.connect(db, autocommit=True) as conn:
        yield conn


def insert_returning_text(table: str, id: int) -> psql.Composed:
    return psql.SQL("INSERT INTO {} VALUES (%s, 1, %s) RETURNING current_query()").format(psql.Identifier(table))


def sent_text(cursor: psycopg.Cursor[tuple[object, ...]]) -> str:
    row = cursor.fetchone()
    assert row is not None
    return str(row[0])


def test_autocommit_write_carries_the_context_in_its_own_text(ac: Conn, reader: Conn, table: str) -> None:
    with ph.context(user="ada") as active:
        text = sent_text(ac.execute(insert_returning_text(table, 1), (1, "a")))
        ac.execute(psql.SQL("UPDATE {} SET dollars = 2").format(psql.Identifier(table)))
        ac.execute(psql.SQL("DELETE FROM {}").format(psql.Identifier(table)))
    after = sent_text(ac.execute(insert_returning_text(table, 2), (2, "b")))
    assert text.startswith(f"/*pghistory:{active.id}::")
    assert text.endswith("INSERT INTO " + psql.Identifier(table).as_string(ac) + " VALUES ($1, 1, $2) RETURNING current_query()")
    assert not after.startswith("/*")
    ctx = (active.id, {"user": "ada"})
    assert [(e.label, e.obj_id, e.context_id, e.metadata) for e in events(reader, table)] == [
        ("insert", 1, *ctx),
        ("update", 1, *ctx),
        ("delete", 1, *ctx),
        ("insert", 2, None, None),
    ]


HOSTILE = {
    "comment": "a */ b /* c",
    "percent": "100%s %(x)s %%",
    "quote": "it's \"quoted\" \\ back",
    "dollar": "$$ $1 $pgh$",
    "colon": "a:b::c",
    "unicode": "zoë 日本 \u2028 🙂",
    "star": "*",
}


@pytest.mark.parametrize(
    "how",
    ["server-side binding", "prepared", "client-side binding", "no parameters", "bytes", "composed", "executemany"],
)
def test_metadata_comes_back_unchanged_whatever_the_query_form(ac: Conn, reader: Conn, how: str) -> None:
    with ph.context(**HOSTILE) as active:
        if how == "server-side binding":
            ac.execute("INSERT INTO cash_fk_stmt VALUES (%s, 1, %s)", (1, "%s"))
        elif how == "prepared":
            for i in range(1, 4):
                ac.execute("INSERT INTO cash_fk_stmt VALUES (%s, 1, %s)", (i, "x"), prepare=True)
        elif how == "client-side binding":
            pghistory_psycopg.ClientCursor(ac).execute("INSERT INTO cash_fk_stmt VALUES (%s, 1, %s)", (1, "%s"))
        elif how == "no parameters":
            ac.execute("INSERT INTO cash_fk_stmt VALUES (1, 1, '100%')")
        elif how == "bytes":
            ac.execute(b"INSERT INTO cash_fk_stmt VALUES (%s, 1, %s)", (1, "b"))
        elif how == "composed":
            ac.execute(psql.SQL("INSERT INTO {} VALUES ({}, 1, {})").format(psql.Identifier(CASH), 1, "c"))
        else:
            ac.cursor().executemany("INSERT INTO cash_fk_stmt VALUES (%s, 1, %s)", [(1, "a"), (2, "b")])
    got = events(reader)
    assert got and {(e.context_id, json.dumps(e.metadata, sort_keys=True)) for e in got} == {
        (active.id, json.dumps(HOSTILE, sort_keys=True))
    }
    assert contexts(reader) == {active.id: HOSTILE}


def test_ignore_travels_in_the_comment(ac: Conn, reader: Conn, table: str) -> None:
    with ph.ignore():
        text = sent_text(ac.execute(insert_returning_text(table, 1), (1, "a")))
    with ph.context(user="ada"), ph.ignore():
        ac.execute(insert_returning_text(table, 2), (2, "b"))
    assert text.startswith("/*pghistory::on:")
    assert events(reader, table) == []


def test_statements_after_a_commit_in_one_text_keep_the_context(ac: Conn, reader: Conn) -> None:
    # One simple query holding two transactions: the comment heads the whole text.
    with ph.context(user="ada") as active:
        ac.execute("BEGIN; INSERT INTO cash_fk_stmt VALUES (1, 1, 'a'); COMMIT; INSERT INTO cash_fk_stmt VALUES (2, 1, 'b')")
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id), (2, active.id)]


def test_a_procedure_that_commits_keeps_the_context_after_its_commit(ac: Conn, reader: Conn) -> None:
    ac.execute(
        "CREATE PROCEDURE two_writes() LANGUAGE plpgsql AS $$BEGIN "
        "INSERT INTO cash_fk_stmt VALUES (1, 1, 'a'); COMMIT; INSERT INTO cash_fk_stmt VALUES (2, 1, 'b'); END $$"
    )
    try:
        with ph.context(user="ada") as active:
            ac.execute("CALL two_writes()")
    finally:
        ac.execute("DROP PROCEDURE two_writes()")
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id), (2, active.id)]


def test_explicit_transactions_still_send_the_settings_and_they_win(db: str, reader: Conn) -> None:
    with ph.context(user="eve") as other:
        forged = transport.context_comment(other)
    with pghistory_psycopg.connect(db) as tx, ph.context(user="ada") as active:
        text = sent_text(tx.execute(insert_returning_text(CASH, 1), (1, "a")))
        # A comment written by hand does not override the transaction's settings.
        tx.execute(forged + "INSERT INTO cash_fk_stmt VALUES (2, 1, 'b')")
        tx.commit()
    assert not text.startswith("/*")
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id), (2, active.id)]


def test_a_comment_is_read_only_when_no_settings_were_sent(db: str, reader: Conn) -> None:
    # The same forged comment on a plain connection (no pghistory transport): it is the
    # only context there, so the triggers take it, once per transaction.
    with ph.context(user="eve") as other:
        forged = transport.context_comment(other)
    with psycopg.connect(db) as plain:
        plain.execute(forged + "INSERT INTO cash_fk_stmt VALUES (1, 1, 'a')")
        plain.execute("INSERT INTO cash_fk_stmt VALUES (2, 1, 'b')")
        plain.commit()
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, other.id), (2, other.id)]


def test_async_autocommit_uses_the_comment(db: str, reader: Conn) -> None:
    import asyncio

    async def main() -> tuple[str, ph.ActiveContext]:
        async with await pghistory_psycopg.connect_async(db, autocommit=True) as conn:
            async with ph.context(user="ada") as active:
                cursor = await conn.execute(insert_returning_text(CASH, 1), (1, "a"))
                row = await cursor.fetchone()
                await conn.cursor().executemany("INSERT INTO cash_fk_stmt VALUES (%s, 1, 'x')", [(2,), (3,)])
            assert row is not None
            return str(row[0]), active

    text, active = asyncio.run(main())
    assert text.startswith(f"/*pghistory:{active.id}::")
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, active.id), (2, active.id), (3, active.id)]


# ------------------------------------------------------------- triggers that cannot read it

_STALE_TRIGGER = """
CREATE FUNCTION old_style_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit VALUES (nullif(current_setting('pghistory.context_id', true), '')::uuid);
    RETURN NULL;
END $$;
CREATE TABLE audit (context_id uuid);
CREATE TABLE audited (id integer);
CREATE TRIGGER audited_audit AFTER INSERT ON audited FOR EACH ROW EXECUTE FUNCTION old_style_audit();
"""


def test_a_trigger_that_only_reads_the_settings_keeps_the_statement_transport(pg_server: Server) -> None:
    # A database still holding a trigger installed by an older pghistory (or
    # django-pghistory): the comment would be lost on it, so the settings are sent.
    with fresh_database(pg_server) as dsn:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(_STALE_TRIGGER)
            assert admin.execute(transport.COMMENT_PROBE).fetchone() == (False,)
        with pghistory_psycopg.connect(dsn, autocommit=True) as conn, ph.context(user="ada") as active:
            row = conn.execute("INSERT INTO audited VALUES (%s) RETURNING current_query()", (1,)).fetchone()
        with psycopg.connect(dsn, autocommit=True) as admin:
            assert admin.execute("SELECT context_id FROM audit").fetchall() == [(active.id,)]
        assert row is not None and not str(row[0]).startswith("/*")


def test_psycopg2_autocommit_uses_the_comment(db: str, reader: Conn) -> None:
    pytest.importorskip("psycopg2")
    conn = pghistory_psycopg.psycopg2_connect(db)
    conn.autocommit = True
    try:
        with ph.context(**HOSTILE) as active, conn.cursor() as cur:
            cur.execute("INSERT INTO cash_fk_stmt VALUES (%s, 1, %s) RETURNING current_query()", (1, "%s"))
            text = cur.fetchone()[0]
            cur.execute(b"INSERT INTO cash_fk_stmt VALUES (2, 1, '100%')")
            cur.executemany("INSERT INTO cash_fk_stmt VALUES (%s, 1, %s)", [(3, "a"), (4, "b")])
            assert cur.rowcount == 2
    finally:
        conn.close()
    assert text.startswith(f"/*pghistory:{active.id}::")
    assert reader.execute("SELECT note FROM cash_fk_stmt ORDER BY id").fetchall() == [("%s",), ("100%",), ("a",), ("b",)]
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(i, active.id) for i in range(1, 5)]
    assert contexts(reader) == {active.id: HOSTILE}
