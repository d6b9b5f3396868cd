"""Database tier: the context through psycopg 3's AsyncConnection, and asyncio isolation.

Layer: tests (database tier). The tests call ``asyncio.run`` themselves (no plugin).
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
    db,
    events,
    reader,
    table,
    tracked_dsn,
)

Conn = psycopg.Connection[tuple[object, ...]]


def insert(table: str, id: int) -> psql.Composed:
    return psql.SQL("INSERT INTO {} VALUES ({}, 1, '')").format(psql.Identifier(table), id)


@pytest.mark.parametrize("autocommit", [True, False])
def test_async_connection(db: str, reader: Conn, table: str, autocommit: bool) -> None:
    async def main() -> uuid.UUID:
        async with await pghistory_psycopg.connect_async(db, autocommit=autocommit) as conn:
            async with ph.context(user="ada") as active:
                await conn.execute(insert(table, 1))
                async with conn.cursor() as cur:
                    await cur.executemany(
                        psql.SQL("INSERT INTO {} VALUES (%s, %s, %s)").format(psql.Identifier(table)),
                        [(2, 1, "%"), (3, 1, "%%")],
                    )
                    async with cur.copy(psql.SQL("COPY {} (id, dollars) FROM STDIN").format(psql.Identifier(table))) as copy:
                        await copy.write_row((4, 1))
                    rows = [row async for row in cur.stream(psql.SQL("UPDATE {} SET note = 'streamed' WHERE id = 4 RETURNING id").format(psql.Identifier(table)))]
                    assert rows == [(4,)]
                await conn.commit()
            await conn.execute(insert(table, 5))
            await conn.commit()
            return active.id

    context_id = asyncio.run(main())
    got = [(e.label, e.obj_id, e.context_id, e.metadata) for e in events(reader, table)]
    ctx = (context_id, {"user": "ada"})
    assert got == [
        ("insert", 1, *ctx),
        ("insert", 2, *ctx),
        ("insert", 3, *ctx),
        ("insert", 4, *ctx),
        ("update", 4, *ctx),
        ("insert", 5, None, None),
    ]


def test_async_savepoints_and_blocks(db: str, reader: Conn) -> None:
    async def main() -> uuid.UUID:
        async with await pghistory_psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            async with ph.context(user="ada") as active:
                async with conn.transaction():
                    async with conn.transaction():
                        await conn.execute(insert(CASH, 1))  # first sent inside the savepoint
                        raise psycopg.Rollback()
                    await conn.execute(insert(CASH, 2))
                    await conn.execute("SAVEPOINT raw")
                    await conn.execute(insert(CASH, 3))
                    await conn.execute("ROLLBACK TO SAVEPOINT raw")
                    await conn.execute(insert(CASH, 4))
                async with conn.transaction():
                    await conn.execute(insert(CASH, 5))
            async with conn.transaction():
                await conn.execute(insert(CASH, 6))
            return active.id

    context_id = asyncio.run(main())
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(2, context_id), (4, context_id), (5, context_id), (6, None)]


def test_async_client_cursor_named_cursor_and_instrument(db: str, reader: Conn) -> None:
    async def main() -> uuid.UUID:
        conn = await psycopg.AsyncConnection.connect(db, cursor_factory=psycopg.AsyncClientCursor)
        async with pghistory_psycopg.instrument(conn):
            async with ph.context(user="ada") as active:
                cur = conn.cursor()
                assert isinstance(cur, psycopg.AsyncClientCursor)
                await cur.execute("INSERT INTO cash_fk_stmt VALUES (%s, 1, '100%%')", (1,))
                async with conn.cursor(name="named") as named:
                    await named.execute("SELECT 1 FROM cash_fk_stmt")
                    assert await named.fetchall() == [(1,)]
                await conn.commit()
        return active.id

    context_id = asyncio.run(main())
    assert [(e.obj_id, e.context_id) for e in events(reader)] == [(1, context_id)]


def test_async_decorator(db: str, reader: Conn) -> None:
    @ph.context(job="async")
    async def job(conn: psycopg.AsyncConnection[tuple[object, ...]], i: int) -> uuid.UUID:
        await conn.execute(insert(CASH, i))
        active = ph.current()
        assert active is not None
        return active.id

    async def main() -> list[uuid.UUID]:
        async with await pghistory_psycopg.connect_async(db, autocommit=True) as conn:
            ids = [await job(conn, 1), await job(conn, 2)]
            assert ph.current() is None
            return ids

    ids = asyncio.run(main())
    assert ids[0] != ids[1]
    assert [(e.context_id, e.metadata) for e in events(reader)] == [(ids[0], {"job": "async"}), (ids[1], {"job": "async"})]


def test_twenty_tasks_each_in_its_own_context(db: str, reader: Conn, table: str) -> None:
    """Concurrent tasks on one event loop never share or swap their context."""
    tasks = 20
    writes = 5

    async def worker(n: int, start: asyncio.Event) -> uuid.UUID:
        async with await pghistory_psycopg.connect_async(db, autocommit=n % 2 == 0) as conn:
            async with ph.context(task=n, name=f"task-{n}") as active:
                await start.wait()
                for i in range(writes):
                    await conn.execute(insert(table, n * 100 + i))
                    await asyncio.sleep(0)  # let the other tasks run in between
                    if i == 2:
                        ph.context(late=n)  # metadata changes mid-way
                await conn.commit()
                return active.id

    async def main() -> list[uuid.UUID]:
        start = asyncio.Event()
        running = [asyncio.create_task(worker(n, start)) for n in range(tasks)]
        await asyncio.sleep(0.05)
        start.set()
        return await asyncio.gather(*running)

    ids = asyncio.run(main())
    assert len(set(ids)) == tasks
    got = events(reader, table)
    assert len(got) == tasks * writes
    for event in got:
        n = event.obj_id // 100
        assert event.context_id == ids[n]
        if table.startswith("cash_fk"):
            continue
        expected: dict[str, object] = {"task": n, "name": f"task-{n}"}
        if event.obj_id % 100 > 2:
            expected["late"] = n
        assert event.metadata == expected
    if table.startswith("cash_fk"):
        assert contexts(reader) == {ids[n]: {"task": n, "name": f"task-{n}", "late": n} for n in range(tasks)}


def test_tasks_sharing_one_connection(db: str, reader: Conn) -> None:
    """Tasks in different contexts sharing one autocommit connection keep their own context."""

    async def worker(conn: psycopg.AsyncConnection[tuple[object, ...]], n: int) -> uuid.UUID:
        async with ph.context(task=n) as active:
            for i in range(3):
                await conn.execute(insert(CASH, n * 100 + i))
                await asyncio.sleep(0)
            return active.id

    async def main() -> list[uuid.UUID]:
        async with await pghistory_psycopg.connect_async(db, autocommit=True) as conn:
            results = await asyncio.gather(*(worker(conn, n) for n in range(10)))
            await conn.execute(insert(CASH, 9999))
            return results

    ids = asyncio.run(main())
    for event in events(reader):
        assert event.context_id == (None if event.obj_id == 9999 else ids[event.obj_id // 100])
