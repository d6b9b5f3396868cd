"""psycopg 2: a connection factory whose cursors hand the context to Postgres.

Layer: adapter (raw driver). Connect with
``psycopg2.connect(dsn, connection_factory=Psycopg2Connection)`` (or
:func:`psycopg2_connect`). Every cursor it makes is instrumented, including cursors of a
``cursor_factory`` given to the connection or to ``cursor()`` (``RealDictCursor``, ...).

What the core's rules (:mod:`pghistory_core.transport`) decide is done like this:

- ``BEFORE``: the context statement on a separate plain cursor, then the statement.
- ``TOGETHER`` (autocommit): the context comment (:func:`pghistory_core.transport.context_comment`)
  goes in front of the user's query, which then runs as it would without pghistory, once
  the database's triggers are known to read it. Otherwise (triggers installed by an older
  release): psycopg 2 sends text with the simple query protocol, which
  accepts several statements and runs them in one implicit transaction. The user's query
  is first merged with its parameters by ``mogrify`` (exactly what ``execute`` would send;
  without parameters the text is sent as is, so ``%`` is never interpreted), and the
  context statement is put in front: one round trip; psycopg 2 reports the last result,
  the user's. ``executemany`` does that row by row (psycopg 2 runs each row as its own
  statement too) and reports the summed ``rowcount`` as psycopg 2 does. ``callproc``,
  ``COPY`` and ``WITH HOLD`` named cursors get a short transaction block instead
  (``BEGIN`` and the context in one round trip, the call, ``COMMIT``).

There is no ``instrument()`` for psycopg 2: its connection type accepts neither new
attributes nor weak references, so per-connection state needs the connection factory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, TypeVar, Union

import psycopg2
import psycopg2.extensions as ext
from psycopg2 import sql as psql

from pghistory_core.errors import ConfigurationError
from pghistory_core.transport import Action, Plan, TxStatus, status_from_libpq
from pghistory_psycopg._common import ATTRIBUTE, Binding, Planned, sync_binding, text_reader

__all__ = ["Psycopg2Connection", "Psycopg2Cursor", "psycopg2_connect", "psycopg2_cursor_class"]

C = TypeVar("C", bound=type)

if TYPE_CHECKING:
    from typing_extensions import TypeAlias

    # For the type checker the mixin is the cursor class it goes in front of.
    _CursorBase: TypeAlias = Any
else:
    _CursorBase = object

#: psycopg 2 accepts ``str``, ``bytes`` and :mod:`psycopg2.sql` objects as queries.
Query: TypeAlias = Union[str, bytes, "psql.Composable"]
Vars: TypeAlias = Union[Iterable[object], "dict[str, object]", None]


def _status(conn: Any) -> TxStatus:
    return status_from_libpq(conn.get_transaction_status())


def _codec(conn: ext.connection) -> str:
    return str(ext.encodings[conn.encoding])


def _read_text(query: Query, conn: Any) -> str | None:
    if isinstance(query, str):
        return query
    if isinstance(query, bytes):
        return query.decode(_codec(conn), "replace")
    if isinstance(query, psql.Composable):
        return str(query.as_string(conn))
    return None


def _text(query: Query, conn: ext.connection) -> str | Callable[[], str | None]:
    return query if isinstance(query, str) else text_reader(conn, query, _read_text)


def _commented(cursor: ext.cursor, plan: Plan, query: Query) -> Query | None:
    """TOGETHER: *query* with the context comment in front, when the database's triggers
    read it (probed once per connection, remembered for the process when they do)."""
    conn = cursor.connection
    params = conn.get_dsn_parameters()
    database = (params.get("host"), params.get("port"), params.get("dbname"))
    if not sync_binding(conn).state.comments_ready(database, lambda statement: _scalar(conn, statement)):
        return None
    if isinstance(query, bytes):
        return plan.comment.encode(_codec(conn)) + query
    if isinstance(query, psql.Composable):
        return psql.Composed([psql.SQL(plan.comment), query])
    return plan.comment + query


def _scalar(conn: ext.connection, statement: str) -> object:
    with ext.cursor(conn) as plain:
        plain.execute(statement)
        row = plain.fetchone()
    return row[0] if row else None


def _joined(cursor: ext.cursor, statement: str, query: Query, vars: Vars) -> str | bytes:
    """The context statement followed by exactly what ``execute(query, vars)`` would send."""
    conn = cursor.connection
    if vars is not None:
        merged: bytes = cursor.mogrify(query, vars)
        return statement.encode(_codec(conn)) + b";\n" + merged
    if isinstance(query, psql.Composable):
        query = str(query.as_string(conn))
    if isinstance(query, bytes):
        return statement.encode(_codec(conn)) + b";\n" + query
    return statement + ";\n" + query


def _send(conn: ext.connection, statement: str) -> None:
    # A plain cursor: not instrumented. It opens the transaction when the driver must.
    with ext.cursor(conn) as plain:
        plain.execute(statement)


@contextmanager
def _sent(conn: ext.connection, plan: Plan, block: bool = True) -> Iterator[None]:
    """BEFORE: send first. TOGETHER: a transaction block around the call (or nothing when
    *block* is false: a named cursor without WITH HOLD fails in autocommit anyway)."""
    if plan.action is Action.TOGETHER:
        if not block:
            yield
            return
        _send(conn, "BEGIN;\n" + plan.statement)
        try:
            yield
        except BaseException:
            if not conn.closed:
                _send(conn, "ROLLBACK")
            raise
        _send(conn, "COMMIT")
        return
    if plan.action is Action.BEFORE:
        _send(conn, plan.statement)
    yield


class _Psycopg2CursorMixin(_CursorBase):  # type: ignore[misc]  # psycopg2 ships no types
    """Instruments a psycopg 2 cursor class."""

    # executemany in autocommit runs row by row: the summed rowcount is reported here.
    _pghistory_rowcount: int | None = None

    @property
    def rowcount(self) -> int:
        if self._pghistory_rowcount is not None:
            return self._pghistory_rowcount
        count: int = ext.cursor.rowcount.__get__(self)
        return count

    def execute(self, query: Query, vars: Vars = None) -> None:
        cursor = self
        conn = cursor.connection
        self._pghistory_rowcount = None
        with Planned(conn, _text(query, conn), _status) as plan:
            if plan.action is Action.TOGETHER and cursor.name is None:
                commented = _commented(cursor, plan, query)
                if commented is not None:
                    super().execute(commented, vars)
                else:
                    super().execute(_joined(cursor, plan.statement, query, vars))
                return
            with _sent(conn, plan, block=cursor.withhold):
                super().execute(query, vars)

    def executemany(self, query: Query, vars_list: Iterable[Vars]) -> None:
        cursor = self
        conn = cursor.connection
        self._pghistory_rowcount = None
        with Planned(conn, _text(query, conn), _status) as plan:
            if plan.action is not Action.TOGETHER:
                with _sent(conn, plan):
                    super().executemany(query, vars_list)
                return
            commented = _commented(cursor, plan, query)
            if commented is not None:
                super().executemany(commented, vars_list)
                return
            total = 0
            for vars in vars_list:
                super().execute(_joined(cursor, plan.statement, query, vars))
                total += max(ext.cursor.rowcount.__get__(self), 0)
            self._pghistory_rowcount = total

    def callproc(self, procname: str, parameters: Vars = None) -> object:
        conn = self.connection
        self._pghistory_rowcount = None
        with Planned(conn, None, _status) as plan, _sent(conn, plan):
            return super().callproc(procname, parameters)

    def copy_expert(self, sql: Query, file: IO[str] | IO[bytes], size: int = 8192) -> None:
        conn = self.connection
        self._pghistory_rowcount = None
        with Planned(conn, _text(sql, conn), _status) as plan, _sent(conn, plan):
            super().copy_expert(sql, file, size)

    def copy_from(self, file: IO[str] | IO[bytes], table: str, *args: object, **kwargs: object) -> None:
        conn = self.connection
        self._pghistory_rowcount = None
        with Planned(conn, None, _status) as plan, _sent(conn, plan):
            super().copy_from(file, table, *args, **kwargs)

    def copy_to(self, file: IO[str] | IO[bytes], table: str, *args: object, **kwargs: object) -> None:
        conn = self.connection
        self._pghistory_rowcount = None
        with Planned(conn, None, _status) as plan, _sent(conn, plan):
            super().copy_to(file, table, *args, **kwargs)


class Psycopg2Cursor(_Psycopg2CursorMixin, ext.cursor):  # type: ignore[misc]  # psycopg2 ships no types
    """psycopg 2's default cursor with the pghistory context."""

    __module__ = "pghistory_psycopg"


