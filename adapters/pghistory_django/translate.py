"""Translation: Django models to the core's :class:`~pghistory_core.Table` and tracking spec.

Layer: adapter (translation). Names users write (``fields=``, ``exclude=``, ``Q``/``F``
keys, change-condition columns) are Django field names; a field's ``attname``
(``user_id``) or database column is accepted too. They become database columns here,
before the core's spec is built, so the core only ever sees column names.

The tracked table is the concrete table of the model: a proxy model tracks its concrete
model's table; a model with concrete inheritance tracks its own table (its local fields and
the parent link), as django-pghistory does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from django.db import DEFAULT_DB_ALIAS, connections, models

import pghistory_core as ph
from pghistory_core.spec import ContextMode, Tracking
from pghistory_core.trackers import Level, map_tracker_columns
from pghistory_django import config

__all__ = ["Names", "TrackingOptions", "build_tracking", "core_table", "table_fields"]

def table_fields(model: type[models.Model]) -> list[models.Field[object, object]]:
    """The concrete fields stored in *model*'s own table, in table order."""
    concrete = model._meta.concrete_model
    assert concrete is not None
    return [f for f in concrete._meta.local_concrete_fields if f.column is not None]


def _column_type(field: models.Field[object, object]) -> str:
    """The field's SQL type as Postgres prints it.

    The type only matters to the core for comparisons (types without ``=`` such as json
    are compared through a cast); the event table itself is created by Django. A relation
    whose target is not loaded yet (while models are being imported) reports ``bigint``
    until it is; the spec is rebuilt once the app registry is ready.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    generated = getattr(models, "GeneratedField", None)  # Django 5+
    if generated is not None and isinstance(field, generated):
        field = field.output_field  # type: ignore[attr-defined]
    try:
        type_ = field.db_type(connection)
    except (ValueError, AttributeError, TypeError):
        type_ = None
    if not type_:
        return "bigint"
    # Django adds check constraints to some types ("integer CHECK (...)" is not produced
    # by db_type, but serial types are); keep only the type name.
    return type_.strip()


def core_table(model: type[models.Model]) -> ph.Table:
    concrete = model._meta.concrete_model
    assert concrete is not None
    columns = []
    for field in table_fields(model):
        columns.append(
            ph.Column(
                field.column,
                _column_type(field),
                nullable=bool(field.null),
                auto=bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)),
                generated=bool(getattr(field, "generated", False)),
            )
        )
    pk = concrete._meta.pk
    assert pk is not None
    return ph.Table(concrete._meta.db_table, tuple(columns), (pk.column,), config.schema())


class Names:
    """Django field names (or attnames, or columns) -> database columns of one table."""

    def __init__(self, model: type[models.Model]) -> None:
        self.owner = model._meta.label
        self.mapping: dict[str, str] = {}
        for field in table_fields(model):
            self.mapping.setdefault(field.name, field.column)
            self.mapping.setdefault(field.attname, field.column)
            self.mapping.setdefault(field.column, field.column)
        pk = model._meta.pk
        if pk is not None:
            self.mapping.setdefault("pk", pk.column)

    def __call__(self, name: str) -> str:
        if not isinstance(name, str):
            raise ph.ConfigurationError(f"{self.owner}: field names must be str, got {name!r}")
        if name in self.mapping:
            return self.mapping[name]
        known = ", ".join(sorted(self.mapping))
        raise ph.UnknownColumnError(f"{self.owner} has no field {name!r} stored in its table; known names: {known}")

    def many(self, names: Iterable[str] | None) -> tuple[str, ...] | None:
        if names is None:
            return None
        if isinstance(names, str):
            raise ph.ConfigurationError(f"{self.owner}: expected a list of field names, not a single str ({names!r})")
        return tuple(self(name) for name in names)


@dataclasses.dataclass(frozen=True)
class TrackingOptions:
    """What ``track()``/``create_event_model()`` decided, in Django terms."""

    trackers: tuple[ph.Tracker, ...]
    fields: tuple[str, ...] | None
    exclude: tuple[str, ...]
    obj_ref: bool
    context: ContextMode
    append_only: bool
    level: Level | None
    created_at: str
    partition: str | None = None


def build_tracking(tracked_model: type[models.Model], event_table: str, options: TrackingOptions) -> Tracking:
    """The core's spec for one event model of *tracked_model*."""
    names = Names(tracked_model)
    schema = config.schema()
    return Tracking(
        core_table(tracked_model),
        tuple(map_tracker_columns(t, names) for t in options.trackers),
        fields=names.many(options.fields),
        exclude=names.many(options.exclude) or (),
        event_table=event_table,
        event_schema=schema,
        context_schema=schema,
        obj_ref=options.obj_ref,
        context=options.context,
        append_only=options.append_only,
        created_at=options.created_at,
        level=options.level,
        partition=options.partition,
    )


def tracked_field_names(tracked_model: type[models.Model], options: TrackingOptions) -> list[str]:
    """The Django field names mirrored by the event model, in table order."""
    names = Names(tracked_model)
    chosen = set(names.many(options.fields) or [f.column for f in table_fields(tracked_model)])
    excluded = set(names.many(options.exclude) or ())
    return [f.name for f in table_fields(tracked_model) if f.column in chosen and f.column not in excluded]


def mapping_of(tracked_model: type[models.Model]) -> Mapping[str, str]:
    return Names(tracked_model).mapping
