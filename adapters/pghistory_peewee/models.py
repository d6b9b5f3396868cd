"""Peewee models to pghistory descriptions, and the generated event models.

Layer: adapter (translation only). :func:`track` reads a ``peewee.Model`` into a
:class:`pghistory_core.Table`, rewrites the trackers' conditions from field names to
column names, builds a :class:`pghistory_core.Tracking` and generates a ``peewee.Model``
mapping the event table the core creates.

Event tables are created by the core (:func:`pghistory_peewee.create_tables`,
:mod:`pghistory_peewee.migrate`), never by Peewee's DDL: that keeps them free of the
foreign-key, unique and index constraints of the tracked table (history repeats values and
outlives deleted rows). The generated model's foreign keys (``pgh_obj``, ``pgh_context``,
mirrored foreign keys) are therefore plain mappings with no database constraint. Calling
``EventModel.create_table()`` (e.g. through ``db.create_tables([...])``) installs the
tracking through the core instead of running Peewee's ``CREATE TABLE``.
"""

from __future__ import annotations

import copy
import itertools
import json
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar, Union

import peewee

import pghistory_core as ph
from pghistory_core.errors import ConfigurationError
from pghistory_core.render import CONTEXT_TABLE
from pghistory_core.sql import LiteralValue
from pghistory_core.trackers import map_tracker_columns

if TYPE_CHECKING:
    from pghistory_core.spec import ContextMode

__all__ = [
    "EventModel",
    "context_model",
    "create_event",
    "database_of",
    "event_models",
    "event_models_of_database",
    "instance_pk",
    "model_table",
    "track",
    "trackings",
]

M = TypeVar("M", bound=type[peewee.Model])

#: Peewee's Postgres column types, used when the model's database is not a Database yet
#: (``peewee.DatabaseProxy``, or no database).
_POSTGRES_FIELD_TYPES: dict[str, str] = {**peewee.FIELD, **peewee.PostgresqlDatabase.field_types}  # type: ignore[attr-defined]

#: Auto-increment keys are columns of the plain integer type, whose default is a sequence
#: (serial) or an identity; the event table mirrors the integer type.
_AUTO_TYPES = {"AUTO": "INTEGER", "BIGAUTO": "BIGINT"}


# ----------------------------------------------------------------------------- columns


def _field_types(model: type[peewee.Model]) -> dict[str, str]:
    types = getattr(model._meta.database, "_field_types", None)
    return dict(types) if isinstance(types, dict) else dict(_POSTGRES_FIELD_TYPES)


def _column_type(field: peewee.Field, field_types: dict[str, str]) -> str:
    """The SQL type Peewee's ``CREATE TABLE`` gives *field* on Postgres."""
    field_type = str(field.field_type)
    if isinstance(field, peewee.AutoField) or field_type in _AUTO_TYPES:
        if field_type.upper().startswith("BIG"):
            return "BIGINT"
        if " GENERATED " in field_type.upper():  # IdentityField: "INT GENERATED ... AS IDENTITY"
            return field_type.upper().split(" GENERATED ", 1)[0]
        return _AUTO_TYPES.get(field_type, "INTEGER")
    ctx = peewee.Context(field_types=field_types)
    text, _ = ctx.sql(field.ddl_datatype(ctx)).query()
    return str(text)


def model_table(model: type[peewee.Model]) -> ph.Table:
    """The :class:`pghistory_core.Table` of a Peewee model (columns in field order).

    A model without ``Meta.schema`` is taken to live in ``public``: the core qualifies
    every name and never depends on ``search_path``.
    """
    meta = model._meta
    for field in meta.sorted_fields:
        if isinstance(field, peewee.DeferredForeignKey):
            # Until its model's class exists, the field has neither its column name
            # ("<name>_id") nor its type (the related key's).
            raise ConfigurationError(
                f"{model.__name__}.{field.name} is a DeferredForeignKey whose model ({field.rel_model_name!r}) is not "
                f"defined yet, so its column is unknown: track the model after that class, e.g. "
                f"{model.__name__} = pghistory_peewee.track(...)({model.__name__})"
            )
    field_types = _field_types(model)
    columns = tuple(
        ph.Column(field.column_name, _column_type(field, field_types), nullable=bool(field.null))
        for field in meta.sorted_fields
    )
    pk = meta.primary_key
    if pk is False or pk is None:
        primary_key: tuple[str, ...] = ()
    elif isinstance(pk, peewee.CompositeKey):
        primary_key = tuple(meta.fields[name].column_name for name in pk.field_names)
    else:
        primary_key = (pk.column_name,)
    return ph.Table(meta.table_name, columns, primary_key, schema=meta.schema or "public")


