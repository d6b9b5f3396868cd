"""Shared helpers for database tests: run SQL, read event rows as dicts.

Layer: tests. Test-only SQL uses pghistory_core.sql for names, like the library.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import psycopg

import pghistory_core as ph
from pghistory_core import sql


def events(
    conn: psycopg.Connection, table: str, columns: Sequence[str] = (), schema: str = "public", obj_ref: bool = True
) -> list[dict[str, object]]:
    """Rows of an event table ordered by pgh_id, as dicts of pgh_label, pgh_obj_id and *columns*."""
    wanted = ["pgh_label", "pgh_obj_id", *columns] if obj_ref else ["pgh_label", *columns]
    query = sql.SQL("SELECT {} FROM {} ORDER BY pgh_id").format(
        sql.join(", ", [sql.Identifier(c) for c in wanted]), sql.Identifier(schema, table)
    )
    cur = conn.execute(sql.render(query))
    return [dict(zip(wanted, row)) for row in cur.fetchall()]


def labels(conn: psycopg.Connection, table: str, schema: str = "public") -> list[str]:
    return [str(e["pgh_label"]) for e in events(conn, table, schema=schema)]


def track(conn: psycopg.Connection, *trackings: ph.Tracking) -> None:
    ph.install(conn, list(trackings))


class Waiting:
    """Work running on its own connection in a thread, now waiting for a lock.

    :func:`run_until_it_waits` returns one once the thread's session is blocked by another
    session (``pg_blocking_pids``), so a test can then let the blocker go on, in a fixed
    order, without sleeping. :meth:`result` joins the thread and returns what the work
    returned, or raises what it raised.
    """

    def __init__(self, dsn: str, work: Callable[[psycopg.Connection], object]) -> None:
        self._conn = psycopg.connect(dsn, autocommit=True)
        self.pid = self._conn.info.backend_pid
        self._outcome: list[tuple[bool, object]] = []
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)

    def _run(self, work: Callable[[psycopg.Connection], object]) -> None:
        try:
            self._outcome.append((True, work(self._conn)))
        except BaseException as exc:  # handed to the test by result()
            self._outcome.append((False, exc))
        finally:
            self._conn.close()

    def result(self) -> object:
        self._thread.join()
        ok, value = self._outcome[0]
        if not ok:
            raise value  # type: ignore[misc]
        return value


def run_until_it_waits(observer: psycopg.Connection, dsn: str, work: Callable[[psycopg.Connection], object]) -> Waiting:
    """Start *work* on a new autocommit connection in a thread and return once that session
    waits for a lock held by another session (or has finished without waiting: the test's
    assertions then show what went wrong)."""
    waiting = Waiting(dsn, work)
    waiting._thread.start()
    blocked = "SELECT cardinality(pg_blocking_pids(%s)) > 0"
    while waiting._thread.is_alive() and not observer.execute(blocked, (waiting.pid,)).fetchone()[0]:  # type: ignore[index]
        pass
    return waiting
