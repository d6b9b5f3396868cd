"""Context transport through Django: an execute wrapper on every database connection.

Layer: adapter (Django runtime). :func:`install` adds :func:`execute_wrapper` to the
``execute_wrappers`` of every database connection Django opens, for every alias
(``connection_created``; Django's official hook, see "Database instrumentation"), and to
connections already open. Outside a context the wrapper costs two context-variable reads.
Inside one it follows the core's rules (:class:`pghistory_core.transport.TransportState`,
one per connection, reading the driver's transaction status):

- ``BEFORE`` (inside ``atomic``, or a transaction already open): the context statement runs
  on a plain driver cursor first, once per transaction (again only when the context
  changes);
- ``TOGETHER`` (Django's autocommit mode: every write is its own transaction): the context
  comment (:func:`pghistory_core.transport.context_comment`) goes in front of the write's
  text, which then runs as it would without pghistory: one statement, whatever the cursor
  and binding. Only while the database still holds triggers that cannot read the comment
  (installed by an older release or by django-pghistory, until ``migrate`` replaces them)
  are the context statement and the write sent together instead, in one implicit
  transaction and one round trip. When the
  driver sends the text with the simple query protocol (psycopg 2 always; psycopg 3 with
  Django's default client-side binding cursor, or without parameters) the statement is put
  in front of the write's text (``%`` doubled when parameters follow, so the driver's
  placeholder parsing is unaffected) and, for psycopg 3, the cursor skips to the write's
  result; otherwise (psycopg 3 server-side binding, ``executemany``) both are sent in one
  psycopg 3 pipeline. psycopg 2 ``executemany`` gets the statement in front of each
  execution.

Contexts live in :mod:`contextvars`, so each thread and asyncio task (including Django's
``sync_to_async`` threads, which copy the caller's context) sends its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Union

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

from pghistory_core.transport import NOTHING, Action, Plan, TransportState, TxStatus, status_from_libpq

__all__ = ["execute_wrapper", "install"]

Params = Union[Sequence[object], Mapping[str, object], None]
Execute = Callable[[str, Params, bool, Mapping[str, object]], object]

#: Attribute on Django's connection wrapper: (driver connection, transport state).
_STATE = "_pghistory_transport"


def _status(driver: object) -> TxStatus:
    pgconn = getattr(driver, "pgconn", None)  # psycopg 3
    if pgconn is not None and getattr(pgconn, "pipeline_status", None):
        return TxStatus.UNKNOWN
    info = getattr(driver, "info", None)
    if info is None:  # pragma: no cover - psycopg2 < 2.8 is not supported by Django
        return TxStatus.UNKNOWN
    return status_from_libpq(int(info.transaction_status))


def _state(connection: BaseDatabaseWrapper, driver: object) -> TransportState:
    held = connection.__dict__.get(_STATE)
    if held is None or held[0] is not driver:
        # A new driver connection (reconnect): nothing was sent on it.
        held = (driver, TransportState())
        connection.__dict__[_STATE] = held
    return held[1]  # type: ignore[no-any-return]


def _is_psycopg3(driver: object) -> bool:
    return type(driver).__module__.split(".")[0] == "psycopg"


def _joinable(driver: object, cursor: object, params: Params, many: bool) -> bool:
    if not _is_psycopg3(driver):
        return True  # psycopg2 merges parameters client side and sends a simple query
    if many:
        return False
    if params is None:
        return True
    import psycopg

    return isinstance(cursor, psycopg.ClientCursor)


def _server_side(cursor: object) -> bool:
    """A named (server-side) cursor: psycopg 3 ``ServerCursor`` or a psycopg2 cursor with a name."""
    if cursor is None:
        return False
    if type(cursor).__module__.split(".")[0] == "psycopg":
        import psycopg

        return isinstance(cursor, psycopg.ServerCursor)
    return bool(getattr(cursor, "name", None))


def _joined(statement: str, text: str, params: Params) -> str:
    if params is not None:
        # The driver will parse placeholders in the whole text: keep the context
        # statement's own "%" literal.
        statement = statement.replace("%", "%%")
    return statement + ";\n" + text


def _comments_ready(driver: object, state: TransportState) -> bool:
    """Whether the database's triggers read the context comment (probed once per driver
    connection, remembered for the process when they do)."""
    info = getattr(driver, "info", None)
    database = (getattr(info, "host", None), getattr(info, "port", None), getattr(info, "dbname", None)) if info else None
    return state.comments_ready_on(driver, database)  # type: ignore[arg-type]


def _send(driver: object, statement: str) -> None:
    cursor = driver.cursor()  # type: ignore[attr-defined]
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


def execute_wrapper(execute: Execute, sql: str, params: Params, many: bool, context: Mapping[str, object]) -> object:
    """Django execute wrapper sending the pghistory context (see the module docstring)."""
    connection: BaseDatabaseWrapper = context["connection"]  # type: ignore[assignment]
    driver = connection.connection
    if driver is None or connection.vendor != "postgresql":
        return execute(sql, params, many, context)
    state = _state(connection, driver)
    if state.needs_nothing():
        return execute(sql, params, many, context)
    plan: Plan = state.plan(_status(driver), bool(driver.autocommit), sql)
    if plan is NOTHING or plan.action is Action.PASS:
        try:
            return execute(sql, params, many, context)
        finally:
            state.done(plan, _status(driver))
    try:
        if plan.action is Action.BEFORE:
            _send(driver, plan.statement)
            return execute(sql, params, many, context)
        django_cursor = context["cursor"]
        cursor = getattr(django_cursor, "cursor", None)
        if _server_side(cursor):
            # Django opens server-side cursors only for QuerySet.iterator(), a read: no
            # context needed, and psycopg refuses them in a pipeline (a DECLARE cannot share
            # a query string either).
            plan = Plan(Action.PASS, count=plan.count, resets=plan.resets)
            return execute(sql, params, many, context)
        if _comments_ready(driver, state):
            # The context comment in front of the write: one statement, the user's.
            if params is not None and not many and _is_psycopg3(driver) and _joinable(driver, cursor, params, many):
                # A client-side cursor: merge the parameters into the user's text first
                # (psycopg caches the parsing of that text, which recurs; the commented
                # text is new for every context).
                sql, params = cursor.mogrify(sql, params), None  # type: ignore[union-attr]
            return execute(plan.comment + sql, params, many, context)
        if _joinable(driver, cursor, params, many):
            if params is not None and _is_psycopg3(driver):
                # A client-side cursor: merge the parameters into the user's text first.
                # psycopg caches the parsing of a text it has seen, and the user's text
                # recurs while the joined one (with a fresh context id) never does.
                sql, params = cursor.mogrify(sql, params), None  # type: ignore[union-attr]
            result = execute(_joined(plan.statement, sql, params), params, many, context)
            if _is_psycopg3(driver) and not many and cursor is not None:
                cursor.nextset()  # skip the context statement's result
            return result
        with driver.pipeline():  # type: ignore[attr-defined]
            _send(driver, plan.statement)
            return execute(sql, params, many, context)
    finally:
        state.done(plan, _status(driver))


def _add(connection: BaseDatabaseWrapper) -> None:
    if execute_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(execute_wrapper)


def _on_connection_created(sender: object, connection: BaseDatabaseWrapper, **kwargs: object) -> None:
    _add(connection)


def install() -> None:
    """Wire the context to every database alias (idempotent)."""
    connection_created.connect(_on_connection_created, dispatch_uid="pghistory_django.runtime")
    for connection in connections.all(initialized_only=True):
        _add(connection)