# -------------------------------------------------------------------------- conditions


class _Names:
    """Field name -> column name for one model; column names pass through unchanged."""

    def __init__(self, model: type[peewee.Model]) -> None:
        self.model = model
        self.columns = {f.name: f.column_name for f in model._meta.sorted_fields}
        # ForeignKeyField "user" is also reachable as its object-id name "user_id".
        for field in model._meta.sorted_fields:
            if isinstance(field, peewee.ForeignKeyField) and field.object_id_name:
                self.columns.setdefault(field.object_id_name, field.column_name)

    def column(self, name: str) -> str:
        return self.columns.get(name, name)

    def many(self, names: Iterable[str] | None) -> tuple[str, ...] | None:
        if names is None:
            return None
        if isinstance(names, str):
            raise ConfigurationError(
                f"{self.model.__name__}: expected a list of field names, not a single str ({names!r})"
            )
        return tuple(self.column(n) for n in names)


# ------------------------------------------------------------------------ event models


class _JSONB(peewee.Field):
    """A read-mostly jsonb column: both psycopg drivers decode jsonb to Python values."""

    field_type = "JSONB"

    def db_value(self, value: object) -> object:
        return value if value is None or isinstance(value, str) else json.dumps(value)


_context_models: dict[tuple[int, str], type[peewee.Model]] = {}


def context_model(database: peewee.Database | None, schema: str = "public") -> type[peewee.Model]:
    """The model of the shared ``pghistory_context`` table for *database* (one per database)."""
    key = (id(database), schema)
    model = _context_models.get(key)
    if model is None:

        class Meta:
            table_name = CONTEXT_TABLE

        Meta.database = database  # type: ignore[attr-defined]
        Meta.schema = schema  # type: ignore[attr-defined]
        model = type(
            "Context",
            (peewee.Model,),
            {
                "Meta": Meta,
                "__module__": __name__,
                "id": peewee.UUIDField(primary_key=True),
                "metadata": _JSONB(default=dict),
                "created_at": peewee.DateTimeField(),
                "updated_at": peewee.DateTimeField(),
            },
        )
        _context_models[key] = model
    return model


class EventModel(peewee.Model):
    """Base of generated event models.

    ``pgh_tracking`` is the core spec, ``pgh_tracked_model`` the tracked model. The table
    is the core's: ``create_table`` installs the tracking (event table, triggers, context
    machinery) and ``drop_table`` uninstalls it and drops the event table.
    """

    pgh_tracking: ph.Tracking
    pgh_tracked_model: type[peewee.Model]
    pgh_order: int  # generation order (the registry below is a set)

    @classmethod
    def create_table(cls, safe: bool = True, **options: object) -> None:
        ph.install(cls._meta.database.connection(), [cls.pgh_tracking])

    @classmethod
    def drop_table(cls, safe: bool = True, drop_sequences: bool = True, **options: object) -> None:
        ph.uninstall(cls._meta.database.connection(), [cls.pgh_tracking], drop_event_tables=True)


def _mirror(field: peewee.Field) -> peewee.Field:
    """A copy of a tracked field for the event model: nullable, no key, index or default."""
    if isinstance(field, peewee.AutoField):
        cls = peewee.BigIntegerField if str(field.field_type).upper().startswith("BIG") else peewee.IntegerField
        return cls(null=True, column_name=field.column_name)
    if isinstance(field, peewee.ForeignKeyField):
        rel_model = field.rel_model
        return peewee.ForeignKeyField(
            rel_model, field=field.rel_field, null=True, index=False, backref="+", column_name=field.column_name,
            object_id_name=field.object_id_name,
        )
    clone = copy.copy(field)
    clone.null = True
    clone.primary_key = False
    clone.unique = False
    clone.index = False
    clone.default = None
    clone.sequence = None
    clone.constraints = None
    for attr in ("model", "name", "safe_name"):
        clone.__dict__.pop(attr, None)
    return clone


