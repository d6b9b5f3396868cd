"""Pure tier: the transport rules (when the context statement is sent), without a database.

Layer: tests (pure tier). The database tier (tests/db/test_context_*.py) proves the same
rules end to end through the drivers; here every branch is pinned down cheaply.
"""

from __future__ import annotations

import uuid

import pytest

from pghistory_core import context, ignore
from pghistory_core.context import ActiveContext
from pghistory_core.transport import (
    CLEAR_STATEMENT,
    Action,
    StatementKind,
    TransportState,
    TxStatus,
    classify,
    context_comment,
    context_statement,
    status_from_libpq,
)

IDLE, INTRANS, INERROR, UNKNOWN = TxStatus.IDLE, TxStatus.IN_TRANSACTION, TxStatus.IN_ERROR, TxStatus.UNKNOWN
INSERT = "INSERT INTO cash VALUES (1, 2)"


# ------------------------------------------------------------------------ statement text


def test_context_statement_is_transaction_local_and_escaped() -> None:
    active = ActiveContext(uuid.UUID(int=1), {"q": "it's \\ %s $$ é"})
    assert context_statement(active) == (
        "SELECT set_config('pghistory.context_id', '00000000-0000-0000-0000-000000000001', true), "
        """set_config('pghistory.context_metadata', E'{"q":"it''s \\\\\\\\ %s $$ é"}', true), """
        "set_config('pghistory.ignore', '', true)"
    )
    assert context_statement(None, ignored=True).endswith("set_config('pghistory.ignore', 'on', true)")
    assert CLEAR_STATEMENT == (
        "SELECT set_config('pghistory.context_id', '', true), "
        "set_config('pghistory.context_metadata', '', true), set_config('pghistory.ignore', '', true)"
    )


def test_context_comment_carries_id_ignore_and_the_same_json() -> None:
    import json

    metadata = {"q": "*/ /* 100% %s %(x)s $$ it's é", "n": [1, None], "star": "*", "emoji": "🙂 日本"}
    active = ActiveContext(uuid.UUID(int=1), metadata)
    comment = context_comment(active)
    head = "/*pghistory:00000000-0000-0000-0000-000000000001::"
    assert comment.startswith(head) and comment.endswith("*/ ")
    body = comment[len(head) : -3]
    # No "*" or "%" anywhere inside: the comment cannot end early or hold a placeholder.
    assert "*" not in body and "%" not in body
    assert comment.isascii()  # whatever the client encoding
    assert json.loads(body) == metadata
    assert context_comment(None, ignored=True) == "/*pghistory::on:*/ "
    assert context_comment(active, ignored=True).startswith("/*pghistory:00000000-0000-0000-0000-000000000001:on:{")


def test_block_comment_refuses_text_that_would_end_or_nest_it() -> None:
    from pghistory_core import sql
    from pghistory_core.errors import UnsupportedError

    assert sql.render(sql.block_comment("a * b / c")) == "/*a * b / c*/"
    for bad in ("a */ b", "a /* b", "ends with /", "nul\x00"):
        with pytest.raises(UnsupportedError, match="comment"):
            sql.block_comment(bad)


def test_autocommit_plan_carries_the_comment_and_the_probe_answer_is_remembered() -> None:
    state = TransportState()
    with context(user="ada") as active:
        plan = state.plan(IDLE, True, INSERT)
        assert plan.action is Action.TOGETHER and plan.comment == context_comment(active)
        assert state.plan(INTRANS, False, INSERT).comment == ""  # BEFORE: the statement only
    database = ("host", 5432, f"db-{uuid.uuid4()}")
    assert state.comments(database) is None
    assert state.record_comments(database, False) is False
    assert TransportState().comments(database) is None  # a "no" is not kept for the process
    assert state.record_comments(database, True) is True
    assert TransportState().comments(database) is True  # a "yes" is
    assert TransportState().comments(None) is None


