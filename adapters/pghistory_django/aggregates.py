"""Reading history through the ORM: aggregate events, proxy fields, as-of and revert.

Layer: adapter (Django reading). The SQL comes from the core (:mod:`pghistory_core.history`,
:mod:`pghistory_core.revert`); this module makes it a Django query source:

- **Aggregate events** (``pghistory.Events``, ``pghistory.MiddlewareEvents`` and their
  proxies). :class:`EventsQuery` compiles its ``FROM`` clause to the core's events query
  (one ``UNION ALL`` branch per event table, with ``pgh_data`` and ``pgh_diff`` computed
  in each branch) and maps its columns to the model's fields. ``tracks()``,
  ``references()`` and ``across()`` become the core's filters, applied *inside* each
  branch, so an object's events are read through the ``pgh_obj_id`` index. Everything
  Django adds on top (``filter``, ``order_by``, slices, ``count``, joins through
  ``ProxyField`` foreign keys) applies to that derived table.
- **Proxy fields** (:func:`ProxyField`): fields of an events proxy model whose value is
  read from a path, typically the context metadata (``"pgh_context__user"``). On event
  model proxies, :class:`EventQuery` selects from the event table plus one column per proxy
  field, computed by Django's own expressions; django-pghistory pastes Django's SQL into
  a CTE by text replacement there, which crashes on ``.all()``.
- **As of a time and reverting a context** (:meth:`EventQuerySet.as_of`,
  :func:`revert_context`): the core's functions over the Django connection's driver
  connection.

No name or value is pasted into SQL here: the core renders the queries (names quoted,
values escaped); Django renders its own expressions with parameters.
"""

from __future__ import annotations

import datetime
import uuid
import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Union

from django.apps import apps
from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.functions import Cast
from django.db.models.sql import Query
from django.db.models.sql.compiler import SQLCompiler
from django.db.models.sql.datastructures import BaseTable

from pghistory_core import db, history, sql
from pghistory_core.errors import ConfigurationError
from pghistory_core.revert import RevertPlan
from pghistory_core.revert import revert_context as _core_revert_context
from pghistory_core.spec import Tracking

if TYPE_CHECKING:
    from pghistory_django.models import Event

__all__ = [
    "EventQuery",
    "EventQuerySet",
    "EventsQuery",
    "EventsQuerySet",
    "NoObjectsManager",
    "ProxyField",
    "driver_connection",
    "event_models",
    "revert_context",
]

Objects = Union[models.Model, Sequence[models.Model], "models.QuerySet[models.Model]"]


# ------------------------------------------------------------------------- connections


def driver_connection(alias: str) -> db.Connection:
    """The driver connection behind Django's *alias*, ready for the core.

    Inside ``atomic`` Django has turned autocommit off but the driver opens the transaction
    only at the first statement; one is sent first, so the core sees an open transaction
    and nests in a savepoint instead of committing it.
    """
    connection = connections[alias]
    connection.ensure_connection()
    if connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    return connection.connection  # type: ignore[no-any-return]


# ------------------------------------------------------------------------ event models


def _is_event_model(model: type[models.Model]) -> bool:
    from pghistory_django.models import Event

    return (
        issubclass(model, Event)
        and not model._meta.abstract
        and not model._meta.proxy
        and model._meta.managed
        and getattr(model, "pgh_tracked_model", None) is not None
    )


def event_models(
    models_: Iterable[type[models.Model] | str] | None = None,
    *,
    references_model: type[models.Model] | None = None,
    tracks_model: type[models.Model] | None = None,
) -> list[type[Event]]:
    """Event models: *models_* (classes or ``"app_label.Model"``; default: every event
    model), restricted to those that reference *references_model* (a mirrored foreign key
    or ``pgh_obj``) or track *tracks_model* (through ``pgh_obj``)."""
    if models_:
        chosen = [apps.get_model(m) if isinstance(m, str) else m for m in models_]
        for model in chosen:
            if not _is_event_model(model):
                raise ConfigurationError(f"{model._meta.label} is not an event model (across() takes event models)")
    else:
        chosen = [m for m in apps.get_models() if _is_event_model(m)]
    if references_model is not None:
        chosen = [m for m in chosen if _referencing_columns(m, references_model) or _tracks(m, references_model)]
    if tracks_model is not None:
        chosen = [m for m in chosen if _tracks(m, tracks_model)]
    return chosen  # type: ignore[return-value]