def _event_model(
    model: type[peewee.Model], tracking: ph.Tracking, model_name: str, backref: str | None
) -> type[EventModel]:
    database = model._meta.database
    attrs: dict[str, object] = {
        "__module__": model.__module__,
        "__doc__": f"History of {model.__name__} ({tracking.event_schema_name}.{tracking.event_table_name}).",
        "pgh_id": peewee.BigAutoField(column_name="pgh_id"),
        "pgh_created_at": peewee.DateTimeField(),
        "pgh_label": peewee.TextField(),
    }
    if tracking.obj_ref:
        attrs["pgh_obj"] = peewee.ForeignKeyField(
            model, null=True, index=False, backref=backref or "+", column_name="pgh_obj_id", object_id_name="pgh_obj_id"
        )
    if tracking.context == ph.FK:
        attrs["pgh_context"] = peewee.ForeignKeyField(
            context_model(database, tracking.context_schema),
            null=True,
            index=False,
            backref="+",
            column_name="pgh_context_id",
            object_id_name="pgh_context_id",
        )
    elif tracking.context == ph.DENORMALIZED:
        attrs["pgh_context_id"] = peewee.UUIDField(null=True)
        attrs["pgh_context"] = _JSONB(null=True)
    by_column = {f.column_name: f for f in model._meta.sorted_fields}
    for column in tracking.mirrored_columns:
        field = by_column[column.name]
        attrs[field.name] = _mirror(field)

    # Column order of the model: pgh_* first, then the mirrored fields in table order
    # (copied fields would otherwise keep their place among the tracked model's fields).
    for value in attrs.values():
        if isinstance(value, peewee.Field):
            peewee.Field._field_counter += 1  # type: ignore[attr-defined]
            value._order = peewee.Field._field_counter  # type: ignore[attr-defined]
            value._sort_key = (1 if value.primary_key else 2, value._order)  # type: ignore[attr-defined]

    class Meta:
        pass

    Meta.database = database  # type: ignore[attr-defined]
    Meta.table_name = tracking.event_table_name  # type: ignore[attr-defined]
    Meta.schema = tracking.event_schema_name  # type: ignore[attr-defined]
    attrs["Meta"] = Meta
    event_model = type(model_name, (EventModel,), attrs)
    event_model.pgh_tracking = tracking  # type: ignore[attr-defined]
    event_model.pgh_tracked_model = model  # type: ignore[attr-defined]
    event_model.pgh_order = next(_generated)  # type: ignore[attr-defined]
    _registry.add(event_model)  # type: ignore[arg-type]
    return event_model  # type: ignore[return-value]


#: Every generated event model, so a Database can name its event tables. Peewee keeps no
#: registry of models; weak, so models built at runtime (tests, scripts) can be collected.
_registry: weakref.WeakSet[type[EventModel]] = weakref.WeakSet()
_generated = itertools.count()


def database_of(model: type[peewee.Model]) -> peewee.Database | None:
    """The database *model* is bound to, through a ``DatabaseProxy`` if it is one."""
    database = model._meta.database
    if isinstance(database, peewee.DatabaseProxy):
        database = database.obj
    return database  # type: ignore[no-any-return]


def event_models_of_database(database: peewee.Database | peewee.DatabaseProxy) -> list[type[EventModel]]:
    """The event models of every tracked model bound to *database* (directly or through
    an initialized ``DatabaseProxy``), in the order they were generated."""
    if isinstance(database, peewee.DatabaseProxy):
        database = database.obj
    found = [m for m in list(_registry) if database is not None and database_of(m) is database]
    return sorted(found, key=lambda m: m.pgh_order)


class _SingleEventModel:
    """``Model.pgh_event_model``: the event model, when the model has exactly one."""

    def __get__(self, instance: object, owner: type[peewee.Model]) -> type[EventModel]:
        models = event_models(owner)
        if len(models) != 1:
            raise ConfigurationError(
                f"{owner.__name__} has {len(models)} event models "
                f"({', '.join(m.__name__ for m in models) or 'none'}); use pgh_event_models"
            )
        return models[0]


def event_models(model: type[peewee.Model]) -> list[type[EventModel]]:
    """The event models generated for *model* by :func:`track`, in decoration order."""
    return list(model.__dict__.get("pgh_event_models", ()))


def trackings(models: Iterable[type[peewee.Model]]) -> list[ph.Tracking]:
    """The core trackings of tracked models (or of event models), in order, without repeats."""
    result: list[ph.Tracking] = []
    for model in models:
        if isinstance(model, type) and issubclass(model, EventModel):
            found = [model.pgh_tracking]
        else:
            found = [m.pgh_tracking for m in event_models(model)]
        result.extend(t for t in found if t not in result)
    return result


ObjField = Union[bool, str, None]


