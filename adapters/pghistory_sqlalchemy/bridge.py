"""Bridge: the core's DB-API protocol over a SQLAlchemy ``Connection``.

Layer: adapter (execution plumbing). The core talks to Postgres through ``cursor()``,
``execute(text)``, ``fetchall()``, ``commit()``/``rollback()``
(:mod:`pghistory_core.db`). This module gives it that surface on top of a SQLAlchemy
``Connection`` rather than on the raw driver connection, for two reasons:

- it works unchanged for sync and async engines: under an ``AsyncEngine`` the sync
  ``Connection`` seen in DDL events and ``run_sync`` drives the asyncio driver through
  SQLAlchemy's greenlet bridge, whereas the raw driver connection would be async;
- the SQL runs inside the caller's SQLAlchemy transaction. ``commit()`` and
  ``rollback()`` are deliberately no-ops: the SQLAlchemy transaction that is open (in
  ``create_all``, in ``engine.begin()``) commits or rolls back everything, so an install
  is still atomic, and SQLAlchemy's view of the transaction stays true.

SQL from the core is fully rendered and is sent with the ``no_parameters`` execution
option, so the driver never interprets ``%`` in it and multi-statement scripts use the
simple query protocol.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa

__all__ = ["CoreConnection", "connect"]

_NO_PARAMETERS = {"no_parameters": True}


class _Cursor:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection
        self._result: sa.CursorResult[tuple[object, ...]] | None = None

    def execute(self, query: str) -> object:
        self._result = self._connection.exec_driver_sql(query, execution_options=_NO_PARAMETERS)
        return self._result

    def fetchall(self) -> Sequence[Sequence[object]]:
        if self._result is None or not self._result.returns_rows:
            return []
        return [tuple(row) for row in self._result.fetchall()]

    def close(self) -> None:
        if self._result is not None:
            self._result.close()
            self._result = None


class CoreConnection:
    """A :class:`pghistory_core.db.Connection` running in a SQLAlchemy transaction."""

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    def cursor(self) -> _Cursor:
        return _Cursor(self.connection)

    def commit(self) -> None:
        """No-op: the enclosing SQLAlchemy transaction commits."""

    def rollback(self) -> None:
        """No-op: an exception propagates and the SQLAlchemy transaction rolls back."""


@contextmanager
def connect(bind: sa.Engine | sa.Connection) -> Iterator[CoreConnection]:
    """A :class:`CoreConnection` for *bind*: an Engine gets its own transaction
    (``engine.begin()``); a Connection is used in its current transaction."""
    if isinstance(bind, sa.Engine):
        with bind.begin() as connection:
            yield CoreConnection(connection)
    else:
        yield CoreConnection(bind)