PASSTHROUGH = [
    "VACUUM cash",
    "vacuum (analyze) cash",
    "  -- comment\n  /* block /* nested */ still */ VACUUM",
    "CREATE DATABASE x",
    "drop database if exists x",
    "CREATE INDEX CONCURRENTLY i ON cash (id)",
    "create unique index concurrently if not exists i on public.cash (id)",
    "DROP INDEX CONCURRENTLY i",
    "REINDEX TABLE CONCURRENTLY cash",
    "REINDEX (VERBOSE) TABLE cash",
    "ALTER TABLE public.p DETACH PARTITION public.c CONCURRENTLY",
    "ALTER SYSTEM SET work_mem = '64MB'",
    "CREATE TABLESPACE t LOCATION '/x'",
    "DROP TABLESPACE t",
    "DISCARD ALL",
    "CLUSTER",
    "BEGIN",
    "begin isolation level serializable",
    "START TRANSACTION",
    "COMMIT",
    "END",
    "ROLLBACK",
    "ABORT",
    "SAVEPOINT s",
    "RELEASE SAVEPOINT s",
    "ROLLBACK TO SAVEPOINT s",
    "rollback to s",
    "PREPARE TRANSACTION 'x'",
    "COMMIT PREPARED 'x'",
    "ROLLBACK PREPARED 'x'",
    "BEGIN; SAVEPOINT a;",
    "",
    "  ;; -- nothing",
]

ORDINARY = [
    INSERT,
    "insert into cash values (1, '100%')",
    "SELECT 1",
    "WITH x AS (DELETE FROM cash RETURNING *) SELECT * FROM x",
    "(SELECT 1)",
    "UPDATE cash SET note = 'VACUUM; COMMIT'",
    "UPDATE cash SET note = E'it\\'s; VACUUM'",
    'UPDATE "VACUUM" SET x = 1',
    "SELECT $$; VACUUM$$",
    "SELECT $tag$ $$; COMMIT $$ $tag$",
    "CREATE INDEX i ON cash (id)",
    'CREATE TABLE "concurrently" (id int)',
    "SELECT 'CONCURRENTLY' FROM cash",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$",
    "PREPARE p AS INSERT INTO cash VALUES ($1, $2)",
    "EXECUTE p(1, 2)",
    "CALL do_something()",
    "BEGIN; INSERT INTO cash VALUES (1, 2); COMMIT",
    "VACUUM; INSERT INTO cash VALUES (1, 2)",
    "-- VACUUM\nINSERT INTO cash VALUES (1, 2)",
    "/* COMMIT */ INSERT INTO cash VALUES (1, 2)",
]


@pytest.mark.parametrize("text", PASSTHROUGH)
def test_statements_that_pass_through(text: str) -> None:
    assert classify(text).passthrough


@pytest.mark.parametrize("text", ORDINARY)
def test_statements_that_get_the_context(text: str) -> None:
    assert not classify(text).passthrough


@pytest.mark.parametrize(
    ("text", "resets", "count"),
    [
        (INSERT, False, 1),
        (INSERT + ";", False, 1),
        (INSERT + "; -- done", False, 1),
        ("SAVEPOINT s", False, 1),
        ("RELEASE s", False, 1),
        ("ROLLBACK TO SAVEPOINT s", True, 1),
        ("COMMIT", True, 1),
        ("RESET ALL", True, 1),
        ("INSERT INTO t VALUES (1); ROLLBACK TO s; INSERT INTO t VALUES (2)", True, 3),
        ("SELECT ';' ; SELECT 2", False, 2),
        ("SELECT 'x;'", False, 1),
        ("SELECT 1; /* ; */ SELECT 2;", False, 2),
        ("", False, 0),
    ],
)
def test_resets_and_statement_count(text: str, resets: bool, count: int) -> None:
    kind = classify(text)
    assert (kind.resets, kind.count) == (resets, count)


