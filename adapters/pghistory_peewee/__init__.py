"""pghistory for Peewee: trigger-based history of Peewee models on Postgres.

Layer: adapter. Imports Peewee, ``pghistory_core`` and its own modules only, never another
adapter.

::

    import pghistory_peewee as pgh

    db = pgh.HistoryPostgresqlDatabase("app")        # sends the context with each transaction

    @pgh.track(pgh.InsertEvent(), pgh.UpdateEvent(), pgh.DeleteEvent())
    class Account(peewee.Model):
        email = peewee.TextField()
        class Meta:
            database = db

    pgh.create_tables(db, [Account])                 # db.create_tables + event table, triggers
    with pgh.context(user="alice"):
        Account.create(email="a@example.com")
    Account.pgh_event_model.select()                 # the events, as a peewee.Model

- :func:`track` (class decorator) translates the model and generates the event model
  (``Model.pgh_event_model`` / ``Model.pgh_event_models``; ``obj.events``).
- :func:`create_tables` / :func:`drop_tables`, and :mod:`pghistory_peewee.migrate`
  (``install``, ``upgrade``, ``uninstall``, ``status``, ``check``) for existing databases.
- :class:`HistoryPostgresqlDatabase` and siblings, :class:`HistoryDatabaseMixin` and
  :func:`with_history` carry :func:`context` and :func:`ignore` to the triggers; without
  them, writes are still recorded, without context (see :mod:`pghistory_peewee.database`).
- :func:`create_event` records a manual event.
- Reading history (:mod:`pghistory_peewee.reading`): :func:`history` (an object's events)
  and :func:`events` (across event tables, with filters) return
  :class:`pghistory_core.Event` values with ``pgh_data``/``pgh_diff``; :func:`as_of` and
  :func:`table_as_of` return unsaved model instances as they were; :func:`revert_to_event`
  and :func:`revert_context` write through the core.
"""

from __future__ import annotations

from pghistory_core import (
    DENORMALIZED,
    FK,
    NO_CONTEXT,
    AllChange,
    AllDontChange,
    AnyChange,
    AnyDontChange,
    Condition,
    ConfigurationError,
    Cursor,
    DeleteEvent,
    Event,
    HistoryError,
    F,
    InsertEvent,
    ManualEvent,
    New,
    Old,
    Q,
    Reference,
    RevertConflictError,
    RevertPlan,
    Row,
    RowEvent,
    RowVersion,
    Statement,
    Tracker,
    UpdateEvent,
    context,
    ignore,
)
from pghistory_peewee import migrate
from pghistory_peewee.database import (
    HistoryDatabaseMixin,
    HistoryPooledPostgresqlDatabase,
    HistoryPooledPostgresqlExtDatabase,
    HistoryPostgresqlDatabase,
    HistoryPostgresqlExtDatabase,
    with_history,
)
from pghistory_peewee.migrate import create_tables, drop_tables
from pghistory_peewee.models import EventModel, context_model, create_event, event_models, model_table, track, trackings
from pghistory_peewee.reading import as_of, events, history, revert_context, revert_to_event, table_as_of

__all__ = [
    "AllChange",
    "AllDontChange",
    "AnyChange",
    "AnyDontChange",
    "Condition",
    "ConfigurationError",
    "Cursor",
    "DENORMALIZED",
    "DeleteEvent",
    "Event",
    "EventModel",
    "F",
    "FK",
    "HistoryDatabaseMixin",
    "HistoryError",
    "HistoryPooledPostgresqlDatabase",
    "HistoryPooledPostgresqlExtDatabase",
    "HistoryPostgresqlDatabase",
    "HistoryPostgresqlExtDatabase",
    "InsertEvent",
    "ManualEvent",
    "NO_CONTEXT",
    "New",
    "Old",
    "Q",
    "Reference",
    "RevertConflictError",
    "RevertPlan",
    "Row",
    "RowEvent",
    "RowVersion",
    "Statement",
    "Tracker",
    "UpdateEvent",
    "as_of",
    "context",
    "context_model",
    "create_event",
    "create_tables",
    "drop_tables",
    "event_models",
    "events",
    "history",
    "ignore",
    "migrate",
    "model_table",
    "revert_context",
    "revert_to_event",
    "table_as_of",
    "track",
    "trackings",
    "with_history",
]
