"""Reading and reverting history through Peewee: thin wrappers over the core.

Layer: adapter (translation). Each function finds the trackings of the models it is given
(the event models :func:`pghistory_peewee.track` generated), runs the core's function
(:mod:`pghistory_core.history`, :mod:`pghistory_core.revert`) on ``db.connection()`` and
returns what a Peewee user works with:

- :func:`history` and :func:`events` return :class:`pghistory_core.Event` values, from any
  number of event tables, with ``pgh_data`` and ``pgh_diff``. Their keys are **column
  names** (``account_id``, not ``account``), as in every adapter: the event rows are shared
  across ORMs. For event rows as Peewee objects use ``obj.events`` or
  ``Model.pgh_event_model.select()``.
- :func:`as_of` and :func:`table_as_of` return **unsaved model instances** built from the
  recorded values (fields converted by ``python_value``, as a query would), each with
  ``pgh_version``: the core's :class:`pghistory_core.RowVersion` (which event they come
  from, and when). Saving one writes those values over the current row (with an
  ``UPDATE``); to restore a row that may have been deleted, use :func:`revert_to_event`.
- :func:`revert_to_event` and :func:`revert_context` write through the core, in
  ``db.atomic()`` (so inside a caller's ``atomic()`` they are a savepoint of it). The core
  records a context revert under a new context of its own and puts the transaction's
  context settings back afterwards, so the caller's next writes carry the caller's
  context, not the revert's. Peewee has no identity map: reload objects
  (``Model.get_by_id``) after a revert.

*Targets* name the event tables to read or revert: a ``Database`` (every tracked model
bound to it, also through a ``DatabaseProxy``), a tracked model (all its trackings) or an
event model (its tracking). All targets must use one database.
"""

from __future__ import annotations

import contextlib
import datetime
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Union

import peewee

import pghistory_core as ph
from pghistory_core.db import Connection
from pghistory_core.history import model_name
from pghistory_core.sql import LiteralValue
from pghistory_peewee.models import (
    EventModel,
    _registry,
    _Names,
    database_of,
    event_models,
    event_models_of_database,
    instance_pk,
)

__all__ = ["Target", "as_of", "events", "history", "revert_context", "revert_to_event", "table_as_of"]

#: What names a set of event tables: a Database (or DatabaseProxy), a tracked model or an
#: event model.
Target = Union[peewee.Database, peewee.DatabaseProxy, type[peewee.Model]]
_ONE = (peewee.Database, peewee.DatabaseProxy, type)


# --------------------------------------------------------------------------- targets


def _event_models(targets: Iterable[Target], what: str) -> list[type[EventModel]]:
    result: list[type[EventModel]] = []
    for target in targets:
        if isinstance(target, (peewee.Database, peewee.DatabaseProxy)):
            found = event_models_of_database(target)
            if not found:
                raise ph.ConfigurationError(f"{what}: no tracked model is bound to {target!r}")
        elif isinstance(target, type) and issubclass(target, EventModel):
            found = [target]
        elif isinstance(target, type) and issubclass(target, peewee.Model):
            found = event_models(target)
            if not found:
                raise ph.ConfigurationError(
                    f"{what}: {target.__name__} is not tracked (decorate it with @pghistory_peewee.track(...))"
                )
        else:
            raise ph.ConfigurationError(f"{what}: expected a Database, a tracked model or an event model, got {target!r}")
        result.extend(m for m in found if m not in result)
    if not result:
        raise ph.ConfigurationError(f"{what}: name the models (or the database) whose history to read")
    return result


def _database(models: Sequence[type[peewee.Model]], what: str) -> peewee.Database:
    databases = {id(d): d for d in (database_of(m) for m in models)}
    if None in databases.values():
        unbound = [m.__name__ for m in models if database_of(m) is None]
        raise ph.ConfigurationError(f"{what}: {', '.join(unbound)} is bound to no database (initialize its proxy)")
    if len(databases) > 1:
        raise ph.ConfigurationError(
            f"{what}: the models use {len(databases)} databases ({', '.join(m.__name__ for m in models)}); "
            "history is read from one database at a time"
        )
    return next(iter(databases.values()))  # type: ignore[return-value]


def _trackings(targets: Iterable[Target], what: str) -> tuple[peewee.Database, list[ph.Tracking]]:
    models = _event_models(targets, what)
    found: list[ph.Tracking] = []
    for model in models:
        if model.pgh_tracking not in found:
            found.append(model.pgh_tracking)
    return _database(models, what), found


def _key(value: object) -> LiteralValue:
    """A primary key value: model instances stand for their key."""
    return instance_pk(value, "history") if isinstance(value, peewee.Model) else value  # type: ignore[return-value]


# ----------------------------------------------------------------------------- reading


