"""Runtime: the tracking context through SQLAlchemy engines and sessions.

Layer: adapter (runtime, through SQLAlchemy's connection events). ``instrument(engine)``
is explicit (nothing is patched on import) and works for ``Engine`` and ``AsyncEngine``
(its ``sync_engine``), with psycopg 3 (sync and async) and psycopg2, and with SQLAlchemy's
default server-side parameter binding: statements are never rewritten.

Rules (the core's transport rules, applied per SQLAlchemy transaction):

- before a statement runs, if the active context or ignore switch of the current
  thread/task (``ph.current()``, ``ph.is_ignored()``) differs from what was last sent in
  this transaction, the core's ``SELECT set_config(..., true)`` statement
  (:func:`pghistory_core.transport.context_statement`) is sent first, on its own cursor
  (the statement's cursor may be a named/server-side one) of the same DBAPI connection;
- so: one extra statement per transaction, re-sent only when the context id, its
  metadata (``ActiveContext.version``) or the ignore switch changes; nothing when no
  context is active and nothing was sent in this transaction;
- what was sent is forgotten on commit and rollback (the settings are transaction-local,
  so nothing outlives the transaction: safe behind PgBouncer in transaction mode), and
  after ``ROLLBACK TO SAVEPOINT`` (which restores the settings of before the savepoint);
- ``executemany`` (ORM bulk inserts, Core ``insert()`` with many rows) goes through the
  same hook, once per batch, so the check costs nothing after the first batch.

Not covered: connections in ``AUTOCOMMIT`` isolation level. Each statement is its own
transaction there, so a transaction-local setting cannot reach it without rewriting the
statement; the hook sends nothing and the events get no context. Use a transaction
(the SQLAlchemy default) when a context matters.

Async: SQLAlchemy runs the sync hooks in a greenlet that shares the calling task's
``contextvars`` context, so each task's ``ph.context`` is the one its statements see.
"""

from __future__ import annotations

import weakref

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

import pghistory_core as ph
from pghistory_core import transport

__all__ = ["instrument", "is_instrumented"]

_SENT_KEY = "pghistory_sent"
#: Marks "the server's settings are unknown" (after a savepoint rollback): always resend.
_UNKNOWN = object()
#: Set by the rollback_savepoint event, which fires just before SQLAlchemy executes
#: ``ROLLBACK TO SAVEPOINT``: sending on that statement would be undone by it.
_ROLLING_BACK = object()

_instrumented: weakref.WeakSet[sa.Engine] = weakref.WeakSet()

_Wanted = tuple[object, int, bool] | None


def _sync_engine(engine: sa.Engine | AsyncEngine) -> sa.Engine:
    if isinstance(engine, AsyncEngine):
        return engine.sync_engine
    if isinstance(engine, sa.Engine):
        return engine
    raise ph.ConfigurationError(f"instrument() needs an Engine or AsyncEngine, got {engine!r}")


def instrument(engine: sa.Engine | AsyncEngine) -> None:
    """Send the tracking context with every transaction on *engine* (idempotent)."""
    sync_engine = _sync_engine(engine)
    if sync_engine in _instrumented:
        return
    event.listen(sync_engine, "before_cursor_execute", _before_cursor_execute)
    event.listen(sync_engine, "commit", _forget)
    event.listen(sync_engine, "rollback", _forget)
    event.listen(sync_engine, "rollback_savepoint", _unknown_after_savepoint_rollback)
    _instrumented.add(sync_engine)


def is_instrumented(engine: sa.Engine | AsyncEngine) -> bool:
    return _sync_engine(engine) in _instrumented


def _wanted() -> _Wanted:
    active = ph.current()
    ignored = ph.is_ignored()
    if active is None and not ignored:
        return None
    if active is None:
        return (None, 0, ignored)
    return (active.id, active.version, ignored)


def _transaction_key(conn: sa.Connection) -> int:
    # The root transaction object is new for every SQLAlchemy transaction; together with
    # the commit/rollback events it tells "this transaction" apart from an earlier one on
    # the same pooled DBAPI connection.
    return id(conn.get_transaction())


def _before_cursor_execute(
    conn: sa.Connection,
    cursor: object,
    statement: str,
    parameters: object,
    context: object,
    executemany: bool,
) -> None:
    wanted = _wanted()
    sent = conn.info.get(_SENT_KEY)
    key = _transaction_key(conn)
    last = sent[1] if sent is not None and sent[0] == key else None
    if last is _ROLLING_BACK:
        conn.info[_SENT_KEY] = (key, _UNKNOWN)
        if statement.lstrip().upper().startswith("ROLLBACK TO SAVEPOINT"):
            return
        last = _UNKNOWN
    if last == wanted:
        return
    dbapi_connection = conn.connection.dbapi_connection
    if dbapi_connection is None or getattr(dbapi_connection, "autocommit", False):
        return  # AUTOCOMMIT: see the module docstring
    active = ph.current()
    raw = dbapi_connection.cursor()
    try:
        raw.execute(transport.context_statement(active, ph.is_ignored()))
    finally:
        raw.close()
    conn.info[_SENT_KEY] = (key, wanted)


def _forget(conn: sa.Connection) -> None:
    conn.info.pop(_SENT_KEY, None)


def _unknown_after_savepoint_rollback(conn: sa.Connection, name: str, context: object) -> None:
    sent = conn.info.get(_SENT_KEY)
    if sent is not None:
        conn.info[_SENT_KEY] = (sent[0], _ROLLING_BACK)
