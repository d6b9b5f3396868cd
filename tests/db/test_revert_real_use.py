"""Database tier: undoing a context that spans transactions over related tables, and a
revert racing a writer."""

from __future__ import annotations

import uuid

import psycopg
import pytest

import pghistory_core as ph
from pghistory_core import sql, transport
from pghistory_core.errors import RevertConflictError
from tests.db.helpers import run_until_it_waits

FULL = (ph.InsertEvent(), ph.UpdateEvent(), ph.DeleteEvent())
PARENT = ph.Table("parent", (ph.Column("id", "integer"), ph.Column("name", "text")))
CHILD = ph.Table("child", (ph.Column("id", "integer"), ph.Column("parent_id", "integer"), ph.Column("v", "text")))
USERS = ph.Table("users", (ph.Column("id", "integer"), ph.Column("email", "text")))
TRACKINGS = [ph.Tracking(PARENT, FULL), ph.Tracking(CHILD, FULL), ph.Tracking(USERS, FULL)]


@pytest.fixture
def related(conn: psycopg.Connection) -> list[ph.Tracking]:
    conn.execute("CREATE TABLE parent (id int PRIMARY KEY, name text NOT NULL UNIQUE)")
    conn.execute("CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parent, v text)")
    conn.execute("CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL UNIQUE)")
    ph.install(conn, TRACKINGS)
    return TRACKINGS


def job(conn: psycopg.Connection, *transactions: tuple[str, ...]) -> uuid.UUID:
    """One context whose statements run in several transactions, like a batch job."""
    with ph.context(job="import") as active:
        for statements in transactions:
            with conn.transaction():
                transport.apply(conn)
                for statement in statements:
                    conn.execute(statement)
    return active.id


def contents(conn: psycopg.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {
        table: conn.execute(sql.render(sql.SQL("SELECT * FROM {} ORDER BY 1").format(sql.Identifier(table)))).fetchall()
        for table in ("parent", "child", "users")
    }


def test_a_parent_created_and_changed_around_its_child_is_deleted_after_it(conn, related):
    before = contents(conn)
    ctx = job(
        conn,
        ("INSERT INTO parent VALUES (8, 'p')",),
        ("INSERT INTO child VALUES (80, 8, 'c')",),
        ("UPDATE parent SET name = 'q' WHERE id = 8",),  # the parent's last event comes after the child's
    )
    ph.revert_context(conn, related, ctx)
    assert contents(conn) == before


def test_a_child_moved_away_from_a_deleted_parent_returns_after_the_parent(conn, related):
    conn.execute("INSERT INTO parent VALUES (1, 'one'), (7, 'seven')")
    conn.execute("INSERT INTO child VALUES (60, 1, 'x')")
    before = contents(conn)
    ctx = job(
        conn,
        ("UPDATE child SET parent_id = 7 WHERE id = 60",),
        ("DELETE FROM parent WHERE id = 1",),
        ("UPDATE child SET v = 'y' WHERE id = 60",),  # the child's last event comes after the delete
    )
    ph.revert_context(conn, related, ctx)
    assert contents(conn) == before


def test_a_child_moved_to_a_parent_created_later_in_the_job(conn, related):
    conn.execute("INSERT INTO parent VALUES (1, 'one')")
    conn.execute("INSERT INTO child VALUES (60, 1, 'x')")
    before = contents(conn)
    ctx = job(
        conn,
        ("UPDATE child SET v = 'z' WHERE id = 60",),
        ("INSERT INTO parent VALUES (9, 'nine')",),
        ("UPDATE child SET parent_id = 9 WHERE id = 60",),
    )
    ph.revert_context(conn, related, ctx)
    assert contents(conn) == before


@pytest.mark.parametrize(
    "transactions",
    [
        pytest.param(
            (("UPDATE users SET email = 'old@example.com' WHERE id = 1", "INSERT INTO users VALUES (2, 'x@example.com')"),),
            id="changed-then-taken-in-one-transaction",
        ),
        pytest.param(
            (("UPDATE parent SET name = 'old' WHERE id = 1",), ("INSERT INTO parent VALUES (2, 'x')",)),
            id="referenced-table-changed-then-taken",
        ),
        pytest.param(
            (("DELETE FROM parent WHERE id = 1",), ("INSERT INTO parent VALUES (2, 'x')",)),
            id="referenced-table-deleted-then-taken",
        ),
    ],
)
def test_a_unique_value_the_context_moved_to_a_new_row(conn, related, transactions):
    conn.execute("INSERT INTO users VALUES (1, 'x@example.com')")
    conn.execute("INSERT INTO parent VALUES (1, 'x')")
    before = contents(conn)
    ctx = job(conn, *transactions)
    ph.revert_context(conn, related, ctx)
    assert contents(conn) == before


def test_a_row_re_created_while_the_revert_runs_is_a_conflict(conn, dsn, related):
    conn.execute("INSERT INTO users VALUES (5, 'orig@example.com')")
    ctx = job(conn, ("DELETE FROM users WHERE id = 5",))
    with psycopg.connect(dsn) as writer:  # not autocommit: its insert stays uncommitted
        writer.execute("INSERT INTO users VALUES (5, 'new@example.com')")
        # The revert plans a re-insert (the writer's row is not visible yet), then waits for
        # the writer at the insert.
        reverting = run_until_it_waits(conn, dsn, lambda c: ph.revert_context(c, related, ctx))
        writer.commit()
    with pytest.raises(RevertConflictError, match=r"1 row\(s\) of public\.users that the context deleted were re-created"):
        reverting.result()
    assert contents(conn)["users"] == [(5, "new@example.com")]  # the writer's row is not overwritten
    # Seen now, it is an ordinary conflict; force writes the state before the context.
    with pytest.raises(RevertConflictError, match="public.users 5: changed again after the context"):
        ph.revert_context(conn, related, ctx)
    ph.revert_context(conn, related, ctx, force=True)
    assert contents(conn)["users"] == [(5, "orig@example.com")]


def test_an_event_table_added_after_the_context_does_not_hide_it(conn, related):
    conn.execute("INSERT INTO users VALUES (1, 'a@example.com')")
    ctx = job(conn, ("UPDATE users SET email = 'b@example.com' WHERE id = 1",))
    audit = ph.Tracking(
        USERS, (ph.InsertEvent("a_insert"), ph.UpdateEvent("a_update"), ph.DeleteEvent("a_delete")), event_table="users_audit"
    )
    ph.install(conn, [*related, audit])  # a second full tracking, which never saw the context
    # Whichever order the trackings come in, the one holding the context's events is used.
    plan = ph.revert_context(conn, [audit, *related], ctx)
    assert [(op.kind, op.model, op.values) for op in plan.operations] == [
        ("update", "public.users_event", {"id": 1, "email": "a@example.com"})
    ]
    assert contents(conn)["users"] == [(1, "a@example.com")]