def history(
    obj: peewee.Model,
    *,
    newest_first: bool = False,
    limit: int | None = None,
    after: ph.Cursor | ph.Event | None = None,
) -> list[ph.Event]:
    """Every event of *obj* across every tracking of its model, with ``pgh_data`` and
    ``pgh_diff``, oldest first (:func:`pghistory_core.object_history`; index-backed)."""
    model = type(obj)
    database, specs = _trackings([model], "history")
    return ph.object_history(
        database.connection(), specs, specs[0].table, instance_pk(obj, "history"), newest_first=newest_first, limit=limit, after=after
    )


def _references(
    references: ph.Reference | Sequence[ph.Reference] | None, models: Sequence[type[EventModel]]
) -> list[ph.Reference] | None:
    """References with Peewee names (field names, a model as ``table``, a model instance as
    the value) translated to the core's (column names, ``schema.name``, the key)."""
    if references is None:
        return None
    given = [references] if isinstance(references, ph.Reference) else list(references)
    result: list[ph.Reference] = []
    for ref in given:
        value = _key(ref.value)
        table: object = ref.table
        scope = [m for m in models if table is None or table in (m.pgh_tracked_model, m)]
        if isinstance(table, type):
            if not scope:
                raise ph.ConfigurationError(f"{ref!r}: {table.__name__} is not among the models whose history is read")
            table = scope[0].pgh_tracking.table.qualified_name
        columns = {_Names(m.pgh_tracked_model).column(ref.column) for m in scope} or {ref.column}
        if isinstance(table, str) or len(columns) == 1:
            result.append(ph.Reference(columns.pop(), value, table=table if isinstance(table, str) else None))
            continue
        # One field name, different columns per model (a foreign key named "user" is
        # "user_id" in one table and "owner" in another): one reference per tracked table.
        for m in scope:
            tracking = m.pgh_tracking
            column = _Names(m.pgh_tracked_model).column(ref.column)
            if column in tracking.tracked_columns:
                ref_out = ph.Reference(column, value, table=tracking.table.qualified_name)
                if ref_out not in result:
                    result.append(ref_out)
    return result


def events(
    *targets: Target,
    obj: peewee.Model | tuple[type[peewee.Model], LiteralValue] | None = None,
    references: ph.Reference | Sequence[ph.Reference] | None = None,
    label: str | Sequence[str] | None = None,
    context_id: uuid.UUID | str | None = None,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    limit: int | None = None,
    after: ph.Cursor | ph.Event | None = None,
    newest_first: bool = False,
) -> list[ph.Event]:
    """Events across the event tables of *targets*, with ``pgh_data`` and ``pgh_diff``
    (:func:`pghistory_core.events`), oldest first unless ``newest_first``.

    Filters are ANDed: ``obj`` (an instance, or ``(Model, pk)`` for a deleted row; with no
    targets, its model's event tables are read), ``references`` (:class:`pghistory_core.Reference`;
    the column may be a field name, the table a model, the value a model instance),
    ``label`` (one or several), ``context_id``, ``since`` (inclusive), ``until``
    (exclusive). ``limit`` and ``after`` (the last event of the previous page) page.
    """
    obj_filter: tuple[ph.Table, LiteralValue] | None = None
    if obj is not None:
        model, pk = (obj[0], _key(obj[1])) if isinstance(obj, tuple) else (type(obj), instance_pk(obj, "events"))
        _, own = _trackings([model], "events")
        obj_filter = (own[0].table, pk)
        targets = targets or (model,)
    models = _event_models(targets, "events")
    database, specs = _trackings(models, "events")
    if obj_filter is not None and not any(t.table == obj_filter[0] for t in specs):
        raise ph.ConfigurationError(f"events: obj= is a row of {obj_filter[0].qualified_name}, whose history is not among the targets")
    return ph.events(
        database.connection(),
        specs,
        obj=obj_filter,
        references=_references(references, models),
        labels=label,
        context_id=context_id,
        since=since,
        until=until,
        after=after,
        limit=limit,
        newest_first=newest_first,
    )


def _instance(model: type[peewee.Model], version: ph.RowVersion) -> peewee.Model:
    """An unsaved *model* instance holding *version*'s values, converted like a query's."""
    by_column = {f.column_name: f for f in model._meta.sorted_fields}
    data = {by_column[c].name: by_column[c].python_value(v) for c, v in version.values.items() if c in by_column}
    obj = model(__no_default__=1, **data)
    obj._dirty.clear()  # type: ignore[attr-defined]  # as a row read by a query
    obj.pgh_version = version  # type: ignore[attr-defined]
    return obj


def _tracked(model: type[peewee.Model]) -> type[peewee.Model]:
    return model.pgh_tracked_model if isinstance(model, type) and issubclass(model, EventModel) else model


