"""Runtime: the tracking context through SQLAlchemy engines and sessions.

Layer: adapter (runtime, through SQLAlchemy's connection and dialect events).
``instrument(engine)`` is explicit (nothing is patched on import) and works for ``Engine``
and ``AsyncEngine`` (its ``sync_engine``), with psycopg 3 (sync and async) and psycopg2,
and with SQLAlchemy's default server-side parameter binding: statements are never
rewritten.

When to send the context statement is decided by the core's transport rules
(:class:`pghistory_core.transport.TransportState`, one per DBAPI connection, kept in the
pooled connection's ``info``); this module only feeds them the connection's transaction
status, autocommit flag and statement text, and executes what they decide:

- ``before_cursor_execute``: :meth:`~pghistory_core.transport.TransportState.plan`; for
  ``BEFORE`` the context statement is sent first, on its own cursor (the statement's
  cursor may be a named/server-side one) of the same DBAPI connection, in the transaction
  that is open or that the driver is about to open;
- ``after_cursor_execute`` / ``handle_error``:
  :meth:`~pghistory_core.transport.TransportState.done` with the status after the statement;
- ``commit`` / ``rollback`` (the driver's own ``commit()``, no statement passes):
  :meth:`~pghistory_core.transport.TransportState.transaction_boundary`;
  ``rollback_savepoint``: :meth:`~pghistory_core.transport.TransportState.savepoint_rolled_back`.

So: one extra statement per transaction, again only when the context or the ignore switch
changes or after ``ROLLBACK TO SAVEPOINT``; nothing outside a context; statements that
cannot run in a transaction block pass untouched; nothing outlives the transaction (safe
behind PgBouncer in transaction mode). ``executemany`` goes through the same hooks once
per batch.

AUTOCOMMIT isolation level (``TOGETHER``): the ``do_execute``, ``do_execute_no_params``
and ``do_executemany`` dialect events put the context comment
(:func:`pghistory_core.transport.context_comment`) in front of the statement's text and
execute it as SQLAlchemy would: one statement, with every driver. Only while the
database holds triggers that cannot read the comment (installed by an older release;
probed once per connection) the context statement is sent instead, as follows.
The context statement and the user's statement
must share one implicit transaction, in one round trip. The ``do_execute``,
``do_execute_no_params`` and ``do_executemany`` dialect events execute the statement
themselves then:

- psycopg 3 (sync): inside ``connection.pipeline()``, the context statement on its own
  cursor, then the statement (with its parameters, server-side bound) on SQLAlchemy's
  cursor: a pipeline sends one Sync at its end, so both run in one implicit transaction;
- psycopg2: ``context statement + '; ' + cursor.mogrify(statement, parameters)`` as one
  query (a simple-query string is one implicit transaction); ``executemany`` sends one
  such string per parameter set, as psycopg2's own ``executemany`` sends one statement per
  set;
- psycopg 3 *async* engines (the async pipeline cannot be entered from SQLAlchemy's sync
  event hooks), and texts holding several statements under psycopg 3 (a pipeline takes one
  statement per ``execute``): the hooks open the transaction themselves. ``BEGIN`` and the
  context statement go as one query before the statement, ``COMMIT`` after it (``ROLLBACK``
  if it failed): three round trips instead of one, and the statement still commits on its
  own, as AUTOCOMMIT promises. The async driver is awaited from the hooks with
  SQLAlchemy's ``await_only`` (the hooks run in the greenlet SQLAlchemy's asyncio layer
  spawned for the call).

Async: SQLAlchemy runs the sync hooks in a greenlet that shares the calling task's
``contextvars`` context, so each task's ``ph.context`` is the one its statements see.
"""

from __future__ import annotations

import dataclasses
import weakref
from typing import Any
from collections.abc import Callable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

import pghistory_core as ph
from pghistory_core import transport
from pghistory_core.transport import Action, Plan, TransportState, TxStatus

__all__ = ["instrument", "is_instrumented"]

_STATE_KEY = "pghistory_transport"
_PLAN_KEY = "pghistory_plan"
#: Set while an AUTOCOMMIT statement runs in a transaction the hooks opened (see module doc).
_WRAP_KEY = "pghistory_wrapped"
#: Set when an AUTOCOMMIT statement carries the context as a comment (see module doc).
_COMMENT_KEY = "pghistory_comment"

_instrumented: weakref.WeakSet[sa.Engine] = weakref.WeakSet()


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
    event.listen(sync_engine, "after_cursor_execute", _after_cursor_execute)
    event.listen(sync_engine, "handle_error", _handle_error)
    event.listen(sync_engine, "commit", _boundary)
    event.listen(sync_engine, "rollback", _boundary)
    event.listen(sync_engine, "rollback_savepoint", _savepoint_rolled_back)
    event.listen(sync_engine, "do_execute", _do_execute)
    event.listen(sync_engine, "do_execute_no_params", _do_execute_no_params)
    event.listen(sync_engine, "do_executemany", _do_executemany)
    _instrumented.add(sync_engine)


