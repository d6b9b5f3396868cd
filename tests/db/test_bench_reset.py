"""The benchmark's reset between measurements leaves each copy as the next measurement needs it.

Layer: tests (database tier). ``BenchDatabase.reset`` empties a copy, its events and the
context table, and refills it without recording the fill; with the replica role (no trigger
fires) when the role may set it, else with tracking switched off. Asserts what a measurement
relies on, both ways: exactly the fill is there, nothing recorded, and writes after the reset
are tracked again (the role or the settings did not outlive the reset's transaction).
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

import pghistory_core as ph
from benchmarks.workloads import SCHEMA, VARIANTS, BenchDatabase
from pghistory_core import sql, transport

CHOSEN = ("untracked", "row_fk", "stmt_fk", "stmt_denorm")


@pytest.fixture
def bench(conn: psycopg.Connection[tuple[object, ...]]) -> Iterator[BenchDatabase]:
    database = BenchDatabase(conn, tuple(v for v in VARIANTS if v.name in CHOSEN))
    database.create()
    try:
        yield database
    finally:
        database.drop()


def _count(conn: psycopg.Connection[tuple[object, ...]], table: str) -> int:
    row = conn.execute(sql.render(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(SCHEMA, table)))).fetchone()
    assert row is not None
    return int(row[0])


def test_create_finds_that_a_superuser_may_reset_with_the_replica_role(bench: BenchDatabase) -> None:
    row = bench.conn.execute("SELECT current_setting('is_superuser')").fetchone()
    if row != ("on",):
        pytest.skip("the test DSN's role is not a superuser (the fallback is tested below either way)")
    assert bench.replica_resets is True


@pytest.mark.parametrize("replica", [True, False], ids=["replica-role", "tracking-off"])
def test_reset_leaves_the_fill_unrecorded_and_tracking_on_afterwards(bench: BenchDatabase, replica: bool) -> None:
    bench.replica_resets = replica
    conn = bench.conn
    for variant in bench.variants:
        bench.reset(variant, 30)
        with conn.transaction():  # some history, under a context, to be emptied by the next reset
            with ph.context(source="test") as active:
                conn.execute(transport.context_statement(active))
            conn.execute(sql.render(sql.SQL("UPDATE {} SET qty = qty + 1").format(sql.Identifier(SCHEMA, variant.table))))

        bench.reset(variant, 25)

        assert _count(conn, variant.table) == 25, variant.name
        if variant.tracked:
            assert _count(conn, variant.event_table) == 0, variant.name
            if variant.context == ph.FK:
                assert _count(conn, "pghistory_context") == 0, variant.name
        row = conn.execute("SELECT current_setting('session_replication_role')").fetchone()
        assert row == ("origin",)
        # The next write is tracked: the reset's switches ended with its transaction.
        conn.execute(sql.render(sql.SQL("DELETE FROM {} WHERE id <= 5").format(sql.Identifier(SCHEMA, variant.table))))
        if variant.tracked:
            assert _count(conn, variant.event_table) == 5, variant.name


def _pages(conn: psycopg.Connection[tuple[object, ...]], table: str) -> int:
    row = conn.execute("SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int",
                       (sql.render(sql.Identifier(SCHEMA, table)),)).fetchone()
    assert row is not None
    return int(row[0])


def test_a_reset_keeps_the_pages_and_a_workload_boundary_drops_them(bench: BenchDatabase) -> None:
    # Within a workload the copies keep their pages (sizes only grow); at a workload boundary
    # truncate() gives fresh files, so the next workload's one-row UPDATE scans no empty pages
    # left by the last one's largest size.
    conn = bench.conn
    stmt = next(v for v in bench.variants if v.name == "stmt_fk")
    bench.reset(stmt, 5_000)
    with conn.transaction():
        conn.execute(sql.render(sql.SQL("UPDATE {} SET qty = qty + 1").format(sql.Identifier(SCHEMA, stmt.table))))
    bench.reset(stmt, 1)
    assert _pages(conn, stmt.table) > 10 and _pages(conn, stmt.event_table) > 10
    bench.truncate()
    for variant in bench.variants:
        assert _pages(conn, variant.table) == 0, variant.name
        if variant.tracked:
            assert _pages(conn, variant.event_table) == 0, variant.name
    bench.reset(stmt, 3)  # and the copy works as before
    assert _count(conn, stmt.table) == 3 and _count(conn, stmt.event_table) == 0