def _concrete(model: type[models.Model]) -> type[models.Model]:
    return model._meta.concrete_model or model


def _tracks(event_model: type[models.Model], model: type[models.Model]) -> bool:
    """Whether *event_model* ties its events to rows of *model* (``pgh_obj``)."""
    tracked = getattr(event_model, "pgh_tracked_model", None)
    return (
        tracked is not None
        and event_model.pgh_tracking().obj_ref  # type: ignore[attr-defined]
        and _concrete(tracked) is _concrete(model)
    )


def _referencing_columns(event_model: type[models.Model], model: type[models.Model]) -> list[str]:
    """The mirrored foreign-key columns of *event_model* that point at *model*."""
    tracked_columns = event_model.pgh_tracking().tracked_columns  # type: ignore[attr-defined]
    return [
        f.column
        for f in event_model._meta.concrete_fields
        if f.related_model is not None
        and not isinstance(f.related_model, str)
        and _concrete(f.related_model) is _concrete(model)
        and f.column in tracked_columns
    ]


# ------------------------------------------------------------------------ proxy fields


def ProxyField(proxy: str, field: models.Field[object, object]) -> models.Field[object, object]:  # noqa: N802
    """A field of an events proxy model whose value is read from *proxy*, a lookup path.

    On ``Events`` proxies the path starts with ``pgh_context__`` and names keys of the
    context metadata (``"pgh_context__user"``); on proxies of an event model it is any
    lookup path from the event model (``"pgh_context__metadata__user"``, or
    ``"pgh_context__user"`` as a shortcut into the metadata). *field* gives the type the
    value is cast to (a ``ForeignKey`` makes it a relation: ``select_related``, filters
    across it). Returns *field*, as django-pghistory does.
    """
    if not isinstance(proxy, str) or not proxy:
        raise ConfigurationError(f"ProxyField needs a lookup path such as 'pgh_context__user', got {proxy!r}")
    if not isinstance(field, models.Field):
        raise ConfigurationError(f"ProxyField needs a Django model field instance, got {field!r}")
    field.pgh_proxy = proxy  # type: ignore[attr-defined]
    return field


def proxy_fields(model: type[models.Model]) -> list[models.Field[object, object]]:
    return [f for f in model._meta.concrete_fields if getattr(f, "pgh_proxy", None)]


def check_proxy_model(model: type[models.Model], errors: list[object]) -> list[object]:
    """Drop Django's "proxy model contains fields" error (models.E017) for proxy fields."""
    local = model._meta.local_fields
    if local and all(getattr(f, "pgh_proxy", None) for f in local):
        return [e for e in errors if getattr(e, "id", None) != "models.E017"]
    return errors


class _SourceCompiler(SQLCompiler):
    """A compiler whose base table is replaced by a derived table (:meth:`source`)."""

    def source(self) -> tuple[str, list[object]] | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_from_clause(self) -> tuple[list[str], list[object]]:
        result, params = super().get_from_clause()
        table = self.query.get_meta().db_table
        used = [a for a in self.query.alias_map if self.query.alias_refcount[a]]
        if not used or not isinstance(self.query.alias_map[used[0]], BaseTable):
            return result, params
        if self.query.alias_map[used[0]].table_name != table:  # pragma: no cover - defensive
            return result, params
        source = self.source()
        if source is None:
            return result, params
        text, source_params = source
        # The base table comes first, and its own SQL has no parameters.
        derived = "(" + text + ") AS " + self.connection.ops.quote_name(used[0])
        return [derived, *result[1:]], [*source_params, *params]