def track(
    *trackers: ph.Tracker,
    fields: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    obj_field: ObjField = True,
    context: ContextMode = ph.FK,
    append_only: bool = False,
    model_name: str | None = None,
    table_name: str | None = None,
    level: ph.Level | None = None,
    partition: str | None = None,
) -> Callable[[M], M]:
    """Track a Peewee model: ``@track(InsertEvent(), UpdateEvent())`` above the class.

    Arguments are the core's (:class:`pghistory_core.Tracking`) with Peewee names:
    ``fields``/``exclude`` and every name in the trackers' conditions are field names
    (column names are accepted too). ``obj_field``: ``True`` links each event to its row
    through ``pgh_obj`` (backref ``events``, or ``<event table>`` when ``events`` is
    taken by an earlier tracking), a str names the backref, ``None``/``False`` drops the
    reference (needed for composite keys and through tables). ``model_name`` names the
    event model (default ``<Model>Event``, or ``<Model><Table>`` for a further tracking: its
    event table's name in CamelCase, ``shelf_price`` -> ``ShelfPrice``),
    ``table_name`` the event table. Stack several ``@track`` for several event tables.
    ``partition`` (``"day"``, ``"week"``, ``"month"``, ``"year"``) range-partitions the event
    table by ``pgh_created_at`` (the core creates it, and its partitions, in
    :func:`~pghistory_peewee.migrate.create_tables`).
    """

    def decorate(model: M) -> M:
        if not (isinstance(model, type) and issubclass(model, peewee.Model)):
            raise ConfigurationError(f"@track decorates peewee.Model classes, got {model!r}")
        names = _Names(model)
        tracking = ph.Tracking(
            model_table(model),
            tuple(map_tracker_columns(t, names.column) for t in trackers),
            fields=names.many(fields),
            exclude=names.many(exclude) or (),
            event_table=table_name,
            obj_ref=bool(obj_field),
            context=context,
            append_only=append_only,
            level=level,
            partition=partition,
        )
        existing = event_models(model)
        taken = {m.__name__ for m in existing}
        backrefs = {m._meta.fields["pgh_obj"].backref for m in existing if "pgh_obj" in m._meta.fields}
        name = model_name or f"{model.__name__}Event"
        if model_name is None and name in taken:
            # A further tracking: <Model><Table>, its event table's name in CamelCase
            # ("shelf_price" -> ShelfPrice), the model's name not repeated.
            table = "".join(part[:1].upper() + part[1:] for part in tracking.event_table_name.split("_"))
            name = table if table.startswith(model.__name__) else model.__name__ + table
        if name in taken:
            raise ConfigurationError(
                f"{model.__name__}: event model name {name!r} is already used by another tracking; pass model_name="
            )
        backref: str | None = None
        if isinstance(obj_field, str):
            backref = obj_field
        elif obj_field:
            backref = "events" if "events" not in backrefs else tracking.event_table_name
        event_model = _event_model(model, tracking, name, backref)
        # Own list per class: a subclass of a tracked model does not share its parent's.
        model.pgh_event_models = [*existing, event_model]  # type: ignore[attr-defined]
        if "pgh_event_model" not in model.__dict__:
            model.pgh_event_model = _SingleEventModel()  # type: ignore[attr-defined]
        return model

    return decorate


def instance_pk(obj: peewee.Model, what: str) -> LiteralValue:
    """*obj*'s primary key value (a tuple for a composite key), as the core takes it."""
    pk = obj._pk  # type: ignore[attr-defined]
    if isinstance(type(obj)._meta.primary_key, peewee.CompositeKey):
        pk = tuple(pk)
        if any(v is None for v in pk):
            pk = None
    if pk is None:
        raise ph.HistoryError(f"{what}: {type(obj).__name__} instance has no primary key yet (save it first)")
    return pk  # type: ignore[no-any-return]


def create_event(obj: peewee.Model, label: str) -> EventModel:
    """Record *obj*'s current row (as the database holds it) under *label*; return the event.

    The label must belong to one of the model's trackings (usually a ``ManualEvent``). The
    event is linked to the active :func:`pghistory_core.context`.
    """
    model = type(obj)
    for event_model in event_models(model):
        if label in event_model.pgh_tracking.labels:
            conn = model._meta.database.connection()
            pgh_id = ph.create_event(conn, event_model.pgh_tracking, label, instance_pk(obj, "create_event"))
            return event_model.get_by_id(pgh_id)
    labels = [label for m in event_models(model) for label in m.pgh_tracking.labels]
    raise ConfigurationError(f"{model.__name__} has no tracker labelled {label!r}; its labels are: {labels}")
