"""Tracking Django models: ``track``, ``create_event_model``, ``create_event``.

Layer: adapter (translation). A Django model and the options of ``track()`` become the
core's :class:`~pghistory_core.Tracking` (see :mod:`pghistory_django.translate`), and the
core's event table becomes a Django model mirroring the tracked fields:

- no primary key, uniqueness or index is copied (history repeats values); the options of
  ``PGHISTORY_FIELD`` / ``Field()`` apply;
- foreign keys and one-to-one fields become unconstrained foreign keys
  (``db_constraint=False``, ``on_delete=DO_NOTHING``, ``related_name="+"``, indexed);
- ``AutoField``/``BigAutoField``/``SmallAutoField`` become plain integer fields;
  ``auto_now``/``auto_now_add`` are dropped (an event stores the row's values);
- ``db_column`` and custom primary keys are kept, so the core's trigger writes the same
  column names;
- ``pgh_obj`` references the tracked object (``obj_field=None`` removes it, as needed for
  many-to-many through models); ``pgh_context`` references ``pghistory.Context``
  (``ContextForeignKey``), or holds the metadata itself (``ContextJSONField`` plus
  ``pgh_context_id``), or is absent (``context_field=None``).

Each trigger-installing tracker becomes a :class:`~pghistory_django.triggers.HistoryTrigger`
registered on the tracked model with django-pgtrigger.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models, router
from django.db.models.signals import class_prepared

import pghistory_core as ph
from pghistory_core.events import create_event_sql
from pghistory_core import sql
from pghistory_core.spec import DENORMALIZED, FK, NO_CONTEXT
from pghistory_core.trackers import Level
from pghistory_django import config
from pghistory_django.constants import DEFAULT, UNSET
from pghistory_django.translate import TrackingOptions, table_fields, tracked_field_names

if TYPE_CHECKING:
    from pghistory_django.models import Event

__all__ = ["create_event", "create_event_model", "track"]

M = TypeVar("M", bound=type[models.Model])


# -------------------------------------------------------------------- mirrored fields


def _integer_class(field: models.Field[object, object]) -> type[models.Field[object, object]] | None:
    """Auto fields become plain integer fields: ``BigAutoField`` a ``BigIntegerField``, the
    others an ``IntegerField`` (as django-pghistory does, so its migrations stay valid)."""
    if isinstance(field, models.BigAutoField):
        return models.BigIntegerField
    if isinstance(field, (models.AutoField, models.SmallAutoField)):
        return models.IntegerField
    return None


# Always dropped: an event stores the row's values. Keys, uniqueness and indexes are the
# Field configuration's (``primary_key=False``, ``db_index=False``, ...; ``DEFAULT`` keeps
# the tracked field's value, as django-pghistory documents).
_DROPPED = ("auto_now", "auto_now_add", "db_default", "db_comment")


def _mirror(field: models.Field[object, object]) -> models.Field[object, object]:
    """The event model's copy of a tracked field (see the module docstring)."""
    excluded = [key for cls, keys in config.exclude_field_kwargs().items() if isinstance(field, cls) for key in keys]
    if isinstance(field, models.FileField):
        # Django rejects any primary_key argument on file fields (fields.E201).
        excluded.append("primary_key")
    if field.many_to_one or field.one_to_one:
        # Not deconstruct(): while models are loading it needs the app registry (swappable
        # targets); the few arguments a mirrored relation keeps are read directly.
        remote = field.remote_field
        assert remote is not None
        kept: dict[str, object] = {"null": field.null, "blank": field.blank}
        if getattr(field, "_verbose_name", None) is not None:
            kept["verbose_name"] = field._verbose_name  # type: ignore[attr-defined]
        if field.help_text:
            kept["help_text"] = field.help_text
        if field.db_column:
            kept["db_column"] = field.db_column
        to_field = getattr(remote, "field_name", None)
        target_pk = remote.model._meta.pk if not isinstance(remote.model, str) else None
        if to_field and target_pk is not None and to_field != target_pk.name:
            kept["to_field"] = to_field
        kept.update(config.ForeignKey().kwargs)
        for key in excluded:
            kept.pop(key, None)
        return models.ForeignKey(remote.model, **kept)  # type: ignore[arg-type]
    integer = _integer_class(field)
    if integer is not None:
        # Only the column name is kept: the same field state as django-pghistory's.
        return integer(db_column=field.db_column) if field.db_column else integer()
    name, path, args, kwargs = field.deconstruct()
    generated = getattr(models, "GeneratedField", None)
    if generated is not None and isinstance(field, generated):
        # Mirrored as a plain column of the output type, written by the triggers.
        output = field.output_field.clone()  # type: ignore[attr-defined]
        _, _, args, kwargs = output.deconstruct()
        cls: type[models.Field[object, object]] = type(output)
        kwargs["db_column"] = field.column
        kwargs["null"] = True
    else:
        cls = type(field)
    for key in _DROPPED:
        kwargs.pop(key, None)
    kwargs.update(config.Field().kwargs)
    for key in excluded:
        kwargs.pop(key, None)
    return cls(*args, **kwargs)