def _proxy_expression(event_model: type[models.Model], path: str, field: models.Field[object, object]) -> models.Expression:
    """The Django expression of a proxy path on an event model, cast to *field*'s type."""
    from django.db.models.fields.json import KeyTextTransform, KeyTransform

    from django.core.exceptions import FieldDoesNotExist

    from pghistory_django.models import Context

    parts = path.split("__")
    model: type[models.Model] | None = event_model
    for index, part in enumerate(parts):
        if model is None:  # pragma: no cover - checked below for every part but the last
            break
        if model is Context and part not in {f.name for f in Context._meta.get_fields()}:
            # "pgh_context__user" on a context foreign key: a key of the metadata.
            parts[index:index] = ["metadata"]
            part = "metadata"
        try:
            found = model._meta.get_field(part)
        except FieldDoesNotExist:
            raise ConfigurationError(
                f"ProxyField({path!r}) on {event_model._meta.label}: {model._meta.label} has no field {part!r}"
            ) from None
        if isinstance(found, models.JSONField) and index < len(parts) - 1:
            # The keys after the JSON field, the last one as text (->>), then cast.
            value: models.Expression = models.F("__".join(parts[: index + 1]))
            for key in parts[index + 1 : -1]:
                value = KeyTransform(key, value)
            return Cast(KeyTextTransform(parts[-1], value), output_field=_cast_target(field))
        model = found.related_model if found.is_relation else None  # type: ignore[assignment]
        if model is None and index < len(parts) - 1:
            raise ConfigurationError(f"ProxyField({path!r}) on {event_model._meta.label}: {part!r} is not a relation")
    return Cast(models.F("__".join(parts)), output_field=_cast_target(field))


def _cast_target(field: models.Field[object, object]) -> models.Field[object, object]:
    """Casting to a foreign key means casting to the type of the key it points at."""
    if field.is_relation and field.target_field is not None:  # type: ignore[attr-defined]
        return field.target_field.__class__()  # type: ignore[attr-defined, no-any-return]
    return field


class EventCompiler(_SourceCompiler):
    """Event model proxies with proxy fields: the event table plus the proxied columns."""

    def source(self) -> tuple[str, list[object]] | None:
        model = self.query.model
        assert model is not None
        proxied = proxy_fields(model)
        if not proxied:
            return None
        concrete = _concrete(model)
        annotations = {f.column: _proxy_expression(concrete, f.pgh_proxy, f) for f in proxied}  # type: ignore[attr-defined]
        columns = [f.attname for f in concrete._meta.concrete_fields]
        queryset = models.QuerySet(concrete).annotate(**annotations).values(*columns, *annotations)
        text, params = queryset.query.get_compiler(connection=self.connection).as_sql()
        return text, list(params)


class EventQuery(Query):
    """The query of event models: proxy fields are computed (see :class:`EventCompiler`)."""

    def get_compiler(
        self, using: str | None = None, connection: BaseDatabaseWrapper | None = None, elide_empty: bool = True
    ) -> SQLCompiler:
        if using is None and connection is None:
            raise ValueError("Need either using or connection")
        if using:
            connection = connections[using]
        return EventCompiler(self, connection, using, elide_empty)


# ----------------------------------------------------------------------------- as of


def _instance(tracked: type[models.Model], version: history.RowVersion, alias: str) -> models.Model:
    """An (unsaved-looking, but loaded-from-*alias*) instance holding a past row."""
    from pghistory_django.translate import table_fields

    connection = connections[alias]
    fields = {f.column: f for f in table_fields(tracked)}
    names, values = [], []
    for column, value in version.values.items():
        field = fields[column]
        converter = getattr(field, "from_db_value", None)
        if converter is not None and value is not None and (isinstance(value, str) or not isinstance(field, models.JSONField)):
            value = converter(value, None, connection)
        names.append(field.attname)
        values.append(value)
    instance = tracked.from_db(alias, names, values)
    instance.pgh_as_of = version  # type: ignore[attr-defined]
    return instance