def test_long_single_statement_is_read_only_at_its_head() -> None:
    values = ", ".join(f"({i}, 'x;{i}')" for i in range(20000))
    kind = classify("INSERT INTO cash VALUES " + values)
    assert kind == StatementKind(passthrough=False, resets=False, count=1)


def test_libpq_status_mapping() -> None:
    assert [status_from_libpq(code) for code in range(6)] == [IDLE, UNKNOWN, INTRANS, INERROR, UNKNOWN, UNKNOWN]


# ------------------------------------------------------------------------------- plans


def _text_must_not_be_read() -> str:
    raise AssertionError("the statement text was read outside any context")


@pytest.mark.parametrize("status", list(TxStatus))
@pytest.mark.parametrize("autocommit", [True, False])
def test_outside_context_nothing_is_sent_and_the_text_is_not_read(status: TxStatus, autocommit: bool) -> None:
    state = TransportState()
    plan = state.plan(status, autocommit, _text_must_not_be_read)
    assert plan.action is Action.PASS
    state.done(plan, status)
    assert not state.sent_in_transaction


def test_autocommit_sends_together_with_every_statement_and_remembers_nothing() -> None:
    state = TransportState()
    with context(user="a") as active:
        for _ in range(3):
            plan = state.plan(IDLE, True, INSERT)
            assert plan.action is Action.TOGETHER
            assert plan.statement == context_statement(active)
            state.done(plan, IDLE)
            assert not state.sent_in_transaction


@pytest.mark.parametrize("text", ["VACUUM cash", "CREATE INDEX CONCURRENTLY i ON cash (id)", "BEGIN", "COMMIT"])
def test_passthrough_statements_are_untouched_in_a_context(text: str) -> None:
    state = TransportState()
    with context(user="a"):
        assert state.plan(IDLE, True, text).action is Action.PASS
        assert state.plan(INTRANS, False, text).action is Action.PASS


def test_explicit_transaction_sends_once_then_on_change() -> None:
    state = TransportState()
    with context(user="a") as active:
        first = state.plan(IDLE, False, INSERT)  # the driver opens the transaction
        assert first.action is Action.BEFORE
        state.done(first, INTRANS)
        for _ in range(3):
            plan = state.plan(INTRANS, False, INSERT)
            assert plan.action is Action.PASS
            state.done(plan, INTRANS)
        context(step=2)  # metadata changed: resend once
        plan = state.plan(INTRANS, False, INSERT)
        assert plan.action is Action.BEFORE and '"step":2' in plan.statement
        state.done(plan, INTRANS)
        assert state.plan(INTRANS, False, INSERT).action is Action.PASS
        with ignore():  # the ignore switch changed: resend
            plan = state.plan(INTRANS, False, INSERT)
            assert plan.action is Action.BEFORE and plan.statement == context_statement(active, ignored=True)
            state.done(plan, INTRANS)
        plan = state.plan(INTRANS, False, INSERT)
        assert plan.action is Action.BEFORE and plan.statement == context_statement(active)
        state.done(plan, INTRANS)


def test_a_new_transaction_sends_again() -> None:
    state = TransportState()
    with context(user="a"):
        plan = state.plan(INTRANS, True, INSERT)
        state.done(plan, INTRANS)
        state.done(state.plan(INTRANS, True, "COMMIT"), IDLE)
        assert state.plan(IDLE, False, INSERT).action is Action.BEFORE


def test_driver_boundary_without_a_statement_sends_again() -> None:
    state = TransportState()
    with context(user="a"):
        state.done(state.plan(INTRANS, False, INSERT), INTRANS)
        state.transaction_boundary()  # e.g. psycopg's conn.transaction() committed and began again
        assert state.plan(INTRANS, False, INSERT).action is Action.BEFORE


def test_after_the_block_the_transaction_is_cleared_once() -> None:
    state = TransportState()
    with context(user="a"):
        state.done(state.plan(INTRANS, False, INSERT), INTRANS)
    plan = state.plan(INTRANS, False, INSERT)
    assert plan.action is Action.BEFORE and plan.statement == CLEAR_STATEMENT
    state.done(plan, INTRANS)
    assert state.plan(INTRANS, False, INSERT).action is Action.PASS