_INSTRUMENTED: dict[type, type] = {ext.cursor: Psycopg2Cursor}


def psycopg2_cursor_class(factory: C) -> C:
    """The instrumented version of a psycopg 2 cursor class (``RealDictCursor`` ...)."""
    if isinstance(factory, type) and issubclass(factory, _Psycopg2CursorMixin):
        return factory
    known = _INSTRUMENTED.get(factory)
    if known is not None:
        return known  # type: ignore[return-value]
    if not (isinstance(factory, type) and issubclass(factory, ext.cursor)):
        raise ConfigurationError(f"pghistory can only instrument psycopg2 cursor classes, got {factory!r}")
    made = type(factory.__name__, (_Psycopg2CursorMixin, factory), {"__module__": factory.__module__, "__qualname__": factory.__qualname__})
    _INSTRUMENTED[factory] = made
    return made  # type: ignore[return-value]


class Psycopg2Connection(ext.connection):  # type: ignore[misc]  # psycopg2 ships no types
    """A psycopg 2 connection whose cursors hand the pghistory context to Postgres."""

    __module__ = "pghistory_psycopg"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        setattr(self, ATTRIBUTE, Binding())

    def cursor(
        self,
        name: str | None = None,
        cursor_factory: type[ext.cursor] | None = None,
        scrollable: bool | None = None,
        withhold: bool = False,
    ) -> ext.cursor:
        factory = cursor_factory or self.cursor_factory or ext.cursor
        return super().cursor(
            name, cursor_factory=psycopg2_cursor_class(factory), scrollable=scrollable, withhold=withhold
        )


def psycopg2_connect(dsn: str | None = None, **kwargs: object) -> Psycopg2Connection:
    """``psycopg2.connect`` with ``connection_factory=Psycopg2Connection``."""
    conn: Psycopg2Connection = psycopg2.connect(dsn, connection_factory=Psycopg2Connection, **kwargs)
    return conn
