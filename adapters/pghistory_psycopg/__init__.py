"""pghistory_psycopg: the pghistory context for scripts that use psycopg directly.

Layer: adapter (raw drivers). It imports psycopg (3), psycopg2 (only when its names are
used) and :mod:`pghistory_core`, nothing else. Connections made here apply the core's
transport rules (:mod:`pghistory_core.transport`) to every statement, so the triggers see
the context of the thread or task that runs it::

    import pghistory_core as ph
    import pghistory_psycopg

    with pghistory_psycopg.connect(dsn, autocommit=True) as conn, ph.context(user="ada"):
        conn.execute("UPDATE cash SET dollars = dollars + %s WHERE id = %s", (10, 1))

psycopg 3
    :func:`connect` / :class:`Connection`, ``await`` :func:`connect_async` /
    :class:`AsyncConnection`, :func:`instrument` for a connection made elsewhere, and the
    instrumented cursor classes (:class:`Cursor` for server-side binding, the default;
    :class:`ClientCursor` for client-side binding; :class:`RawCursor`;
    :class:`ServerCursor` for named cursors; their ``Async`` twins). A ``cursor_factory``
    given to the connection is instrumented automatically. With ``psycopg_pool``, pass
    ``connection_class=pghistory_psycopg.Connection``.

psycopg 2
    ``psycopg2.connect(dsn, connection_factory=pghistory_psycopg.Psycopg2Connection)`` or
    :func:`psycopg2_connect`; every cursor of such a connection is instrumented, whatever
    its ``cursor_factory``.

Nothing is sent outside a context (no extra statement, no extra round trip); inside one,
at most one statement per transaction, and none extra per statement in autocommit mode.
See ``docs/context.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pghistory_psycopg._psycopg3 import (
    AsyncClientCursor,
    AsyncConnection,
    AsyncCursor,
    AsyncRawCursor,
    AsyncServerCursor,
    ClientCursor,
    Connection,
    Cursor,
    RawCursor,
    ServerCursor,
    connect,
    connect_async,
    instrument,
    instrumented_cursor,
)

if TYPE_CHECKING:
    from pghistory_psycopg._psycopg2 import (
        Psycopg2Connection,
        Psycopg2Cursor,
        psycopg2_connect,
        psycopg2_cursor_class,
    )

__all__ = [
    "AsyncClientCursor",
    "AsyncConnection",
    "AsyncCursor",
    "AsyncRawCursor",
    "AsyncServerCursor",
    "ClientCursor",
    "Connection",
    "Cursor",
    "Psycopg2Connection",
    "Psycopg2Cursor",
    "RawCursor",
    "ServerCursor",
    "connect",
    "connect_async",
    "instrument",
    "instrumented_cursor",
    "psycopg2_connect",
    "psycopg2_cursor_class",
]

_PSYCOPG2_NAMES = frozenset({"Psycopg2Connection", "Psycopg2Cursor", "psycopg2_connect", "psycopg2_cursor_class"})


def __getattr__(name: str) -> object:
    # psycopg2 is optional (the `psycopg2` extra): imported only when its names are used.
    if name in _PSYCOPG2_NAMES:
        from pghistory_psycopg import _psycopg2

        return getattr(_psycopg2, name)
    raise AttributeError(f"module 'pghistory_psycopg' has no attribute {name!r}")