def test_rollback_to_savepoint_resends() -> None:
    state = TransportState()
    with context(user="a"):
        state.done(state.plan(INTRANS, False, INSERT), INTRANS)
        state.done(state.plan(INTRANS, False, "SAVEPOINT s"), INTRANS)
        state.done(state.plan(INTRANS, False, "RELEASE s"), INTRANS)
        assert state.plan(INTRANS, False, INSERT).action is Action.PASS
        state.done(state.plan(INTRANS, False, "ROLLBACK TO SAVEPOINT s"), INTRANS)
        assert state.plan(INTRANS, False, INSERT).action is Action.BEFORE
        state.done(state.plan(INTRANS, False, INSERT), INTRANS)
        state.savepoint_rolled_back()  # the driver's nested transaction rolled back
        assert state.plan(INTRANS, False, INSERT).action is Action.BEFORE


def test_rollback_to_savepoint_after_the_block_clears() -> None:
    # Sent in the block, cleared after it, then a ROLLBACK TO a savepoint taken inside the
    # block brings the context back: the next statement must clear again.
    state = TransportState()
    with context(user="a"):
        state.done(state.plan(INTRANS, False, INSERT), INTRANS)
        state.done(state.plan(INTRANS, False, "SAVEPOINT s"), INTRANS)
    state.done(state.plan(INTRANS, False, INSERT), INTRANS)  # clears
    state.done(state.plan(INTRANS, False, "ROLLBACK TO s"), INTRANS)
    plan = state.plan(INTRANS, False, INSERT)
    assert plan.action is Action.BEFORE and plan.statement == CLEAR_STATEMENT


def test_errored_transaction_gets_nothing() -> None:
    state = TransportState()
    with context(user="a"):
        state.done(state.plan(INTRANS, False, INSERT), INERROR)
        assert state.plan(INERROR, False, INSERT).action is Action.PASS
        state.done(state.plan(INERROR, False, "ROLLBACK TO s"), INTRANS)
        assert state.plan(INTRANS, False, INSERT).action is Action.BEFORE


def test_unknown_status_sends_every_time() -> None:
    state = TransportState()
    with context(user="a"):
        for _ in range(2):
            plan = state.plan(UNKNOWN, False, INSERT)
            assert plan.action is Action.BEFORE
            state.done(plan, UNKNOWN)
    plan = state.plan(UNKNOWN, False, INSERT)  # may still be set: clear
    assert plan.action is Action.BEFORE and plan.statement == CLEAR_STATEMENT


def test_statement_count_is_reported_for_the_autocommit_path() -> None:
    state = TransportState()
    with context(user="a"):
        assert state.plan(IDLE, True, "SELECT 1; SELECT 2").count == 2
        assert state.plan(IDLE, True, None).count == 1  # unknown text: one ordinary statement


def test_statement_is_rendered_once_per_version() -> None:
    state = TransportState()
    with context(user="a"):
        first = state.plan(IDLE, True, INSERT).statement
        assert state.plan(IDLE, True, INSERT).statement is first
        context(more=1)
        assert state.plan(IDLE, True, INSERT).statement is not first


def test_needs_nothing_is_the_fast_path_of_plan() -> None:
    state = TransportState()
    assert state.needs_nothing()
    with context(user="a"):
        assert not state.needs_nothing()
        state.done(state.plan(INTRANS, False, INSERT), INTRANS)
    assert not state.needs_nothing()  # the transaction still holds the context: clear it
    state.done(state.plan(INTRANS, False, INSERT), INTRANS)
    assert not state.needs_nothing()  # a ROLLBACK TO could still bring it back
    assert state.plan(IDLE, False, INSERT).action is Action.PASS  # the transaction ended
    assert state.needs_nothing()
    with ignore():
        assert not state.needs_nothing()
