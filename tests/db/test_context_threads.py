"""Database tier: threads each in their own context, writing concurrently.

Layer: tests (database tier).
"""

from __future__ import annotations

import contextvars
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
from psycopg import sql as psql

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

Conn = psycopg.Connection[tuple[object, ...]]
THREADS = 20
WRITES = 5


def insert(table: str, id: int) -> psql.Composed:
    return psql.SQL("INSERT INTO {} VALUES ({}, 1, '')").format(psql.Identifier(table), id)


def check(reader: Conn, table: str, ids: list[uuid.UUID]) -> None:
    got = events(reader, table)
    assert len(got) == THREADS * WRITES
    for event in got:
        n = event.obj_id // 100
        assert event.context_id == ids[n], event
        if not table.startswith("cash_fk"):
            assert event.metadata == {"thread": n, "name": f"thread-{n}"}, event
    if table.startswith("cash_fk"):
        assert contexts(reader) == {ids[n]: {"thread": n, "name": f"thread-{n}"} for n in range(THREADS)}


def test_twenty_threads_each_with_its_own_connection(db: str, reader: Conn, table: str) -> None:
    barrier = threading.Barrier(THREADS)

    def worker(n: int) -> uuid.UUID:
        with pghistory_psycopg.connect(db, autocommit=n % 2 == 0) as conn:
            with ph.context(thread=n, name=f"thread-{n}") as active:
                barrier.wait()
                for i in range(WRITES):
                    conn.execute(insert(table, n * 100 + i))
                    if i == 2:
                        conn.commit()
                conn.commit()
                return active.id

    with ThreadPoolExecutor(THREADS) as pool:
        ids = list(pool.map(worker, range(THREADS)))
    assert len(set(ids)) == THREADS
    check(reader, table, ids)


def test_twenty_threads_sharing_one_connection(db: str, reader: Conn) -> None:
    barrier = threading.Barrier(THREADS)
    with pghistory_psycopg.connect(db, autocommit=True) as conn:

        def worker(n: int) -> uuid.UUID:
            with ph.context(thread=n, name=f"thread-{n}") as active:
                barrier.wait()
                for i in range(WRITES):
                    conn.execute(insert(CASH, n * 100 + i))
                return active.id

        with ThreadPoolExecutor(THREADS) as pool:
            ids = list(pool.map(worker, range(THREADS)))
        conn.execute(insert(CASH, 99999))
    last = events(reader)[-1]
    assert (last.obj_id, last.context_id) == (99999, None)
    with psycopg.connect(db, autocommit=True) as cleanup:
        cleanup.execute("SELECT set_config('pghistory.ignore', 'on', false)")
        cleanup.execute("DELETE FROM cash_fk_stmt_event WHERE pgh_obj_id = 99999")
    check(reader, CASH, ids)


def test_threads_started_inside_a_context_share_it_when_they_copy_it(db: str, reader: Conn) -> None:
    """A plain thread starts with no context; one run in a copy of the caller's context
    shares the caller's (same id, same metadata)."""
    with pghistory_psycopg.connect(db, autocommit=True) as conn, ph.context(request="r1") as active:

        def write(i: int) -> None:
            conn.execute(insert(CASH, i))

        plain = threading.Thread(target=write, args=(1,))
        plain.start()
        plain.join()
        copied = threading.Thread(target=contextvars.copy_context().run, args=(write, 2))
        copied.start()
        copied.join()
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, None), (2, active.id)]


def test_context_object_updates_are_not_lost_under_threads() -> None:
    """Threads sharing one context (each through its own copy of the caller's context)
    add metadata concurrently: every key arrives, every change bumps the version."""
    with ph.context(start=0) as active:
        copies = [contextvars.copy_context() for _ in range(50)]
        threads = [
            threading.Thread(target=copies[i].run, args=(ph.context,), kwargs={f"k{i}": i}) for i in range(50)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert active.metadata == {"start": 0, **{f"k{i}": i for i in range(50)}}
    assert active.version == 51