def is_instrumented(engine: sa.Engine | AsyncEngine) -> bool:
    return _sync_engine(engine) in _instrumented


# ---------------------------------------------------------------- driver differences


def _driver_connection(conn: sa.Connection) -> object | None:
    return conn.connection.driver_connection


def _driver(raw: object) -> str:
    """``psycopg`` (sync), ``psycopg_async``, ``psycopg2`` or ``other``."""
    module = type(raw).__module__.split(".")[0]
    if module == "psycopg":
        return "psycopg_async" if type(raw).__name__ == "AsyncConnection" else "psycopg"
    return module if module == "psycopg2" else "other"


def _status(raw: object) -> TxStatus:
    driver = _driver(raw)
    if driver in ("psycopg", "psycopg_async"):
        return transport.status_from_libpq(int(raw.info.transaction_status))  # type: ignore[attr-defined]
    if driver == "psycopg2":
        return transport.status_from_libpq(int(raw.get_transaction_status()))  # type: ignore[attr-defined]
    return TxStatus.UNKNOWN


def _state(conn: sa.Connection) -> TransportState:
    state = conn.info.get(_STATE_KEY)
    if state is None:
        state = conn.info[_STATE_KEY] = TransportState()
    return state


# ------------------------------------------------------------------------------ hooks


def _before_cursor_execute(
    conn: sa.Connection,
    cursor: object,
    statement: str,
    parameters: object,
    context: object,
    executemany: bool,
) -> None:
    state = _state(conn)
    if state.needs_nothing():
        conn.info.pop(_PLAN_KEY, None)
        return
    raw = _driver_connection(conn)
    if raw is None:
        return
    plan = state.plan(_status(raw), bool(getattr(raw, "autocommit", False)), statement)
    conn.info.pop(_COMMENT_KEY, None)
    if plan.action is Action.TOGETHER:
        mode = "comment" if _driver(raw) != "other" and _comments_ready(raw, state) else _together_mode(raw, plan)
        if mode == "comment":
            conn.info[_COMMENT_KEY] = True
        elif mode is None:
            plan = transport.NOTHING
        elif mode == "wrap":
            _begin_with_context(raw, plan.statement)
            conn.info[_WRAP_KEY] = True
            # From here on an ordinary statement inside a transaction that holds the context.
            conn.info[_PLAN_KEY] = dataclasses.replace(plan, action=Action.BEFORE)
            return
    conn.info[_PLAN_KEY] = plan
    if plan.action is Action.BEFORE:
        dbapi_connection = conn.connection.dbapi_connection
        assert dbapi_connection is not None  # checked out: driver_connection was not None
        extra = dbapi_connection.cursor()
        try:
            extra.execute(plan.statement)
        finally:
            extra.close()


def _finish(conn: sa.Connection, failed: bool = False) -> None:
    plan = conn.info.pop(_PLAN_KEY, None)
    wrapped = conn.info.pop(_WRAP_KEY, False)
    conn.info.pop(_COMMENT_KEY, None)
    if plan is None:
        return
    raw = _driver_connection(conn)
    try:
        if wrapped and raw is not None:
            _run_raw(raw, "ROLLBACK" if failed else "COMMIT")
    finally:
        _state(conn).done(plan, _status(raw) if raw is not None else TxStatus.UNKNOWN)


def _after_cursor_execute(
    conn: sa.Connection, cursor: object, statement: str, parameters: object, context: object, executemany: bool
) -> None:
    _finish(conn)


def _handle_error(exception_context: sa.engine.ExceptionContext) -> None:
    conn = exception_context.connection
    if conn is not None and not conn.closed and not conn.invalidated:
        _finish(conn, failed=True)


def _boundary(conn: sa.Connection) -> None:
    _state(conn).transaction_boundary()


def _savepoint_rolled_back(conn: sa.Connection, name: str, context: object) -> None:
    _state(conn).savepoint_rolled_back()


# ------------------------------------------------------------------- autocommit (TOGETHER)


def _comments_ready(raw: Any, state: TransportState) -> bool:
    """Whether the database's triggers read the context comment (probed once per DBAPI
    connection, remembered for the process when they do)."""
    info = raw.info
    database = (info.host, info.port, info.dbname)
    if _driver(raw) != "psycopg_async":
        return state.comments_ready_on(raw, database)

    def scalar(statement: str) -> object:
        row = _await(_await(raw.execute(statement)).fetchone())
        return row[0] if row else None

    return state.comments_ready(database, scalar)


