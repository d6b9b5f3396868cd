"""Database access: the one place that knows DB-API drivers apart.

Layer: lifecycle/runtime plumbing. The core talks to Postgres only through the small
DB-API surface every driver has (``cursor()``, ``execute(text)``, ``fetchall()``,
``commit()``/``rollback()``). SQL is always sent fully rendered and without parameters, so
no driver ever interprets ``%`` in it (psycopg 2 and 3 only parse placeholders when
parameters are given).

Driver differences (how to tell whether a transaction is open, how to run a block in a
transaction) are decided here once per connection, by the connection's module name; no
driver is imported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Protocol

from pghistory_core import sql
from pghistory_core.errors import UnsupportedError

__all__ = [
    "DDL_LOCK_KEY",
    "Connection",
    "Cursor",
    "driver_name",
    "execute",
    "fetch_all",
    "in_transaction",
    "lock_ddl",
    "transaction",
]


class Cursor(Protocol):
    def execute(self, query: str) -> object: ...

    def fetchall(self) -> Sequence[Sequence[object]]: ...

    def close(self) -> object: ...


class Connection(Protocol):
    def cursor(self) -> Cursor: ...

    def commit(self) -> object: ...

    def rollback(self) -> object: ...


def driver_name(conn: object) -> str:
    """``psycopg`` (3), ``psycopg2`` or ``dbapi`` (anything else)."""
    module = type(conn).__module__.split(".")[0]
    if module in ("psycopg", "psycopg2"):
        return module
    # A DB-API wrapper that exposes the raw driver connection (SQLAlchemy, Django, ...).
    return "dbapi"


def _text(query: sql.Composable | str) -> str:
    return sql.render(query) if isinstance(query, sql.Composable) else query


def execute(conn: Connection, query: sql.Composable | str) -> None:
    """Run *query* (no parameters; possibly several statements)."""
    cur = conn.cursor()
    try:
        cur.execute(_text(query))
    finally:
        cur.close()


def fetch_all(conn: Connection, query: sql.Composable | str) -> list[tuple[object, ...]]:
    cur = conn.cursor()
    try:
        cur.execute(_text(query))
        return [tuple(row) for row in cur.fetchall()]
    finally:
        cur.close()


def is_autocommit(conn: object) -> bool:
    return bool(getattr(conn, "autocommit", False))


def in_transaction(conn: object) -> bool:
    """Whether a transaction block is open on *conn* (psycopg 2 and 3 report it)."""
    name = driver_name(conn)
    if name == "psycopg":
        return int(conn.info.transaction_status) != 0  # type: ignore[attr-defined]  # 0 = IDLE
    if name == "psycopg2":
        import_status = conn.get_transaction_status()  # type: ignore[attr-defined]
        return int(import_status) != 0
    return False


@contextlib.contextmanager
def transaction(conn: Connection) -> Iterator[Connection]:
    """Run the block in one transaction, or in a savepoint if one is already open.

    Works whether or not the connection is in autocommit mode.
    """
    name = driver_name(conn)
    if name == "psycopg":
        with conn.transaction():  # type: ignore[attr-defined]
            yield conn
        return
    if name == "psycopg2" or name == "dbapi":
        autocommit = is_autocommit(conn)
        # An explicit BEGIN sent on an autocommit connection (Peewee's atomic()) is still a
        # transaction: nest in a savepoint instead of committing the caller's work.
        if in_transaction(conn):
            execute(conn, "SAVEPOINT pghistory_tx")
            try:
                yield conn
            except BaseException:
                execute(conn, "ROLLBACK TO SAVEPOINT pghistory_tx")
                raise
            execute(conn, "RELEASE SAVEPOINT pghistory_tx")
            return
        if autocommit:
            conn.autocommit = False  # type: ignore[attr-defined]
        try:
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        finally:
            if autocommit:
                conn.autocommit = True  # type: ignore[attr-defined]
        return
    raise UnsupportedError(f"unsupported connection type {type(conn).__name__}")  # pragma: no cover


#: Any constant: the advisory lock that serialises pghistory's DDL on one database (installs,
#: partition maintenance), so two runs at once queue instead of colliding.
DDL_LOCK_KEY = 7_051_862_315


def lock_ddl(conn: Connection) -> None:
    """Take the DDL lock until the end of the current transaction (re-entrant per session)."""
    execute(conn, sql.SQL("SELECT pg_advisory_xact_lock({})").format(sql.Literal(DDL_LOCK_KEY)))