class EventQuerySet(models.QuerySet):  # type: ignore[type-arg]
    """The queryset of event models."""

    def __init__(self, model: type[models.Model] | None = None, query: Query | None = None, using: str | None = None, hints: dict[str, object] | None = None) -> None:
        super().__init__(model, query if query is not None else EventQuery(model), using, hints)

    def _tracking(self) -> tuple[Tracking, type[models.Model]]:
        model = _concrete(self.model)
        tracked = getattr(model, "pgh_tracked_model", None)
        if tracked is None:
            raise ConfigurationError(f"{model._meta.label} is not a generated event model (no tracked model)")
        return model.pgh_tracking(), tracked  # type: ignore[attr-defined]

    def as_of(self, at: datetime.datetime, obj: models.Model | object = None) -> list[models.Model] | models.Model | None:
        """The tracked rows as they were at *at*, rebuilt from this event model's events.

        With *obj* (an instance or a primary key): that object then, or None if it did not
        exist. Without: every object that existed then, by primary key. The instances are
        not read from the tracked table; ``instance.pgh_as_of`` says which event they come
        from. Needs an event model that mirrors every field and records every insert,
        update and delete (:class:`~pghistory_core.HistoryError` says what is missing).
        """
        tracking, tracked = self._tracking()
        conn = driver_connection(self.db)
        if obj is None:
            return [_instance(tracked, v, self.db) for v in history.table_as_of(conn, [tracking], tracking.table, at)]
        pk = _saved_pk(obj, "as_of") if isinstance(obj, models.Model) else obj
        version = history.object_as_of(conn, [tracking], tracking.table, _pk_value(pk), at)  # type: ignore[arg-type]
        return _instance(tracked, version, self.db) if version is not None else None


def _pk_value(pk: object) -> sql.LiteralValue:
    """A primary key as the core's literal (cast to the column's type by the core)."""
    if isinstance(pk, (int, str, uuid.UUID)) and not isinstance(pk, bool):
        return pk
    if isinstance(pk, (list, tuple)):
        return tuple(_pk_value(p) for p in pk)
    return str(pk)


# ------------------------------------------------------------------- revert a context