def as_of(model: type[peewee.Model], pk: LiteralValue | peewee.Model, at: datetime.datetime) -> peewee.Model | None:
    """The row of *model* with primary key *pk* as it was at *at*, as an unsaved instance
    (with ``pgh_version``), or None if it did not exist then (:func:`pghistory_core.object_as_of`).

    Needs a tracking of the model that mirrors every field and records every insert,
    update and delete; :class:`pghistory_core.HistoryError` says what is missing otherwise.
    """
    model = _tracked(model)
    database, specs = _trackings([model], "as_of")
    version = ph.object_as_of(database.connection(), specs, specs[0].table, _key(pk), at)
    return None if version is None else _instance(model, version)


def table_as_of(model: type[peewee.Model], at: datetime.datetime) -> list[peewee.Model]:
    """Every row of *model* that existed at *at*, as unsaved instances ordered by primary
    key (:func:`pghistory_core.table_as_of`)."""
    model = _tracked(model)
    database, specs = _trackings([model], "table_as_of")
    return [_instance(model, v) for v in ph.table_as_of(database.connection(), specs, specs[0].table, at)]


# --------------------------------------------------------------------------- reverting


@contextlib.contextmanager
def _writing(database: peewee.Database) -> Iterator[Connection]:
    """``database.atomic()`` around a core write (a savepoint inside a caller's transaction)."""
    with database.atomic():
        yield database.connection()


def _event_tracking(event: ph.Event, using: Target | Iterable[Target] | None) -> tuple[peewee.Database, ph.Tracking]:
    """The database and tracking that wrote *event*: from *using*, or from the event models
    of every bound database when only one writes that event table."""
    if using is not None:
        targets = [using] if isinstance(using, _ONE) else list(using)
        models = [m for m in _event_models(targets, "revert_to_event") if model_name(m.pgh_tracking) == event.pgh_model]
    else:
        models = [m for m in list(_registry) if model_name(m.pgh_tracking) == event.pgh_model]
    pairs = {(m.pgh_tracking, id(database_of(m))): m for m in models if database_of(m) is not None}
    if len(pairs) != 1:
        where = "among the models given" if using is not None else "in any database"
        found = "no tracked model writes it" if not pairs else f"{len(pairs)} models or databases do"
        raise ph.ConfigurationError(
            f"revert_to_event: event {event.pgh_id} is from event table {event.pgh_model}; {found} {where}"
            + ("" if using is not None else "; pass using=<database or model>")
        )
    model = next(iter(pairs.values()))
    return database_of(model), model.pgh_tracking  # type: ignore[return-value]


def revert_to_event(event: EventModel | ph.Event, *, using: Target | Iterable[Target] | None = None) -> None:
    """Restore the row *event* recorded to the values it holds: update the row with that
    primary key, or re-create it (same key) if it was deleted (:func:`pghistory_core.revert_to_event`).

    *event* is an event model instance (``obj.events``, ``create_event``), or a
    :class:`pghistory_core.Event` from :func:`history`/:func:`events`; for the latter,
    ``using`` (a database or models) says where it comes from when the event table's name
    alone does not. The active context, if any, is recorded with the change. Needs a
    tracking that mirrors every field (:class:`pghistory_core.HistoryError` otherwise).
    """
    if isinstance(event, EventModel):
        database = database_of(type(event))
        if database is None:
            raise ph.ConfigurationError(f"revert_to_event: {type(event).__name__} is bound to no database")
        tracking, pgh_id = type(event).pgh_tracking, int(event.pgh_id)  # type: ignore[attr-defined]
    elif isinstance(event, ph.Event):
        (database, tracking), pgh_id = _event_tracking(event, using), event.pgh_id
    else:
        raise ph.ConfigurationError(f"revert_to_event: expected an event model instance or a pghistory_core.Event, got {event!r}")
    with _writing(database) as conn:
        ph.revert_to_event(conn, tracking, pgh_id)


def revert_context(
    db_or_models: Target | Iterable[Target],
    context_id: uuid.UUID | str,
    *,
    dry_run: bool = False,
    force: bool = False,
) -> ph.RevertPlan:
    """Undo everything recorded under *context_id* in the event tables of *db_or_models*
    (a database: every tracked model bound to it), in one transaction
    (:func:`pghistory_core.revert_context`).

    Returns the :class:`pghistory_core.RevertPlan`; its ``revert_context_id`` is the new
    context the revert's own events are recorded under (metadata
    ``{"pghistory_revert_of": "<context_id>"}``). Rows changed after the context raise
    :class:`pghistory_core.RevertConflictError` and nothing is written, unless ``force``;
    ``dry_run`` only plans.
    """
    targets = [db_or_models] if isinstance(db_or_models, _ONE) else list(db_or_models)
    database, specs = _trackings(targets, "revert_context")
    with _writing(database) as conn:
        return ph.revert_context(conn, specs, context_id, dry_run=dry_run, force=force)