# ------------------------------------------------------------------------- naming


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def _default_model_name(tracked_model: type[models.Model], fields: Sequence[str] | None) -> str:
    suffix = "".join(_camel(f) for f in fields) if fields else ""
    return f"{tracked_model._meta.object_name}{suffix}Event"


def _default_related_name(fields: Sequence[str] | None) -> str:
    return f"{'_'.join(fields)}_events" if fields else "events"


# ------------------------------------------------------------------------- options


def _pick(value: object, setting: object) -> object:
    return setting if value is UNSET else value


def _options(
    tracked_model: type[models.Model],
    trackers: Sequence[ph.Tracker],
    fields: Iterable[str] | None,
    exclude: Iterable[str] | None,
    obj_field: object,
    context_field: object,
    append_only: object,
    level: object,
    partition: str | None = None,
) -> TrackingOptions:
    if isinstance(fields, str) or isinstance(exclude, str):
        raise ImproperlyConfigured(f"{tracked_model._meta.label}: fields/exclude must be lists of field names")
    if not trackers:
        trackers = config.default_trackers() or (ph.InsertEvent(), ph.UpdateEvent())
    for tracker in trackers:
        if not isinstance(tracker, ph.Tracker):
            raise ImproperlyConfigured(f"{tracked_model._meta.label}: trackers must be pghistory trackers, got {tracker!r}")
    context = _pick(context_field, config.context_field())
    if context is None:
        mode = NO_CONTEXT
    elif isinstance(context, config.ContextJSONField):
        mode = DENORMALIZED
    elif isinstance(context, config.ContextForeignKey):
        mode = FK
    else:
        raise ImproperlyConfigured(f"context_field must be ContextForeignKey, ContextJSONField or None, got {context!r}")
    chosen_level = config.level() if level is UNSET else config.as_level(level, f"{tracked_model._meta.label}: level")
    return TrackingOptions(
        trackers=tuple(trackers),
        fields=tuple(fields) if fields is not None else None,
        exclude=tuple(exclude or ()),
        obj_ref=_pick(obj_field, config.obj_field()) is not None,
        context=mode,
        append_only=bool(_pick(append_only, config.append_only())),
        level=chosen_level,  # type: ignore[arg-type]
        created_at=config.created_at_function(),
        partition=partition,
    )


# ------------------------------------------------------------------- event models


