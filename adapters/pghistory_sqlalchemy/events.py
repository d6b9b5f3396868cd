"""Manual events from the ORM: ``create_event(session, obj, label=...)``.

Layer: adapter (runtime). Finds the tracking of ``type(obj)`` that declares *label* (a
``ManualEvent`` or any tracker), flushes the session so the row holds the object's
current values, and runs the core's ``INSERT ... SELECT`` (which links the active
context) in the session's transaction. Returns the new event as a mapped object.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

import pghistory_core as ph
from pghistory_sqlalchemy.bridge import CoreConnection
from pghistory_sqlalchemy.tracking import TrackedTable, tracked_tables

__all__ = ["create_event"]


def _entry_for(obj: object, label: str) -> TrackedTable:
    mapper = sa.inspect(type(obj), raiseerr=False)
    if not isinstance(mapper, orm.Mapper):
        raise ph.ConfigurationError(f"create_event: {obj!r} is not an instance of a mapped class")
    table = mapper.local_table
    if not isinstance(table, sa.Table):
        raise ph.UnsupportedError(f"create_event: {type(obj).__name__} is not mapped to a Table")
    entries = [e for e in tracked_tables(table.metadata) if e.table is table]
    for entry in entries:
        if label in entry.tracking.labels:
            return entry
    labels = ", ".join(repr(x) for e in entries for x in e.tracking.labels) or "none: the class is not tracked"
    raise ph.ConfigurationError(f"create_event: {type(obj).__name__} has no tracker labelled {label!r}; its labels: {labels}")


def create_event(session: orm.Session, obj: object, *, label: str) -> object:
    """Record *obj*'s current row under *label*; returns the event object."""
    entry = _entry_for(obj, label)
    session.flush()
    state = sa.inspect(obj)
    if state.identity is None:
        raise ph.HistoryError(f"create_event: {obj!r} is not persistent (add it to the session first)")
    identity = state.identity
    pk = identity[0] if len(identity) == 1 else tuple(identity)
    pgh_id = ph.create_event(CoreConnection(session.connection()), entry.tracking, label, pk)
    return session.get_one(entry.event_model, pgh_id)