def _together_mode(raw: object, plan: Plan) -> str | None:
    """How a ``TOGETHER`` plan is carried out on *raw*: ``pipeline`` (psycopg 3, one
    statement), ``join`` (psycopg2), ``wrap`` (psycopg 3 async, or several statements), or
    None (another driver: no context)."""
    driver = _driver(raw)
    if driver == "psycopg" and plan.count <= 1:
        return "pipeline"
    if driver == "psycopg2":
        return "join"
    if driver in ("psycopg", "psycopg_async"):
        return "wrap"
    return None


#: SQLAlchemy's bridge from its sync hooks to the asyncio driver (``await_`` in 2.1).
_await: Callable[[Any], Any] = getattr(sa.util, "await_only", None) or sa.util.await_  # type: ignore[attr-defined]


def _run_raw(raw: Any, text: str) -> None:
    """Run *text* (no parameters: the simple-query protocol) on the driver connection."""
    if _driver(raw) == "psycopg_async":
        _await(raw.execute(text))
    else:
        raw.execute(text)


def _begin_with_context(raw: object, statement: str) -> None:
    """``BEGIN`` and the context statement in one query; if it fails, leave no open block."""
    try:
        _run_raw(raw, "BEGIN; " + statement)
    except BaseException:
        if _status(raw) is not TxStatus.IDLE:
            _run_raw(raw, "ROLLBACK")
        raise


def _commented(context: object, statement: str) -> str | None:
    """*statement* with the context comment in front, when the hook chose that mode."""
    info = context.root_connection.info  # type: ignore[attr-defined]
    plan = info.get(_PLAN_KEY)
    return plan.comment + statement if info.get(_COMMENT_KEY) and isinstance(plan, Plan) else None


def _together(context: sa.engine.default.DefaultExecutionContext) -> Plan | None:
    try:
        info = context.root_connection.info
    except NotImplementedError:
        # The dialect's own first-connect queries: an ad-hoc connection without ``info``
        # (and without connection events, so nothing was planned).
        return None
    plan = info.get(_PLAN_KEY)
    if isinstance(plan, Plan) and plan.action is Action.TOGETHER:
        return plan
    return None


def _run_together(
    context: sa.engine.default.DefaultExecutionContext,
    plan: Plan,
    cursor: object,
    run: Callable[[], object],
    mogrified: Callable[[], Sequence[bytes | str]],
) -> None:
    raw: Any = context.root_connection.connection.driver_connection
    if _driver(raw) == "psycopg":
        # One pipeline: one Sync at its end, so one implicit transaction for both.
        with raw.pipeline():
            extra = raw.cursor()
            try:
                extra.execute(plan.statement)
                run()
            finally:
                extra.close()
        return
    # psycopg2: a simple-query string holding both statements is one implicit transaction.
    for text in mogrified():
        query = text.decode() if isinstance(text, bytes) else text
        cursor.execute(plan.statement + "; " + query)  # type: ignore[attr-defined]


def _plain(parameters: object) -> object:
    # psycopg2's mogrify takes a dict or a sequence, not SQLAlchemy's immutabledict.
    return dict(parameters) if isinstance(parameters, Mapping) else parameters


def _do_execute(cursor: object, statement: str, parameters: object, context: object) -> bool | None:
    plan = _together(context)  # type: ignore[arg-type]
    if plan is None:
        return None
    commented = _commented(context, statement)
    if commented is not None:
        cursor.execute(commented, parameters)  # type: ignore[attr-defined]
        return True
    _run_together(
        context,  # type: ignore[arg-type]
        plan,
        cursor,
        lambda: cursor.execute(statement, parameters),  # type: ignore[attr-defined]
        lambda: [cursor.mogrify(statement, _plain(parameters))],  # type: ignore[attr-defined]
    )
    return True


def _do_execute_no_params(cursor: object, statement: str, context: object) -> bool | None:
    plan = _together(context)  # type: ignore[arg-type]
    if plan is None:
        return None
    commented = _commented(context, statement)
    if commented is not None:
        cursor.execute(commented)  # type: ignore[attr-defined]
        return True
    _run_together(
        context,  # type: ignore[arg-type]
        plan,
        cursor,
        lambda: cursor.execute(statement),  # type: ignore[attr-defined]
        # No parameters: the text goes as is (psycopg2 then reads no placeholders).
        lambda: [statement],
    )
    return True


def _do_executemany(cursor: object, statement: str, parameters: Sequence[object], context: object) -> bool | None:
    plan = _together(context)  # type: ignore[arg-type]
    if plan is None:
        return None
    commented = _commented(context, statement)
    if commented is not None:
        cursor.executemany(commented, parameters)  # type: ignore[attr-defined]
        return True
    _run_together(
        context,  # type: ignore[arg-type]
        plan,
        cursor,
        lambda: cursor.executemany(statement, parameters),  # type: ignore[attr-defined]
        lambda: [cursor.mogrify(statement, _plain(params)) for params in parameters],  # type: ignore[attr-defined]
    )
    return True