def create_event_model(
    tracked_model: type[models.Model],
    *trackers: ph.Tracker,
    fields: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    obj_field: config.ObjForeignKey | None = UNSET,  # type: ignore[assignment]
    context_field: config.ContextForeignKey | config.ContextJSONField | None = UNSET,  # type: ignore[assignment]
    context_id_field: config.ContextUUIDField | None = UNSET,  # type: ignore[assignment]
    append_only: bool = UNSET,  # type: ignore[assignment]
    model_name: str | None = None,
    app_label: str | None = None,
    base_model: type[models.Model] | None = None,
    attrs: Mapping[str, object] | None = None,
    meta: Mapping[str, object] | None = None,
    abstract: bool = True,
    level: Level | None = UNSET,  # type: ignore[assignment]
    partition: str | None = None,
) -> type[models.Model]:
    """Create the event model for *tracked_model* (abstract by default, to subclass).

    The triggers are registered when a concrete event model is created (directly with
    ``abstract=False``, or by subclassing the abstract one).
    """
    options = _options(tracked_model, trackers, fields, exclude, obj_field, context_field, append_only, level, partition)
    base = base_model or config.base_model()
    model_name = model_name or _default_model_name(tracked_model, fields)
    app_label = app_label or tracked_model._meta.app_label
    related_name = _default_related_name(fields)

    body: dict[str, Any] = {"__module__": tracked_model.__module__}
    for field in table_fields(tracked_model):
        if field.name in tracked_field_names(tracked_model, options):
            body[field.name] = _mirror(field)

    if options.obj_ref:
        obj_config = _pick(obj_field, config.obj_field())
        assert isinstance(obj_config, config.ObjForeignKey)
        obj_kwargs = obj_config.kwargs
        if obj_config._kwargs.get("related_name", DEFAULT) is DEFAULT:
            obj_kwargs["related_name"] = related_name
        body["pgh_obj"] = models.ForeignKey(tracked_model, **obj_kwargs)
    context_config = _pick(context_field, config.context_field())
    if options.context == FK:
        assert isinstance(context_config, config.ContextForeignKey)
        body["pgh_context"] = models.ForeignKey("pghistory.Context", **context_config.kwargs)
    elif options.context == DENORMALIZED:
        assert isinstance(context_config, config.ContextJSONField)
        id_config = _pick(context_id_field, config.context_id_field())
        if not isinstance(id_config, config.ContextUUIDField):
            id_config = config.ContextUUIDField()  # None: the built-in defaults (pgh_context_id is required)
        # No encoder: only the triggers write it (and django-pghistory's field has none).
        body["pgh_context"] = models.JSONField(**context_config.kwargs)
        body["pgh_context_id"] = models.UUIDField(**id_config.kwargs)

    meta_attrs: dict[str, Any] = {"app_label": app_label, "abstract": abstract, **(meta or {})}
    body["Meta"] = type("Meta", (), meta_attrs)
    body["pgh_tracked_model"] = tracked_model
    body["pgh_tracking_options"] = options
    body.update(attrs or {})
    event_model = type(model_name, (base,), body)
    return event_model


def _setup(event_model: type[Event]) -> None:
    """Register a concrete event model's triggers and references (once)."""
    import pgtrigger

    from pghistory_django.triggers import HistoryTrigger, pgtrigger_name

    if event_model.__dict__.get("_pgh_set_up") or event_model._meta.abstract or event_model._meta.proxy:
        return
    tracked = event_model.pgh_tracked_model
    options = event_model.pgh_tracking_options
    if tracked is None or options is None:
        return
    event_model._pgh_set_up = True  # type: ignore[attr-defined]
    tracking = event_model.pgh_tracking()  # validates the spec now, at import time
    triggers = []
    for resolved in tracking.resolved_trackers:
        label = resolved.tracker.label
        name = pgtrigger_name(label, resolved.tracker.trigger_name)
        triggers.append(HistoryTrigger(name=name, event_model=event_model, label=label, tracking=tracking))
    if triggers:
        pgtrigger.register(*triggers)(tracked)
    if options.append_only:
        pgtrigger.register(
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete)
        )(event_model)
    models_by_label = dict(getattr(tracked, "pgh_event_models", {}) or {})
    if "pgh_event_models" not in tracked.__dict__:
        # Do not share a parent's mapping with a child model.
        models_by_label = {}
    for tracker in options.trackers:
        if tracker.label in models_by_label and models_by_label[tracker.label] is not event_model:
            raise ImproperlyConfigured(
                f"{tracked._meta.label}: label {tracker.label!r} is used by two event models "
                f"({models_by_label[tracker.label]._meta.label} and {event_model._meta.label}); labels must be unique per model"
            )
        models_by_label[tracker.label] = event_model
    tracked.pgh_event_models = models_by_label  # type: ignore[attr-defined]
    if "pgh_event_model" not in tracked.__dict__:
        tracked.pgh_event_model = _EventModelOf()  # type: ignore[attr-defined]


