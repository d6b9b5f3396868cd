"""pghistory_sqlalchemy: trigger-based history for SQLAlchemy 2 models.

Layer: adapter. Translation only; everything about Postgres and history is in
:mod:`pghistory_core`. Typical use::

    import pghistory_sqlalchemy as pgh

    @pgh.track(pgh.InsertEvent(), pgh.UpdateEvent(), exclude=["password"])
    class User(Base):
        __tablename__ = "user"
        ...

    Base.metadata.create_all(engine)  # tables, event tables, triggers, context machinery
    pgh.instrument(engine)            # send ph.context() with each transaction

    with pgh.context(user="alice"):
        with Session(engine) as session, session.begin():
            session.get(User, 1).email = "new@example.com"

    User.pgh_event_model, user.events, event.pgh_obj, event.pgh_context

Modules: :mod:`~pghistory_sqlalchemy.tracking` (``track``, event classes),
:mod:`~pghistory_sqlalchemy.ddl` (create_all/drop_all), :mod:`~pghistory_sqlalchemy.runtime`
(``instrument``), :mod:`~pghistory_sqlalchemy.events` (``create_event``),
:mod:`~pghistory_sqlalchemy.history` (``history``, ``events_across``, ``as_of``,
``table_as_of``, ``revert_to_event``, ``revert_context``),
:mod:`~pghistory_sqlalchemy.migrations` (Alembic autogenerate and operations; imported on
demand, so Alembic stays optional), :mod:`~pghistory_sqlalchemy.bridge` (the core over a
SQLAlchemy connection).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

import pghistory_core as ph
from pghistory_core import (
    DENORMALIZED,
    FK,
    NO_CONTEXT,
    AllChange,
    AllDontChange,
    AnyChange,
    AnyDontChange,
    Condition,
    Delete,
    DeleteEvent,
    F,
    Insert,
    InsertEvent,
    ManualEvent,
    New,
    Old,
    Q,
    Row,
    RowEvent,
    Statement,
    Tracker,
    Update,
    UpdateEvent,
    context,
    current,
    ignore,
)
from pghistory_sqlalchemy.bridge import connect
from pghistory_sqlalchemy.events import create_event
from pghistory_sqlalchemy.history import (
    as_of,
    events_across,
    history,
    obj_events,
    revert_context,
    revert_to_event,
    table_as_of,
)
from pghistory_sqlalchemy.runtime import instrument, is_instrumented
from pghistory_sqlalchemy.tracking import (
    MirroredType,
    TrackedTable,
    context_model,
    core_table,
    track,
    track_table,
    tracked_tables,
    trackings,
)

__all__ = [
    "AllChange",
    "AllDontChange",
    "AnyChange",
    "AnyDontChange",
    "Condition",
    "DENORMALIZED",
    "Delete",
    "DeleteEvent",
    "F",
    "FK",
    "Insert",
    "InsertEvent",
    "ManualEvent",
    "MirroredType",
    "NO_CONTEXT",
    "New",
    "Old",
    "Q",
    "Row",
    "RowEvent",
    "Statement",
    "TrackedTable",
    "Tracker",
    "Update",
    "UpdateEvent",
    "as_of",
    "check",
    "context",
    "context_model",
    "core_table",
    "create_event",
    "current",
    "events_across",
    "history",
    "ignore",
    "install",
    "instrument",
    "is_instrumented",
    "obj_events",
    "revert_context",
    "revert_to_event",
    "status",
    "table_as_of",
    "track",
    "track_table",
    "tracked_tables",
    "trackings",
    "uninstall",
]


def install(bind: sa.Engine | sa.Connection, metadata: sa.MetaData) -> list[ph.Status]:
    """Install (or update) the tracking of *metadata*'s tables; tables must exist."""
    with connect(bind) as conn:
        return ph.install(conn, trackings(metadata))


def uninstall(bind: sa.Engine | sa.Connection, metadata: sa.MetaData, *, drop_event_tables: bool = False) -> list[ph.Status]:
    """Remove *metadata*'s triggers and functions (event tables only if asked)."""
    with connect(bind) as conn:
        return ph.uninstall(conn, trackings(metadata), drop_event_tables=drop_event_tables)


def status(bind: sa.Engine | sa.Connection, metadata: sa.MetaData) -> Sequence[ph.Status]:
    """The installed state of every object *metadata*'s trackings need."""
    with connect(bind) as conn:
        return ph.status(conn, trackings(metadata))


def check(bind: sa.Engine | sa.Connection, metadata: sa.MetaData) -> None:
    """Raise :class:`pghistory_core.DriftError` unless everything is installed as specified."""
    with connect(bind) as conn:
        ph.check(conn, trackings(metadata))
