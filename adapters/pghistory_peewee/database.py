"""Context transport through Peewee's ``Database``: history-aware database classes.

Layer: adapter (runtime). :class:`HistoryDatabaseMixin` overrides ``execute_sql`` (the
one method every Peewee query, ``save()``, ``insert_many()``, ``update()``, ``delete()``
and raw ``db.execute_sql`` goes through) and ``begin``/``commit``/``rollback``. Peewee has
no query hook that can add a statement before a query runs, and subclassing the database
is Peewee's own way to extend it (``playhouse.pool`` and ``playhouse.postgres_ext`` are
mixins and subclasses too), so that is the extension point: nothing is patched.

The rules are the core's (:class:`pghistory_core.transport.TransportState`, documented in
:mod:`pghistory_core.transport`); this module only executes its decisions:

- With no context active and no ``ignore()``, queries pass through untouched (two
  ``ContextVar`` reads of overhead).
- Inside a transaction (``db.atomic()``, ``db.transaction()``, ``db.manual_commit()`` +
  ``db.begin()``), the context statement (``SELECT set_config(..., true)``) runs once
  before the first statement of the transaction, and again only if the context changed,
  after a ``ROLLBACK TO SAVEPOINT`` (Postgres reverts local settings made inside a rolled
  back savepoint), or to clear it when the context block ended inside the transaction.
- Outside a transaction Peewee runs each statement in autocommit; the context comment
  (:func:`pghistory_core.transport.context_comment`) then goes in front of the query's
  text: one statement, nothing else sent. While the database holds triggers that cannot
  read the comment (installed by an older release; probed once per connection), the
  context statement and the query share one implicit transaction, in one round trip: with psycopg2 as
  one query string (``<context>;<query>``; ``%`` in the context statement is doubled
  because psycopg2 interpolates the whole string, Peewee always passing a tuple), with
  psycopg 3 (server-side binding: one statement per execute) in a pipeline, or as one
  string when the query text holds several statements. Statements that cannot run in a
  transaction block (``VACUUM``, ``CREATE INDEX CONCURRENTLY``, ...) and transaction
  control pass through untouched. Server-side (named) cursors, which Peewee uses only
  for ``SELECT``, are never combined.
- Settings are transaction-local (``set_config(..., true)``): nothing outlives the
  transaction on the server session, so pooled connections (``playhouse.pool``) and
  PgBouncer in transaction mode never leak a context to the next user.

Peewee's query log and ``query_hooks`` see the query with its comment in autocommit mode
(the combined text in the psycopg2 statement fallback). Driver differences (psycopg2 or psycopg 3, chosen by Peewee per database) are read
from the connection, in :meth:`HistoryDatabaseMixin._together` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import peewee

from pghistory_core import db as core_db
from pghistory_core.context import current, is_ignored
from pghistory_core.transport import Action, Plan, TransportState, TxStatus, status_from_libpq

if TYPE_CHECKING:
    _Base = peewee.PostgresqlDatabase
else:
    _Base = object

__all__ = [
    "HistoryDatabaseMixin",
    "HistoryPostgresqlDatabase",
    "HistoryPooledPostgresqlDatabase",
    "HistoryPostgresqlExtDatabase",
    "HistoryPooledPostgresqlExtDatabase",
    "HistoryPsycopg3Database",
    "HistoryPooledPsycopg3Database",
    "with_history",
]


def _status(conn: object) -> TxStatus:
    if core_db.driver_name(conn) == "psycopg":
        return status_from_libpq(int(conn.info.transaction_status))  # type: ignore[attr-defined]
    return status_from_libpq(int(conn.get_transaction_status()))  # type: ignore[attr-defined]


class HistoryDatabaseMixin(_Base):
    """Sends the pghistory context with Peewee's queries; put it first in the bases:
    ``class MyDatabase(HistoryDatabaseMixin, PooledPostgresqlExtDatabase)``."""

    def _pgh_transport(self, conn: object) -> TransportState:
        # Peewee's _state is per thread (and holds the thread's pooled connection): one
        # TransportState per connection checked out by this thread.
        held = getattr(self._state, "pgh_transport", None)  # type: ignore[attr-defined]
        if held is None or held[0] is not conn:
            held = (conn, TransportState())
            self._state.pgh_transport = held  # type: ignore[attr-defined]
        return held[1]  # type: ignore[no-any-return]

    def _pgh_boundary(self) -> None:
        held = getattr(self._state, "pgh_transport", None)  # type: ignore[attr-defined]
        if held is not None:
            held[1].transaction_boundary()

    def _pgh_comments_ready(self, conn: object) -> bool:
        """Whether the database's triggers read the context comment (probed once per
        connection, remembered for the process when they do)."""
        info = conn.info  # type: ignore[attr-defined]
        with peewee.__exception_wrapper__:  # type: ignore[attr-defined]
            return self._pgh_transport(conn).comments_ready_on(conn, (info.host, info.port, info.dbname))  # type: ignore[arg-type]

    # Peewee begins, commits and rolls back with its own cursor, not through execute_sql.
    def begin(self, *args: object, **kwargs: object) -> None:
        self._pgh_boundary()
        super().begin(*args, **kwargs)  # type: ignore[arg-type]

    def commit(self, *args: object, **kwargs: object) -> None:
        try:
            super().commit(*args, **kwargs)
        finally:
            self._pgh_boundary()

    def rollback(self, *args: object, **kwargs: object) -> None:
        try:
            super().rollback(*args, **kwargs)
        finally:
            self._pgh_boundary()

    def execute_sql(self, sql: str, params: object = None, *args: object, **kwargs: object) -> object:
        if current() is None and not is_ignored():
            held = getattr(self._state, "pgh_transport", None)  # type: ignore[attr-defined]
            if held is None or not held[1].sent_in_transaction:
                return super().execute_sql(sql, params, *args, **kwargs)  # nothing to send
        if self.is_closed():
            if not self.autoconnect:
                return super().execute_sql(sql, params, *args, **kwargs)  # let Peewee raise
            self.connect()
        conn = self._state.conn  # type: ignore[attr-defined]
        transport = self._pgh_transport(conn)
        plan = transport.plan(_status(conn), bool(getattr(conn, "autocommit", False)), sql)
        if plan.action is Action.TOGETHER and kwargs.get("named_cursor"):
            plan = Plan(Action.PASS, count=plan.count, resets=plan.resets)
        try:
            if plan.action is Action.BEFORE:
                with peewee.__exception_wrapper__:  # type: ignore[attr-defined]
                    core_db.execute(conn, plan.statement)  # type: ignore[arg-type]
            elif plan.action is Action.TOGETHER:
                return self._together(conn, plan, sql, params, *args, **kwargs)
            return super().execute_sql(sql, params, *args, **kwargs)
        finally:
            transport.done(plan, _status(conn))

    def _together(self, conn: object, plan: Plan, sql: str, params: object, *args: object, **kwargs: object) -> object:
        """Autocommit: the context comment in front of *sql*, or, while the database holds
        triggers that cannot read it, the context statement and *sql* in one implicit
        transaction."""
        if self._pgh_comments_ready(conn):
            return super().execute_sql(plan.comment + sql, params, *args, **kwargs)
        if core_db.driver_name(conn) == "psycopg" and plan.count <= 1:
            # Server-side binding: one statement per execute. Statements between two Syncs
            # of a pipeline share one implicit transaction; errors surface at the Sync.
            with peewee.__exception_wrapper__:  # type: ignore[attr-defined]
                with conn.pipeline():  # type: ignore[attr-defined]
                    core_db.execute(conn, plan.statement)  # type: ignore[arg-type]
                    cursor = super().execute_sql(sql, params, *args, **kwargs)
            return cursor
        # psycopg2 (client-side binding, always interpolating: Peewee passes a tuple), or a
        # text holding several statements (simple query protocol): one string.
        text = plan.statement.replace("%", "%%") + ";\n" + sql
        cursor = super().execute_sql(text, params if params is not None else (), *args, **kwargs)
        if core_db.driver_name(conn) == "psycopg":
            cursor.nextset()  # type: ignore[attr-defined]  # past the set_config() result
        return cursor


_classes: dict[type[peewee.Database], type[HistoryDatabaseMixin]] = {}


def with_history(database_class: type[peewee.Database]) -> type[HistoryDatabaseMixin]:
    """The history-aware subclass of any Postgres ``Database`` class (cached):
    ``db = with_history(MyDatabase)("app", ...)``."""
    if not (isinstance(database_class, type) and issubclass(database_class, peewee.PostgresqlDatabase)):
        raise TypeError(f"with_history() takes a peewee.PostgresqlDatabase subclass, got {database_class!r}")
    if issubclass(database_class, HistoryDatabaseMixin):
        return database_class
    cls = _classes.get(database_class)
    if cls is None:
        cls = type("History" + database_class.__name__, (HistoryDatabaseMixin, database_class), {"__module__": __name__})
        _classes[database_class] = cls
    return cls


def _find(name: str, *modules: str) -> type[peewee.PostgresqlDatabase] | None:
    """A database class that moved between Peewee releases (3.17: ``playhouse.pool`` and
    ``playhouse.psycopg3_ext``; 4.x: ``playhouse.postgres_ext``), or None if absent (the
    driver it needs is missing)."""
    import importlib

    for module in modules:
        try:
            found = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if found is not None:
            return found  # type: ignore[no-any-return]
    return None


HistoryPostgresqlDatabase = with_history(peewee.PostgresqlDatabase)
HistoryPooledPostgresqlDatabase = with_history(_find("PooledPostgresqlDatabase", "playhouse.pool"))  # type: ignore[arg-type]
HistoryPostgresqlExtDatabase = with_history(_find("PostgresqlExtDatabase", "playhouse.postgres_ext"))  # type: ignore[arg-type]


def _optional(name: str, *modules: str) -> type[HistoryDatabaseMixin] | None:
    found = _find(name, *modules)
    return with_history(found) if found is not None else None


HistoryPooledPostgresqlExtDatabase = _optional("PooledPostgresqlExtDatabase", "playhouse.postgres_ext", "playhouse.pool")
# psycopg 3 (Peewee 4 also takes prefer_psycopg3=True on every Postgres class).
HistoryPsycopg3Database = _optional("Psycopg3Database", "playhouse.postgres_ext", "playhouse.psycopg3_ext")
HistoryPooledPsycopg3Database = _optional("PooledPsycopg3Database", "playhouse.postgres_ext", "playhouse.pool")
