"""psycopg 3: connections and cursors that hand the context to Postgres by themselves.

Layer: adapter (raw driver). Every ``execute``, ``executemany``, ``copy`` and ``stream`` of
an instrumented cursor asks the core's rules (:mod:`pghistory_core.transport`) what to do,
then does it without touching the user's statement:

- ``BEFORE`` (a transaction is open, or the driver is about to open one): the context
  statement runs on a separate plain cursor, then the statement.
- ``TOGETHER`` (autocommit): the context statement and the statement must share one
  implicit transaction, in one round trip, and nothing may be left set afterwards:

  * when psycopg would send the statement with the simple query protocol (no parameters,
    or a client-side binding cursor, which merges them itself with ``mogrify``; text
    format; no ``prepare=True``), the context statement is put in front of the user's
    unchanged text, in the same simple query, and the cursor skips the context
    statement's result, so it shows the user's results. This also covers texts holding
    several statements, which a pipeline cannot carry;
  * otherwise (server-side binding with parameters, ``prepare=True``, binary results) the
    two are sent in one pipeline. ``executemany`` rides the same pipeline.

  Measured on a local socket, the joined text costs less than the pipeline (psycopg's
  pipeline mode adds CPU time per statement); see ``docs/context.md``. Three things can be
  neither joined nor pipelined and get a short transaction block instead (``BEGIN``,
  context, statement, ``COMMIT``): ``COPY``, ``stream()`` and ``WITH HOLD`` named cursors.

The context statement never uses a prepared statement (``prepare=False``): prepared
statements are session state, which a transaction-mode pooler cannot keep.

Driver hooks: ``Connection.transaction()`` tells the rules when psycopg itself began or
ended a transaction, or rolled back to a savepoint (those commands do not pass through a
cursor).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, TypeVar, Union

import psycopg
from psycopg import pq
from psycopg import sql as psql
from psycopg.abc import Params, Query
from psycopg.rows import Row

from pghistory_core.errors import ConfigurationError
from pghistory_core.transport import COMMENT_PROBE, NOTHING, Action, Plan, TransportState, TxStatus, status_from_libpq
from pghistory_psycopg._common import ATTRIBUTE, AsyncBinding, Binding, Planned, async_binding, sync_binding, text_reader

if TYPE_CHECKING:
    from types import TracebackType

    from psycopg.transaction import AsyncTransaction, Transaction
    from typing_extensions import Self

    # For the type checker the mixins are the classes they go in front of.
    _CursorBase = psycopg.Cursor[Any]
    _ServerCursorBase = psycopg.ServerCursor[Any]
    _AsyncCursorBase = psycopg.AsyncCursor[Any]
    _AsyncServerCursorBase = psycopg.AsyncServerCursor[Any]
else:
    _CursorBase = _ServerCursorBase = _AsyncCursorBase = _AsyncServerCursorBase = object

__all__ = [
    "AsyncClientCursor",
    "AsyncConnection",
    "AsyncCursor",
    "AsyncRawCursor",
    "AsyncServerCursor",
    "ClientCursor",
    "Connection",
    "Cursor",
    "RawCursor",
    "ServerCursor",
    "connect",
    "connect_async",
    "instrument",
    "instrumented_cursor",
]

_IDLE = pq.TransactionStatus.IDLE
_COMMITTED = psycopg.Transaction.Status.COMMITTED

T = TypeVar("T", bound=type)
AnyConnection = TypeVar("AnyConnection", bound=Union["psycopg.Connection[Any]", "psycopg.AsyncConnection[Any]"])
_Conn = Union["psycopg.Connection[Any]", "psycopg.AsyncConnection[Any]"]


# ------------------------------------------------------------------------------ shared


def _status(conn: _Conn) -> TxStatus:
    pgconn = conn.pgconn
    if pgconn.pipeline_status:
        # In a pipeline the status reflects queued work, not the transaction: the rules
        # then send the context before every statement (queued too, so no round trip).
        return TxStatus.UNKNOWN
    return status_from_libpq(pgconn.transaction_status)


def _read_text(query: Query, conn: _Conn) -> str | None:
    if isinstance(query, str):
        return query
    if isinstance(query, (bytes, bytearray, memoryview)):
        return bytes(query).decode(conn.info.encoding, "replace")
    if isinstance(query, psql.Composable):
        return query.as_string(conn)
    return None  # a template string: one ordinary statement


def _text(query: Query, conn: _Conn) -> str | Callable[[], str | None]:
    # Only read (and render) the text when the rules need it: never outside a context.
    return query if isinstance(query, str) else text_reader(conn, query, _read_text)


def _joinable_text(
    cursor: psycopg.Cursor[Any] | psycopg.AsyncCursor[Any],
    query: Query,
    params: Params | None,
    prepare: bool | None,
    binary: bool | None,
) -> str | None:
    """The user's full text when psycopg would send it with the simple query protocol
    (so several statements are allowed and a context statement can go in front)."""
    if prepare or binary or (binary is None and cursor.format == pq.Format.BINARY):
        return None
    if params is not None:
        if not isinstance(cursor, (psycopg.ClientCursor, psycopg.AsyncClientCursor)):
            return None
        return cursor.mogrify(query, params)
    return _read_text(query, cursor.connection)


def _commented(query: Query, comment: str, conn: _Conn) -> str | bytes | psql.Composed | None:
    """*query* with the context comment in front, or None for a query that cannot take it
    (a template string)."""
    if isinstance(query, str):
        return comment + query
    if isinstance(query, (bytes, bytearray, memoryview)):
        return comment.encode(conn.info.encoding) + bytes(query)
    if isinstance(query, psql.Composable):
        return psql.Composed([psql.SQL(comment), query])  # type: ignore[arg-type]  # text of our own making
    return None


def _commented_call(
    cursor: psycopg.Cursor[Any] | psycopg.AsyncCursor[Any], query: Query, params: Params | None, plan: Plan
) -> tuple[str | bytes | psql.Composed, Params | None] | None:
    """The query and parameters to execute with the context comment, or None for a query
    that cannot take it. A client-side binding cursor merges the parameters into the
    user's query first (psycopg caches the parsing of that text, which recurs; the
    commented text is new for every context) and executes the result without parameters."""
    if params is not None and isinstance(cursor, (psycopg.ClientCursor, psycopg.AsyncClientCursor)):
        return plan.comment + cursor.mogrify(query, params), None
    commented = _commented(query, plan.comment, cursor.connection)
    return None if commented is None else (commented, params)


def _database(conn: _Conn) -> tuple[str, int, str]:
    info = conn.info
    return (info.host, info.port, info.dbname)


def _joined(statement: str, text: str) -> str:
    # Both are complete statement texts; the user's text is unchanged after the separator.
    return statement + ";\n" + text


def _boundary_before(conn: _Conn, state: TransportState) -> bool:
    outer = conn.pgconn.transaction_status == _IDLE
    if outer:
        state.transaction_boundary()
    return outer


def _boundary_after(state: TransportState, outer: bool, tx: Transaction | AsyncTransaction | None) -> None:
    if outer:
        state.transaction_boundary()
    elif tx is None or tx.status != _COMMITTED:
        # A nested block rolled back to its savepoint: the settings are those of the
        # moment the savepoint was taken.
        state.savepoint_rolled_back()


# --------------------------------------------------------------------------------- sync


def _send(conn: psycopg.Connection[Any], statement: str) -> None:
    # A plain cursor: not instrumented, never prepared.
    psycopg.Cursor(conn).execute(statement, prepare=False)


def _comments_ready(conn: psycopg.Connection[Any]) -> bool:
    """Whether the database's triggers read the context comment (probed once per
    connection, remembered for the process when they do)."""
    return sync_binding(conn).state.comments_ready(_database(conn), functools.partial(_scalar, conn))


def _scalar(conn: psycopg.Connection[Any], statement: str) -> object:
    row = psycopg.Cursor(conn).execute(statement, prepare=False).fetchone()
    return row[0] if row else None


def _run(conn: psycopg.Connection[Any], plan: Plan, call: Callable[[], object]) -> None:
    """execute/executemany: TOGETHER through one pipeline."""
    if plan.action is Action.PASS:
        call()
    elif plan.action is Action.BEFORE:
        _send(conn, plan.statement)
        call()
    else:
        with conn.pipeline():
            _send(conn, plan.statement)
            call()


@contextmanager
def _sent(conn: psycopg.Connection[Any], plan: Plan, block: bool = True) -> Iterator[None]:
    """COPY, stream, server-side cursors (no pipeline): TOGETHER in a transaction block,
    or not at all when *block* is false."""
    if plan.action is Action.TOGETHER:
        if block:
            with conn.transaction():
                _send(conn, plan.statement)
                yield
        else:
            yield
        return
    if plan.action is Action.BEFORE:
        _send(conn, plan.statement)
    yield


class _CursorMixin(_CursorBase):
    """Instruments :class:`psycopg.Cursor` and its client-side and raw subclasses."""

    __slots__ = ()

    def execute(self, query: Query, params: Params | None = None, *, prepare: bool | None = None, binary: bool | None = None) -> Self:
        conn = self.connection
        with Planned(conn, _text(query, conn), _status) as plan:
            ready = plan.action is Action.TOGETHER and _comments_ready(conn)
            call = _commented_call(self, query, params, plan) if ready else None
            if call is not None:
                super().execute(*call, prepare=prepare, binary=binary)
                return self
            joined = _joinable_text(self, query, params, prepare, binary) if plan.action is Action.TOGETHER else None
            if joined is not None:
                super().execute(_joined(plan.statement, joined), prepare=False, binary=binary)
                self.nextset()  # skip the context statement's result
            else:
                _run(conn, plan, functools.partial(super().execute, query, params, prepare=prepare, binary=binary))
        return self

    def executemany(self, query: Query, params_seq: Iterable[Params], *, returning: bool = False) -> None:
        conn = self.connection
        with Planned(conn, _text(query, conn), _status) as plan:
            ready = plan.action is Action.TOGETHER and _comments_ready(conn)
            commented = _commented(query, plan.comment, conn) if ready else None
            if commented is not None:
                super().executemany(commented, params_seq, returning=returning)
            else:
                _run(conn, plan, functools.partial(super().executemany, query, params_seq, returning=returning))

    @contextmanager
    def copy(self, statement: Query, params: Params | None = None, **kwargs: Any) -> Iterator[psycopg.Copy]:
        conn = self.connection
        with Planned(conn, _text(statement, conn), _status) as plan, _sent(conn, plan):
            with super().copy(statement, params, **kwargs) as copy:
                yield copy

    def stream(self, query: Query, params: Params | None = None, **kwargs: Any) -> Iterator[Any]:
        conn = self.connection
        with Planned(conn, _text(query, conn), _status) as plan, _sent(conn, plan):
            yield from super().stream(query, params, **kwargs)


class _ServerCursorMixin(_ServerCursorBase):
    """Instruments :class:`psycopg.ServerCursor` (named cursors)."""

    __slots__ = ()

    def execute(self, query: Query, params: Params | None = None, *, binary: bool | None = None, **kwargs: Any) -> Self:
        conn = self.connection
        with Planned(conn, _text(query, conn), _status) as plan, _sent(conn, plan, block=self.withhold):
            # Without WITH HOLD, a named cursor cannot live in autocommit mode: psycopg and
            # Postgres report that error themselves, unchanged.
            super().execute(query, params, binary=binary, **kwargs)
        return self


class Connection(psycopg.Connection[Row]):
    """A :class:`psycopg.Connection` whose cursors hand the pghistory context to Postgres.

    Use :func:`connect` (``Connection.connect``), or ``connection_class=Connection`` with
    ``psycopg_pool``. Any ``cursor_factory`` given is instrumented too. Its
    ``transaction()`` tells the rules about the transactions and savepoints psycopg opens
    and closes by itself.
    """

    __module__ = "pghistory_psycopg"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__[ATTRIBUTE] = Binding()
        super().__init__(*args, **kwargs)

    @property
    def cursor_factory(self) -> type[psycopg.Cursor[Row]]:
        factory: type[psycopg.Cursor[Row]] = self.__dict__["_pghistory_cursor_factory"]
        return factory

    @cursor_factory.setter
    def cursor_factory(self, factory: type[psycopg.Cursor[Row]]) -> None:
        self.__dict__["_pghistory_cursor_factory"] = instrumented_cursor(factory)

    @property
    def server_cursor_factory(self) -> type[psycopg.ServerCursor[Row]]:
        factory: type[psycopg.ServerCursor[Row]] = self.__dict__["_pghistory_server_cursor_factory"]
        return factory

    @server_cursor_factory.setter
    def server_cursor_factory(self, factory: type[psycopg.ServerCursor[Row]]) -> None:
        self.__dict__["_pghistory_server_cursor_factory"] = instrumented_cursor(factory)

    @contextmanager
    def transaction(self, savepoint_name: str | None = None, force_rollback: bool = False) -> Iterator[Transaction]:
        binding = sync_binding(self)
        with binding.lock:
            outer = _boundary_before(self, binding.state)
        tx: Transaction | None = None
        try:
            with super().transaction(savepoint_name, force_rollback) as tx:
                yield tx
        finally:
            with binding.lock:
                _boundary_after(binding.state, outer, tx)


class Cursor(_CursorMixin, psycopg.Cursor[Row]):
    """:class:`psycopg.Cursor` (server-side binding) with the pghistory context."""

    __module__ = "pghistory_psycopg"


class ClientCursor(_CursorMixin, psycopg.ClientCursor[Row]):
    """:class:`psycopg.ClientCursor` (client-side binding) with the pghistory context."""

    __module__ = "pghistory_psycopg"


class RawCursor(_CursorMixin, psycopg.RawCursor[Row]):
    """:class:`psycopg.RawCursor` (``$1`` placeholders) with the pghistory context."""

    __module__ = "pghistory_psycopg"


class ServerCursor(_ServerCursorMixin, psycopg.ServerCursor[Row]):
    """:class:`psycopg.ServerCursor` (named cursor) with the pghistory context."""

    __module__ = "pghistory_psycopg"


#: Creates an instrumented connection (``psycopg.connect`` with context transport).
connect = Connection.connect


# -------------------------------------------------------------------------------- async


class _AsyncPlanned:
    """``async with _AsyncPlanned(conn, query) as plan`` (see
    :class:`~pghistory_psycopg._common.Planned`)."""

    __slots__ = ("_conn", "_binding", "_query", "plan")

    def __init__(self, conn: psycopg.AsyncConnection[Any], query: Query) -> None:
        self._conn = conn
        self._binding = async_binding(conn)
        self._query = query

    async def __aenter__(self) -> Plan:
        binding = self._binding
        await binding.lock.acquire()
        if binding.state.needs_nothing():
            self.plan = NOTHING
            return NOTHING
        try:
            conn = self._conn
            self.plan = binding.state.plan(_status(conn), conn.autocommit, _text(self._query, conn))
        except BaseException:
            binding.lock.release()
            raise
        return self.plan

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            plan = self.plan
            if plan.action is not Action.PASS or plan.resets:
                self._binding.state.done(plan, _status(self._conn))
        finally:
            self._binding.lock.release()


async def _asend(conn: psycopg.AsyncConnection[Any], statement: str) -> None:
    await psycopg.AsyncCursor(conn).execute(statement, prepare=False)


async def _acomments_ready(conn: psycopg.AsyncConnection[Any]) -> bool:
    """:func:`_comments_ready` for asyncio connections (the probe is awaited)."""
    state = async_binding(conn).state
    ready = state.comments(_database(conn))
    if ready is None:
        cursor = psycopg.AsyncCursor(conn)
        await cursor.execute(COMMENT_PROBE, prepare=False)
        row = await cursor.fetchone()
        ready = state.record_comments(_database(conn), bool(row and row[0]))
    return ready


async def _arun(conn: psycopg.AsyncConnection[Any], plan: Plan, call: Callable[[], Awaitable[object]]) -> None:
    if plan.action is Action.PASS:
        await call()
    elif plan.action is Action.BEFORE:
        await _asend(conn, plan.statement)
        await call()
    else:
        async with conn.pipeline():
            await _asend(conn, plan.statement)
            await call()


@asynccontextmanager
async def _asent(conn: psycopg.AsyncConnection[Any], plan: Plan, block: bool = True) -> AsyncIterator[None]:
    if plan.action is Action.TOGETHER:
        if block:
            async with conn.transaction():
                await _asend(conn, plan.statement)
                yield
        else:
            yield
        return
    if plan.action is Action.BEFORE:
        await _asend(conn, plan.statement)
    yield


class _AsyncCursorMixin(_AsyncCursorBase):
    """Instruments :class:`psycopg.AsyncCursor` and its client-side and raw subclasses."""

    __slots__ = ()

    async def execute(self, query: Query, params: Params | None = None, *, prepare: bool | None = None, binary: bool | None = None) -> Self:
        conn = self.connection
        async with _AsyncPlanned(conn, query) as plan:
            ready = plan.action is Action.TOGETHER and await _acomments_ready(conn)
            call = _commented_call(self, query, params, plan) if ready else None
            if call is not None:
                await super().execute(*call, prepare=prepare, binary=binary)
                return self
            joined = _joinable_text(self, query, params, prepare, binary) if plan.action is Action.TOGETHER else None
            if joined is not None:
                await super().execute(_joined(plan.statement, joined), prepare=False, binary=binary)
                self.nextset()
            else:
                await _arun(conn, plan, functools.partial(super().execute, query, params, prepare=prepare, binary=binary))
        return self

    async def executemany(self, query: Query, params_seq: Iterable[Params], *, returning: bool = False) -> None:
        conn = self.connection
        async with _AsyncPlanned(conn, query) as plan:
            ready = plan.action is Action.TOGETHER and await _acomments_ready(conn)
            commented = _commented(query, plan.comment, conn) if ready else None
            if commented is not None:
                await super().executemany(commented, params_seq, returning=returning)
            else:
                await _arun(conn, plan, functools.partial(super().executemany, query, params_seq, returning=returning))

    @asynccontextmanager
    async def copy(self, statement: Query, params: Params | None = None, **kwargs: Any) -> AsyncIterator[psycopg.AsyncCopy]:
        conn = self.connection
        async with _AsyncPlanned(conn, statement) as plan, _asent(conn, plan):
            async with super().copy(statement, params, **kwargs) as copy:
                yield copy

    async def stream(self, query: Query, params: Params | None = None, **kwargs: Any) -> AsyncIterator[Any]:
        conn = self.connection
        async with _AsyncPlanned(conn, query) as plan, _asent(conn, plan):
            async for row in super().stream(query, params, **kwargs):
                yield row


class _AsyncServerCursorMixin(_AsyncServerCursorBase):
    """Instruments :class:`psycopg.AsyncServerCursor` (named cursors)."""

    __slots__ = ()

    async def execute(self, query: Query, params: Params | None = None, *, binary: bool | None = None, **kwargs: Any) -> Self:
        conn = self.connection
        async with _AsyncPlanned(conn, query) as plan, _asent(conn, plan, block=self.withhold):
            await super().execute(query, params, binary=binary, **kwargs)
        return self


class AsyncConnection(psycopg.AsyncConnection[Row]):
    """A :class:`psycopg.AsyncConnection` whose cursors hand the pghistory context to Postgres.

    Use ``await AsyncConnection.connect(...)`` (or :func:`connect_async`).
    """

    __module__ = "pghistory_psycopg"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__[ATTRIBUTE] = AsyncBinding()
        super().__init__(*args, **kwargs)

    @property
    def cursor_factory(self) -> type[psycopg.AsyncCursor[Row]]:
        factory: type[psycopg.AsyncCursor[Row]] = self.__dict__["_pghistory_cursor_factory"]
        return factory

    @cursor_factory.setter
    def cursor_factory(self, factory: type[psycopg.AsyncCursor[Row]]) -> None:
        self.__dict__["_pghistory_cursor_factory"] = instrumented_cursor(factory)

    @property
    def server_cursor_factory(self) -> type[psycopg.AsyncServerCursor[Row]]:
        factory: type[psycopg.AsyncServerCursor[Row]] = self.__dict__["_pghistory_server_cursor_factory"]
        return factory

    @server_cursor_factory.setter
    def server_cursor_factory(self, factory: type[psycopg.AsyncServerCursor[Row]]) -> None:
        self.__dict__["_pghistory_server_cursor_factory"] = instrumented_cursor(factory)

    @asynccontextmanager
    async def transaction(self, savepoint_name: str | None = None, force_rollback: bool = False) -> AsyncIterator[AsyncTransaction]:
        # No lock needed: the state is only touched between awaits, on the event loop.
        state = async_binding(self).state
        outer = _boundary_before(self, state)
        tx: AsyncTransaction | None = None
        try:
            async with super().transaction(savepoint_name, force_rollback) as tx:
                yield tx
        finally:
            _boundary_after(state, outer, tx)


class AsyncCursor(_AsyncCursorMixin, psycopg.AsyncCursor[Row]):
    """:class:`psycopg.AsyncCursor` with the pghistory context."""

    __module__ = "pghistory_psycopg"


class AsyncClientCursor(_AsyncCursorMixin, psycopg.AsyncClientCursor[Row]):
    """:class:`psycopg.AsyncClientCursor` with the pghistory context."""

    __module__ = "pghistory_psycopg"


class AsyncRawCursor(_AsyncCursorMixin, psycopg.AsyncRawCursor[Row]):
    """:class:`psycopg.AsyncRawCursor` with the pghistory context."""

    __module__ = "pghistory_psycopg"


class AsyncServerCursor(_AsyncServerCursorMixin, psycopg.AsyncServerCursor[Row]):
    """:class:`psycopg.AsyncServerCursor` with the pghistory context."""

    __module__ = "pghistory_psycopg"


#: Creates an instrumented asyncio connection (``await connect_async(dsn)``).
connect_async = AsyncConnection.connect


# ------------------------------------------------------------------- instrumenting

# psycopg base class -> the class put in front of a subclass of it. Connections use the
# instrumented class itself rather than a mixin: instrument() reassigns __class__, which
# Python allows only between classes of the same layout, and a mixin with its own base
# changes it.
_FRONTS: tuple[tuple[type, type], ...] = (
    (psycopg.AsyncServerCursor, _AsyncServerCursorMixin),
    (psycopg.ServerCursor, _ServerCursorMixin),
    (psycopg.AsyncCursor, _AsyncCursorMixin),
    (psycopg.Cursor, _CursorMixin),
    (psycopg.AsyncConnection, AsyncConnection),
    (psycopg.Connection, Connection),
)
_INSTRUMENTED: dict[type, type] = {
    psycopg.Cursor: Cursor,
    psycopg.ClientCursor: ClientCursor,
    psycopg.RawCursor: RawCursor,
    psycopg.ServerCursor: ServerCursor,
    psycopg.AsyncCursor: AsyncCursor,
    psycopg.AsyncClientCursor: AsyncClientCursor,
    psycopg.AsyncRawCursor: AsyncRawCursor,
    psycopg.AsyncServerCursor: AsyncServerCursor,
    psycopg.Connection: Connection,
    psycopg.AsyncConnection: AsyncConnection,
}


def _instrumented_class(cls: T) -> T:
    if not isinstance(cls, type):
        raise ConfigurationError(f"pghistory can only instrument psycopg cursor and connection classes, got {cls!r}")
    if issubclass(cls, tuple(front for _, front in _FRONTS)):
        return cls
    known = _INSTRUMENTED.get(cls)
    if known is not None:
        return known  # type: ignore[return-value]
    for base, front in _FRONTS:
        if issubclass(cls, base):
            break
    else:
        raise ConfigurationError(
            f"pghistory can only instrument psycopg cursor and connection classes, got {cls.__module__}.{cls.__qualname__}"
        )
    # A user's subclass (e.g. a cursor with extra methods): the instrumentation goes in
    # front of it, once per class.
    made = type(cls.__name__, (front, cls), {"__module__": cls.__module__, "__qualname__": cls.__qualname__})
    _INSTRUMENTED[cls] = made
    return made  # type: ignore[return-value]


def instrumented_cursor(factory: T) -> T:
    """The instrumented version of a psycopg cursor class (e.g. ``psycopg.ClientCursor``
    gives :class:`ClientCursor`); instrumented classes are returned unchanged."""
    return _instrumented_class(factory)


def instrument(conn: AnyConnection) -> AnyConnection:
    """Instrument an existing psycopg 3 connection in place and return it (psycopg 2: use
    ``connection_factory=Psycopg2Connection``).

    The connection becomes an instance of the instrumented subclass of its class (the
    same object: every reference to it sees the change); its cursor factories are
    instrumented. Idempotent. Prefer :func:`connect` for connections you create.
    """
    if getattr(conn, ATTRIBUTE, None) is not None:
        return conn
    if type(conn).__module__.split(".")[0] == "psycopg2":
        raise ConfigurationError(
            "a psycopg2 connection cannot be instrumented after it is made (its type takes no new attributes); "
            "connect with connection_factory=pghistory_psycopg.Psycopg2Connection"
        )
    cls = _instrumented_class(type(conn))
    factory = conn.cursor_factory
    server_factory = conn.server_cursor_factory
    conn.__dict__[ATTRIBUTE] = AsyncBinding() if isinstance(conn, psycopg.AsyncConnection) else Binding()
    conn.__class__ = cls  # type: ignore[assignment]
    # The plain class stored these as instance attributes; the properties take over.
    conn.__dict__.pop("cursor_factory", None)
    conn.__dict__.pop("server_cursor_factory", None)
    conn.cursor_factory = factory
    conn.server_cursor_factory = server_factory
    return conn