class _EventModelOf:
    """``Model.pgh_event_model``: the tracked model's event model, if it has exactly one.

    With several (several ``track`` calls), naming one would be a guess: a ``ValueError``
    says to pick it from ``pgh_event_models`` by label, as django-pghistory does.
    """

    def __get__(self, instance: object, owner: type[models.Model]) -> type[Event]:
        event_models = {id(e): e for e in (getattr(owner, "pgh_event_models", None) or {}).values()}
        if len(event_models) == 1:
            return next(iter(event_models.values()))
        names = ", ".join(sorted(e._meta.label for e in event_models.values()))
        raise ValueError(
            f"{owner._meta.label} has more than one event model ({names}); "
            f"use {owner.__name__}.pgh_event_models[label] to pick one"
        )


def _on_class_prepared(sender: type[models.Model], **kwargs: object) -> None:
    if getattr(sender, "pgh_tracking_options", None) is not None:
        _setup(sender)  # type: ignore[arg-type]


class_prepared.connect(_on_class_prepared, dispatch_uid="pghistory_django.event_models")


def track(
    *trackers: ph.Tracker,
    fields: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    obj_field: config.ObjForeignKey | None = UNSET,  # type: ignore[assignment]
    context_field: config.ContextForeignKey | config.ContextJSONField | None = UNSET,  # type: ignore[assignment]
    context_id_field: config.ContextUUIDField | None = UNSET,  # type: ignore[assignment]
    append_only: bool = UNSET,  # type: ignore[assignment]
    model_name: str | None = None,
    app_label: str | None = None,
    base_model: type[models.Model] | None = None,
    attrs: Mapping[str, object] | None = None,
    meta: Mapping[str, object] | None = None,
    level: Level | None = UNSET,  # type: ignore[assignment]
    partition: str | None = None,
) -> Callable[[M], M]:
    """Class decorator: track *trackers* (default: insert and update) on a model.

    Creates the event model (``<Model>Event``, or ``<Model><Fields>Event`` with
    ``fields=``) in the tracked model's module and app, reachable as
    ``Model.pgh_event_model`` / ``Model.pgh_event_models[label]`` and through
    ``obj.events`` (``obj.<fields>_events``). ``partition`` (``"day"``, ``"week"``,
    ``"month"``, ``"year"``; an extension of django-pghistory's API) declares the event
    table partitioned by time: ``manage.py pghistory_partitions --convert`` partitions it
    after ``migrate`` created it, and ``pghistory_retention`` then drops whole partitions.
    """

    def decorate(model: M) -> M:
        event_model = create_event_model(
            model,
            *trackers,
            fields=fields,
            exclude=exclude,
            obj_field=obj_field,
            context_field=context_field,
            context_id_field=context_id_field,
            append_only=append_only,
            model_name=model_name,
            app_label=app_label,
            base_model=base_model,
            attrs=attrs,
            meta=meta,
            abstract=False,
            level=level,
            partition=partition,
        )
        module = sys.modules.get(model.__module__)
        if module is not None:
            setattr(module, event_model.__name__, event_model)
        return model

    return decorate


# ------------------------------------------------------------------- manual events


def _event_model_for(obj: models.Model, label: str) -> type[Event]:
    event_models: Mapping[str, type[Event]] = getattr(type(obj), "pgh_event_models", {}) or {}
    if label not in event_models:
        known = ", ".join(repr(k) for k in event_models) or "none"
        raise ValueError(f'"{label}" is not a registered tracker label for model {obj._meta.object_name}; labels: {known}')
    return event_models[label]


def create_event(obj: models.Model, *, label: str, using: str | None = None) -> Event:
    """Record *obj*'s row, as stored in the database, under *label*.

    The values are copied by one ``INSERT ... SELECT`` from the tracked row, so auto-now
    fields keep their stored values (django-pghistory overwrites them), and the event is
    linked to the active context.
    """
    event_model = _event_model_for(obj, label)
    alias = using or obj._state.db or router.db_for_write(type(obj))
    tracking = event_model.pgh_tracking()
    query = sql.render(create_event_sql(tracking, label, obj.pk))
    with connections[alias].cursor() as cursor:
        cursor.execute(query)
        rows = cursor.fetchall()
    if not rows:
        raise ph.HistoryError(f"{obj._meta.label} has no row with primary key {obj.pk!r}; save it first")
    return event_model._base_manager.using(alias).get(pgh_id=rows[0][0])
