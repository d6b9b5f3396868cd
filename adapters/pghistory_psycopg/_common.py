"""What the psycopg 3 and psycopg 2 integrations share: the per-connection binding.

Layer: adapter (raw drivers). A connection made by this package carries one binding: the
core's :class:`~pghistory_core.transport.TransportState`, a lock, and the text of the last
composed query.

The lock is held from the decision to the end of the statement, outside contexts too.
Connections are thread-safe in both drivers (and shared by asyncio tasks); without it a
statement from another thread or task could run between a context statement and the
statement it belongs to, or ride the pipeline opened for them, and carry a context that is
not its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic, Protocol, TypeVar

from pghistory_core.errors import ConfigurationError
from pghistory_core.transport import NOTHING, Action, Plan, TransportState, TxStatus

__all__ = ["ATTRIBUTE", "AsyncBinding", "Binding", "Planned", "binding_of", "text_reader"]

#: The connection attribute holding the binding.
ATTRIBUTE = "_pghistory_binding"

Q = TypeVar("Q")
K = TypeVar("K")


class _Connection(Protocol):
    @property
    def autocommit(self) -> bool: ...


C = TypeVar("C", bound=_Connection)


class _BindingBase:
    __slots__ = ("state", "last_query", "last_text")

    def __init__(self) -> None:
        self.state = TransportState()
        # The text of the last composed query: a loop executing one sql.Composed object
        # renders it once, not once per statement.
        self.last_query: object = None
        self.last_text: str | None = None


class Binding(_BindingBase):
    """Transport state and lock of one synchronous connection."""

    __slots__ = ("lock",)

    def __init__(self) -> None:
        super().__init__()
        # Re-entrant: the autocommit COPY path opens conn.transaction(), which records a
        # transaction boundary under the same lock.
        self.lock = threading.RLock()


class AsyncBinding(_BindingBase):
    """Transport state and lock of one asyncio connection."""

    __slots__ = ("lock",)

    def __init__(self) -> None:
        super().__init__()
        self.lock = asyncio.Lock()


def binding_of(conn: object) -> Binding | AsyncBinding:
    """The binding of *conn*, or a clear error for a connection this package did not make."""
    binding = getattr(conn, ATTRIBUTE, None)
    if not isinstance(binding, (Binding, AsyncBinding)):
        raise ConfigurationError(
            f"{type(conn).__module__}.{type(conn).__qualname__} is not instrumented for pghistory context: "
            "connect with pghistory_psycopg.connect() / AsyncConnection.connect() "
            "(psycopg2: connection_factory=pghistory_psycopg.Psycopg2Connection), or call "
            "pghistory_psycopg.instrument(conn)"
        )
    return binding


def sync_binding(conn: object) -> Binding:
    binding = binding_of(conn)
    if not isinstance(binding, Binding):  # pragma: no cover - the classes pair them
        raise ConfigurationError(f"{type(conn).__qualname__} carries an asyncio binding")
    return binding


def async_binding(conn: object) -> AsyncBinding:
    binding = binding_of(conn)
    if not isinstance(binding, AsyncBinding):  # pragma: no cover - the classes pair them
        raise ConfigurationError(f"{type(conn).__qualname__} carries a synchronous binding")
    return binding


def text_reader(conn: K, query: Q, read: Callable[[Q, K], str | None]) -> Callable[[], str | None]:
    """A callable giving the text of *query* (for :meth:`TransportState.plan`), rendered by
    *read* at most once for consecutive statements with the same query object."""

    def text() -> str | None:
        binding = binding_of(conn)
        if binding.last_query is query:
            return binding.last_text
        result = read(query, conn)
        binding.last_query, binding.last_text = query, result
        return result

    return text


class Planned(Generic[C]):
    """``with Planned(conn, text, status) as plan``: decide with the core's rules, run the
    block, record the outcome, holding the connection's binding lock throughout.

    *text* is what :meth:`TransportState.plan` takes; *status* reads the connection's
    transaction status (driver specific).
    """

    __slots__ = ("_conn", "_binding", "_text", "_status", "plan")

    def __init__(self, conn: C, text: str | Callable[[], str | None] | None, status: Callable[[C], TxStatus]) -> None:
        self._conn = conn
        self._binding = sync_binding(conn)
        self._text = text
        self._status = status

    def __enter__(self) -> Plan:
        binding = self._binding
        binding.lock.acquire()
        state = binding.state
        if state.needs_nothing():
            # Outside contexts: no status read, no text read, nothing to record.
            self.plan = NOTHING
            return NOTHING
        try:
            self.plan = state.plan(self._status(self._conn), bool(self._conn.autocommit), self._text)
        except BaseException:
            binding.lock.release()
            raise
        return self.plan

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            plan = self.plan
            if plan.action is not Action.PASS or plan.resets:
                self._binding.state.done(plan, self._status(self._conn))
        finally:
            self._binding.lock.release()
