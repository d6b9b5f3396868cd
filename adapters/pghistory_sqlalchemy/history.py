"""Reading and reverting history from the ORM: thin wrappers over the core.

Layer: adapter (translation). Each function finds the trackings of the models it is given
(on their ``MetaData``), runs the core's function on the session's connection, inside the
session's transaction, and returns the core's dataclasses
(:class:`pghistory_core.Event`, :class:`pghistory_core.RowVersion`,
:class:`pghistory_core.RevertPlan`). Keys of ``pgh_data``, ``pgh_diff`` and
``RowVersion.values`` are database column names, as in every adapter (the event rows are
shared across ORMs); for mapped event objects use ``obj.events`` / ``Model.pgh_event_model``.

- reads flush the session first (as a query would autoflush), so pending changes are in
  the history they return;
- writes (reverts) flush first and expire the session afterwards: the rows changed in the
  database, not through the session, so loaded objects must be reloaded. They run in the
  session's transaction; the caller commits. The active :func:`pghistory_core.context` is
  sent, so the triggers record the revert under it.

*Targets* name the event tables to read: a ``MetaData`` (all its trackings), a tracked
class or ``Table`` (its trackings), or an event class (its tracking).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy import orm

import pghistory_core as ph
from pghistory_core.sql import LiteralValue
from pghistory_sqlalchemy.bridge import CoreConnection
from pghistory_sqlalchemy.tracking import TrackedTable, tracked_tables

__all__ = [
    "Target",
    "as_of",
    "events_across",
    "history",
    "revert_context",
    "revert_to_event",
    "table_as_of",
]

#: What names a set of event tables: MetaData, tracked class/Table, or event class.
Target = sa.MetaData | type | sa.Table


def _table_of(target: type | sa.Table, what: str) -> sa.Table:
    if isinstance(target, sa.Table):
        return target
    mapper: orm.Mapper[object] | None = sa.inspect(target, raiseerr=False)
    if not isinstance(mapper, orm.Mapper) or not isinstance(mapper.local_table, sa.Table):
        raise ph.ConfigurationError(f"{what}: {target!r} is not a mapped class or a Table")
    return mapper.local_table


def _entries(targets: Iterable[Target], what: str) -> list[TrackedTable]:
    result: list[TrackedTable] = []
    for target in targets:
        if isinstance(target, sa.MetaData):
            found = tracked_tables(target)
        else:
            table = _table_of(target, what)
            found = [e for e in tracked_tables(table.metadata) if table is e.table or table is e.event_table]
            if not found:
                raise ph.ConfigurationError(f"{what}: {getattr(target, '__name__', target)!r} is not tracked")
        result.extend(e for e in found if e not in result)
    if not result:
        raise ph.ConfigurationError(f"{what}: no tracked tables among the targets given")
    return result


def _trackings(targets: Iterable[Target], what: str) -> list[ph.Tracking]:
    return [e.tracking for e in _entries(targets, what)]


def _conn(session: orm.Session) -> CoreConnection:
    session.flush()
    return CoreConnection(session.connection())


def _identity(obj: object, what: str) -> tuple[sa.Table, LiteralValue]:
    state = sa.inspect(obj, raiseerr=False)
    if not isinstance(state, orm.InstanceState):
        raise ph.ConfigurationError(f"{what}: {obj!r} is not an instance of a mapped class")
    identity = state.identity
    if identity is None:
        raise ph.HistoryError(f"{what}: {obj!r} is not persistent (add it to the session and flush first)")
    pk = identity[0] if len(identity) == 1 else list(identity)
    return _table_of(type(obj), what), pk


def history(
    session: orm.Session,
    obj: object,
    *,
    newest_first: bool = False,
    limit: int | None = None,
    after: ph.Cursor | ph.Event | None = None,
) -> list[ph.Event]:
    """Every event of *obj* across every tracking of its class, with ``pgh_diff``;
    index-backed (:func:`pghistory_core.object_history`)."""
    if not sa.inspect(obj).has_identity:
        session.flush()
    table, pk = _identity(obj, "history")
    specs = _trackings([table], "history")
    return ph.object_history(_conn(session), specs, specs[0].table, pk, newest_first=newest_first, limit=limit, after=after)


#: django-pghistory's name for an object's events.
obj_events = history


def events_across(
    session: orm.Session,
    *targets: Target,
    obj: object | tuple[type | sa.Table, LiteralValue] | None = None,
    references: ph.Reference | Sequence[ph.Reference] | None = None,
    labels: str | Sequence[str] | None = None,
    context_id: uuid.UUID | str | None = None,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    after: ph.Cursor | ph.Event | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[ph.Event]:
    """Events across the event tables of *targets* (:func:`pghistory_core.events`).

    ``obj=`` keeps the events of one object, given as an instance or as ``(Model, pk)``
    (for a deleted row); its class must be among the targets, or no target is given.
    The other filters are the core's.
    """
    obj_filter: tuple[ph.Table, LiteralValue] | None = None
    if obj is not None:
        if isinstance(obj, tuple):
            table, pk = _table_of(obj[0], "events_across"), obj[1]
        else:
            table, pk = _identity(obj, "events_across")
        tracked = _trackings([table], "events_across")[0].table
        obj_filter = (tracked, pk)
        targets = targets or (table,)
    specs = _trackings(targets, "events_across")
    if obj_filter is not None and not any(t.table == obj_filter[0] for t in specs):
        raise ph.ConfigurationError(f"events_across: {type(obj).__name__} is not tracked among the targets given")
    return ph.events(
        _conn(session),
        specs,
        obj=obj_filter,
        references=references,
        labels=labels,
        context_id=context_id,
        since=since,
        until=until,
        after=after,
        limit=limit,
        newest_first=newest_first,
    )


def as_of(session: orm.Session, model: type | sa.Table, pk: LiteralValue, at: datetime.datetime) -> ph.RowVersion | None:
    """The row of *model* with primary key *pk* at *at* (None if it did not exist then);
    values are keyed by column name (:func:`pghistory_core.object_as_of`)."""
    specs = _trackings([model], "as_of")
    return ph.object_as_of(_conn(session), specs, specs[0].table, pk, at)


def table_as_of(session: orm.Session, model: type | sa.Table, at: datetime.datetime) -> list[ph.RowVersion]:
    """Every row of *model* that existed at *at* (:func:`pghistory_core.table_as_of`)."""
    specs = _trackings([model], "table_as_of")
    return ph.table_as_of(_conn(session), specs, specs[0].table, at)


def revert_to_event(session: orm.Session, event: object, *, metadata: sa.MetaData | None = None) -> None:
    """Restore the row *event* recorded (update it, or re-create it if deleted).

    *event* is a mapped event object, or a :class:`pghistory_core.Event` read with
    :func:`history`/:func:`events_across` (then pass the ``metadata`` it was tracked on).
    """
    if isinstance(event, ph.Event):
        if metadata is None:
            raise ph.ConfigurationError("revert_to_event: pass metadata= with a pghistory_core.Event")
        ph.revert_event(_conn(session), _trackings([metadata], "revert_to_event"), event)
    else:
        entry = _entries([type(event)], "revert_to_event")[0]
        if type(event) is not entry.event_model and not isinstance(event, entry.event_model):
            raise ph.ConfigurationError(f"revert_to_event: {event!r} is not an event object")
        ph.revert_to_event(_conn(session), entry.tracking, int(getattr(event, "pgh_id")))
    session.expire_all()


def revert_context(
    session: orm.Session,
    context_id: uuid.UUID | str,
    *targets: Target,
    force: bool = False,
    dry_run: bool = False,
) -> ph.RevertPlan:
    """Undo everything recorded under *context_id* in the event tables of *targets*
    (:func:`pghistory_core.revert_context`); conflicts raise
    :class:`pghistory_core.RevertConflictError` unless ``force=True``."""
    plan = ph.revert_context(
        _conn(session), _trackings(targets, "revert_context"), context_id, force=force, dry_run=dry_run
    )
    if plan.applied:
        session.expire_all()
    return plan