def revert_context(
    context_id: uuid.UUID | str,
    *,
    using: str | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> RevertPlan:
    """Undo every change recorded under *context_id* (a request, a job), in one transaction.

    Reads the events of every event model (see :func:`pghistory_core.revert.revert_context`
    for the rules, conflicts and ``force``); ``dry_run=True`` returns the plan without
    writing. The revert is recorded under a new context whose metadata names the reverted
    one (``pghistory_revert_of``).
    """
    from pghistory_django.models import Context

    alias = using or router.db_for_write(Context)
    trackings = [m.pgh_tracking() for m in event_models()]
    return _core_revert_context(driver_connection(alias), trackings, context_id, dry_run=dry_run, force=force)


# ---------------------------------------------------------------------- aggregate events

#: The core's column types (JSON columns leave the core's query as text), for an empty
#: source with the same shape when no event table can match.
_CORE_TYPES = {
    "pgh_id": "bigint",
    "pgh_created_at": "timestamptz",
    "pgh_label": "text",
    "pgh_model": "text",
    "pgh_obj_model": "text",
    "pgh_obj_id": "text",
    "pgh_context_id": "uuid",
    "pgh_context": "text",
    "pgh_data": "text",
    "pgh_diff": "text",
}
_H = sql.Identifier("pgh_events")
_STANDARD = ("pgh_slug", "pgh_model", "pgh_id", "pgh_created_at", "pgh_label", "pgh_data", "pgh_diff",
             "pgh_context_id", "pgh_context", "pgh_obj_model", "pgh_obj_id")


def _objects(objs: tuple[object, ...], what: str) -> Objects:
    if not objs:
        raise ConfigurationError(f"{what}() needs at least one object")
    if len(objs) == 1 and isinstance(objs[0], (list, tuple, models.QuerySet)):
        return objs[0]  # type: ignore[return-value]
    return objs  # type: ignore[return-value]


def _objects_model(objs: Objects, what: str) -> tuple[type[models.Model], list[object]]:
    """The objects' concrete model and primary keys (a queryset is evaluated)."""
    if isinstance(objs, models.QuerySet):
        return _concrete(objs.model), list(objs.values_list("pk", flat=True))
    items = list(objs)  # type: ignore[arg-type]
    classes = {_concrete(type(o)) for o in items if isinstance(o, models.Model)}
    if len(classes) != 1 or not all(isinstance(o, models.Model) for o in items):
        raise ConfigurationError(f"the objects passed to {what}() must be model instances of one model, got {items!r}")
    return classes.pop(), [_saved_pk(o, what) for o in items]  # type: ignore[arg-type]


def _saved_pk(obj: models.Model, what: str) -> object:
    """*obj*'s primary key; an unsaved instance has no history (and ``None`` would be
    compared as the text ``'None'``)."""
    if obj.pk is None:
        raise ConfigurationError(f"{what}() got an unsaved {obj._meta.label} instance (its primary key is None); save it first")
    return obj.pk


def _label_case(column: str, labels: dict[str, str]) -> sql.Composable:
    """``CASE pgh_events.<column> WHEN '<event table>' THEN '<label>' ... END``."""
    if not labels:
        return sql.SQL("NULL::text")
    whens = [sql.SQL("WHEN {} THEN {}").format(sql.Literal(k), sql.Literal(v)) for k, v in labels.items()]
    return sql.SQL("(CASE {}.{} {} END)").format(_H, sql.Identifier(column), sql.join(" ", whens))


class EventsCompiler(_SourceCompiler):
    """Compiles an :class:`EventsQuery`: the core's events query as the ``FROM`` source."""

    def source(self) -> tuple[str, list[object]] | None:
        query: EventsQuery = self.query  # type: ignore[assignment]
        model = query.model
        assert model is not None
        chosen, parts = query.pgh_core_queries()
        if parts:
            body = parts[0] if len(parts) == 1 else sql.join(" UNION ", [sql.SQL("(") + p + sql.SQL(")") for p in parts])
        else:
            body = sql.SQL("SELECT {} WHERE FALSE").format(
                sql.join(", ", [sql.SQL("NULL::{} AS {}").format(sql.SQL(t), sql.Identifier(n)) for n, t in _CORE_TYPES.items()])
            )
        event_labels = {history.model_name(m.pgh_tracking()): m._meta.label for m in chosen}
        obj_labels = {history.model_name(m.pgh_tracking()): m.pgh_tracked_model._meta.label for m in chosen}  # type: ignore[union-attr]
        label = _label_case("pgh_model", event_labels)

        def col(name: str) -> sql.Composable:
            return _H + sql.SQL(".") + sql.Identifier(name)

        def json_col(name: str) -> sql.Composable:
            return sql.SQL("CAST({} AS jsonb)").format(col(name))

        standard: dict[str, sql.Composable] = {
            "pgh_slug": sql.SQL("({} || ':' || {})").format(label, col("pgh_id")),
            "pgh_model": label,
            "pgh_id": col("pgh_id"),
            "pgh_created_at": col("pgh_created_at"),
            "pgh_label": col("pgh_label"),
            "pgh_data": json_col("pgh_data"),
            "pgh_diff": json_col("pgh_diff"),
            "pgh_context_id": col("pgh_context_id"),
            "pgh_context": json_col("pgh_context"),
            "pgh_obj_model": _label_case("pgh_model", obj_labels),
            # A scalar key as text ('5', not '"5"'); a composite key stays a JSON array.
            "pgh_obj_id": sql.SQL("({} #>> '{{}}')").format(json_col("pgh_obj_id")),
        }
        selected = []
        for field in model._meta.concrete_fields:
            if field.attname in standard:
                expr = standard[field.attname]
            else:
                path = getattr(field, "pgh_proxy", None)
                if path is None:
                    warnings.warn(
                        f"extra field {field.name!r} on the events model {model._meta.label} is read from the "
                        f"context metadata; declare it with pghistory.ProxyField('pgh_context__{field.name}', ...)",
                        DeprecationWarning,
                        stacklevel=2,
                    )
                    path = "pgh_context__" + field.name
                keys = path.split("__")
                if keys[0] != "pgh_context" or len(keys) < 2:
                    raise ConfigurationError(
                        f"{model._meta.label}.{field.name}: proxy fields of events models read the context "
                        f"metadata, e.g. ProxyField('pgh_context__user', ...); got {path!r}"
                    )
                expr = sql.SQL("CAST(({} #>> {}) AS {})").format(
                    json_col("pgh_context"), sql.SQL("{}::text[]").format(sql.Literal(keys[1:])),
                    sql.SQL(field.db_type(self.connection) or "text"),
                )
            selected.append(sql.SQL("{} AS {}").format(expr, sql.Identifier(field.column)))
        text = sql.render(sql.SQL("SELECT {} FROM ({}) AS {}").format(sql.join(", ", selected), body, _H))
        # Django passes parameters to the driver, which then reads "%" as a placeholder.
        return text.replace("%", "%%"), []


class EventsQuery(Query):
    """A query over events across event tables (see the module docstring).

    ``pgh_tracks`` / ``pgh_references`` hold objects (instances or a queryset),
    ``pgh_across`` event models; Django's ``clone`` copies them with the query.
    """

    pgh_tracks: Objects | None = None
    pgh_references: Objects | None = None
    pgh_across: tuple[type[models.Model] | str, ...] = ()

    def get_compiler(
        self, using: str | None = None, connection: BaseDatabaseWrapper | None = None, elide_empty: bool = True
    ) -> SQLCompiler:
        if using is None and connection is None:
            raise ValueError("Need either using or connection")
        if using:
            connection = connections[using]
        return EventsCompiler(self, connection, using, elide_empty)

    def pgh_core_queries(self) -> tuple[list[type[Event]], list[sql.Composable]]:
        """The event models read and the core queries whose union is the source."""
        if self.pgh_tracks is not None and self.pgh_references is not None:
            raise ConfigurationError("cannot use both tracks() and references()")
        if self.pgh_tracks is not None:
            model, pks = _objects_model(self.pgh_tracks, "tracks")
            chosen = event_models(self.pgh_across, tracks_model=model)
            trackings = [m.pgh_tracking() for m in chosen]
            # One index-backed query per object (the core's object filter takes one key).
            parts = [history.events_sql(trackings, obj=(trackings[0].table, _pk_value(pk))) for pk in pks] if trackings else []
            return chosen, parts
        if self.pgh_references is not None:
            model, pks = _objects_model(self.pgh_references, "references")
            chosen = event_models(self.pgh_across, references_model=model)
            parts = []
            tracking_models = [m for m in chosen if _tracks(m, model)]
            if tracking_models:
                trackings = [m.pgh_tracking() for m in tracking_models]
                parts += [history.events_sql(trackings, obj=(trackings[0].table, _pk_value(pk))) for pk in pks]
            for event_model in chosen:
                columns = _referencing_columns(event_model, model)
                if columns and pks:
                    refs = [history.Reference(c, _pk_value(pk)) for c in columns for pk in pks]
                    parts.append(history.events_sql([event_model.pgh_tracking()], references=refs))
            return chosen, parts
        chosen = event_models(self.pgh_across)
        if not chosen:
            return chosen, []
        return chosen, [history.events_sql([m.pgh_tracking() for m in chosen])]


class EventsQuerySet(models.QuerySet):  # type: ignore[type-arg]
    """The queryset of ``Events`` models: ``tracks``, ``references``, ``across``."""

    def __init__(self, model: type[models.Model] | None = None, query: Query | None = None, using: str | None = None, hints: dict[str, object] | None = None) -> None:
        super().__init__(model, query if query is not None else EventsQuery(model), using, hints)

    def across(self, *event_models: type[models.Model] | str) -> EventsQuerySet:
        """Only events of these event models (classes or ``"app_label.Model"``)."""
        qs = self._chain()
        qs.query.pgh_across = tuple(event_models)  # type: ignore[attr-defined]
        return qs

    def tracks(self, *objs: object) -> EventsQuerySet:
        """Events of these objects (instances of one model, a list, or a queryset): the
        events whose ``pgh_obj`` is one of them, read through the ``pgh_obj_id`` index."""
        qs = self._chain()
        qs.query.pgh_tracks = _objects(objs, "tracks")  # type: ignore[attr-defined]
        return qs

    def references(self, *objs: object) -> EventsQuerySet:
        """Events that reference these objects: their own events (``pgh_obj``) and events
        whose mirrored foreign keys point at them."""
        qs = self._chain()
        qs.query.pgh_references = _objects(objs, "references")  # type: ignore[attr-defined]
        return qs


class NoObjectsManager(models.Manager):  # type: ignore[type-arg]
    """The default manager of ``Events``: empty, so ``dumpdata`` and other commands that
    walk every model's default manager do not read every event table."""

    def get_queryset(self) -> models.QuerySet:  # type: ignore[type-arg]
        return models.QuerySet(self.model, using=self._db).none()
