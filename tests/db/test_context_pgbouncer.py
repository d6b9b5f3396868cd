"""Database tier: the context through a real PgBouncer in transaction pooling mode.

Layer: tests (database tier). Many client connections, each in its own context, write
through a pool of two server connections, so server sessions pass from client to client
between transactions. Every event must carry its own client's context, and writes made
afterwards outside any context must carry none: nothing of a context outlives its
transaction on a pooled server session. Skipped only when the ``pgbouncer`` binary is
absent (``.ci/run`` installs it).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

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
    tracked_dsn,
)
from tests.pg import Server, pgbouncer_path
from tests.pgbouncer import Bouncer, running_pgbouncer

Conn = psycopg.Connection[tuple[object, ...]]
POOL_SIZE = 2
CLIENTS = 12
WRITES = 4


@pytest.fixture(scope="module")
def bouncer(pg_server: Server) -> Iterator[Bouncer]:
    binary = pgbouncer_path()
    if binary is None:
        pytest.skip("the pgbouncer binary is not installed (Debian package `pgbouncer`; .ci/run installs it)")
    with running_pgbouncer(binary, pg_server.dsn, pool_mode="transaction", pool_size=POOL_SIZE) as running:
        yield running


def _dbname(dsn: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(dsn)["dbname"])


def test_contexts_through_transaction_pooling(bouncer: Bouncer, db: str, reader: Conn) -> None:
    pooled = bouncer.dsn_for(_dbname(db))
    barrier = threading.Barrier(CLIENTS)
    backends: set[int] = set()

    def client(n: int) -> uuid.UUID:
        # PgBouncer 1.18 cannot follow prepared statements across server sessions: the
        # user's statements are not prepared (ours never are).
        with pghistory_psycopg.connect(pooled, autocommit=n % 2 == 0, prepare_threshold=None) as conn:
            with ph.context(client=n) as active:
                barrier.wait()
                for i in range(WRITES):
                    row = conn.execute(
                        "INSERT INTO cash_dn_stmt VALUES (%s, 1, '') RETURNING pg_backend_pid()", (n * 100 + i,)
                    ).fetchone()
                    assert row is not None
                    backends.add(int(str(row[0])))
                    conn.commit()
                return active.id

    with ThreadPoolExecutor(CLIENTS) as pool:
        ids = list(pool.map(client, range(CLIENTS)))

    # The clients really shared a small pool of server sessions.
    assert len(backends) <= POOL_SIZE < CLIENTS
    got = events(reader, "cash_dn_stmt")
    assert len(got) == CLIENTS * WRITES
    for event in got:
        n = event.obj_id // 100
        assert (event.context_id, event.metadata) == (ids[n], {"client": n}), event

    # Afterwards, outside any context, on new and plain client connections: no context.
    for n in range(8):
        factory = pghistory_psycopg.connect if n % 2 else psycopg.connect
        with factory(pooled, autocommit=True, prepare_threshold=None) as conn:
            conn.execute("INSERT INTO cash_dn_stmt VALUES (%s, 1, '')", (10_000 + n,))
            setting = psycopg.Cursor(conn).execute("SELECT current_setting('pghistory.context_id', true)").fetchone()
            assert setting in [("",), (None,)]
    after = [e for e in events(reader, "cash_dn_stmt") if e.obj_id >= 10_000]
    assert [(e.context_id, e.metadata) for e in after] == [(None, None)] * 8


def test_fk_mode_and_psycopg2_through_transaction_pooling(bouncer: Bouncer, db: str, reader: Conn) -> None:
    psycopg2 = pytest.importorskip("psycopg2")
    pooled = bouncer.dsn_for(_dbname(db))

    def client(n: int) -> uuid.UUID:
        conn = pghistory_psycopg.psycopg2_connect(pooled)
        conn.autocommit = n % 2 == 0
        try:
            with ph.context(client=n) as active, conn.cursor() as cur:
                for i in range(WRITES):
                    cur.execute("INSERT INTO cash_fk_stmt VALUES (%s, 1, '50%%')", (n * 100 + i,))
                    conn.commit()
                return active.id
        finally:
            conn.close()

    with ThreadPoolExecutor(6) as pool:
        ids = list(pool.map(client, range(6)))
    plain = psycopg2.connect(pooled)
    plain.autocommit = True
    try:
        for n in range(4):
            plain.cursor().execute("INSERT INTO cash_fk_stmt VALUES (%s, 1, '')", (10_000 + n,))
    finally:
        plain.close()
    for event in events(reader, CASH):
        expected = (None, None) if event.obj_id >= 10_000 else (ids[event.obj_id // 100], {"client": event.obj_id // 100})
        assert (event.context_id, event.metadata) == expected, event
    assert len(contexts(reader)) == 6
