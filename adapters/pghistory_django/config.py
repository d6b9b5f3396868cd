"""Configuration: the ``PGHISTORY_*`` settings and the field configuration objects.

Layer: adapter (Django). Settings are read when used (not cached), so tests can override
them. The field configuration classes (``Field``, ``RelatedField``, ``ForeignKey``,
``ObjForeignKey``, ``ContextForeignKey``, ``ContextJSONField``, ``ContextUUIDField``)
keep django-pghistory's signatures: each holds the keyword arguments it was given and
resolves them over the global setting of its kind and the built-in defaults
(``kwargs``). ``DEFAULT`` as a value drops the argument (Django's own default applies).

``None`` for a ``*_FIELD`` setting is accepted (django-pghistory raises):

- ``PGHISTORY_OBJ_FIELD = None``: event models have no ``pgh_obj`` by default;
- ``PGHISTORY_CONTEXT_FIELD = None``: event models store no context by default;
- ``PGHISTORY_FIELD``, ``PGHISTORY_RELATED_FIELD``, ``PGHISTORY_FOREIGN_KEY_FIELD``,
  ``PGHISTORY_CONTEXT_ID_FIELD = None``: no global overrides; the built-in defaults apply.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Union

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils.module_loading import import_string

from pghistory_core.trackers import Level
from pghistory_django.constants import DEFAULT, UNSET, Sentinel

if TYPE_CHECKING:
    from pghistory_core.trackers import Tracker

__all__ = [
    "ContextForeignKey",
    "ContextJSONField",
    "ContextUUIDField",
    "Field",
    "ForeignKey",
    "ObjForeignKey",
    "RelatedField",
    "admin_all_events",
    "admin_list_display",
    "admin_ordering",
    "append_only",
    "as_level",
    "base_model",
    "context_field",
    "context_id_field",
    "created_at_function",
    "default_trackers",
    "exclude_field_kwargs",
    "field",
    "foreign_key_field",
    "install_context_func_on_migrate",
    "json_encoder",
    "level",
    "middleware_methods",
    "obj_field",
    "related_field",
    "schema",
]

#: Default of ``settings.PGHISTORY_SCHEMA``.
DEFAULT_SCHEMA = "public"
#: Postgres truncates longer identifiers (NAMEDATALEN - 1 bytes).
_MAX_IDENTIFIER_BYTES = 63

_Value = Union[object, Sentinel]


def _setting(name: str, default: object) -> object:
    return getattr(settings, "PGHISTORY_" + name, default)


def _check(name: str, value: object, types: tuple[type, ...]) -> None:
    if value is not None and not isinstance(value, types):
        expected = " or ".join(t.__name__ for t in types)
        raise ImproperlyConfigured(f"settings.PGHISTORY_{name} must be a pghistory {expected} or None, got {value!r}")


# ------------------------------------------------------------------ field configuration


class Field:
    """Configuration of an event model field mirrored from the tracked model.

    The built-in defaults drop what history must not copy: primary keys, uniqueness and
    indexes (events repeat values).
    """

    _setting_name = "FIELD"

    def __init__(
        self,
        *,
        primary_key: _Value = UNSET,
        unique: _Value = UNSET,
        blank: _Value = UNSET,
        null: _Value = UNSET,
        db_index: _Value = UNSET,
        editable: _Value = UNSET,
        unique_for_date: _Value = UNSET,
        unique_for_month: _Value = UNSET,
        unique_for_year: _Value = UNSET,
    ) -> None:
        self._kwargs: dict[str, object] = {}
        self._take(locals())

    def _take(self, values: dict[str, object]) -> None:
        for key, value in values.items():
            if key in ("self", "kwargs", "__class__") or value is UNSET:
                continue
            self._kwargs[key] = value

    def builtin_defaults(self) -> dict[str, object]:
        return {
            "primary_key": False,
            "unique": False,
            "db_index": False,
            "unique_for_date": None,
            "unique_for_month": None,
            "unique_for_year": None,
        }

    def setting_defaults(self) -> dict[str, object]:
        configured = field()
        return dict(configured._kwargs) if configured is not None else {}

    def get_default_kwargs(self) -> dict[str, object]:
        return {**self.builtin_defaults(), **self.setting_defaults()}

    @property
    def kwargs(self) -> dict[str, object]:
        merged = {**self.get_default_kwargs(), **self._kwargs}
        return {key: value for key, value in merged.items() if value is not DEFAULT}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._kwargs.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._kwargs == self._kwargs  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted((k, repr(v)) for k, v in self._kwargs.items()))))


class RelatedField(Field):
    """Configuration of a mirrored relation: no reverse accessors by default."""

    def __init__(self, *, related_name: _Value = UNSET, related_query_name: _Value = UNSET, **kwargs: _Value) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._take({"related_name": related_name, "related_query_name": related_query_name})

    def builtin_defaults(self) -> dict[str, object]:
        return {**super().builtin_defaults(), "related_name": "+", "related_query_name": "+"}

    def setting_defaults(self) -> dict[str, object]:
        configured = related_field()
        return {**super().setting_defaults(), **(configured._kwargs if configured is not None else {})}


class ForeignKey(RelatedField):
    """Configuration of a mirrored foreign key: unconstrained, ``DO_NOTHING``, indexed."""

    def __init__(self, *, on_delete: _Value = UNSET, db_constraint: _Value = UNSET, **kwargs: _Value) -> None:
        super().__init__(**kwargs)
        self._take({"on_delete": on_delete, "db_constraint": db_constraint})

    def builtin_defaults(self) -> dict[str, object]:
        return {**super().builtin_defaults(), "on_delete": models.DO_NOTHING, "db_index": True, "db_constraint": False}

    def setting_defaults(self) -> dict[str, object]:
        configured = foreign_key_field()
        return {**super().setting_defaults(), **(configured._kwargs if configured is not None else {})}


class ContextForeignKey(ForeignKey):
    """Configuration of ``pgh_context`` as a foreign key to ``pghistory.Context``."""

    def __init__(self, *, null: _Value = True, related_query_name: _Value = DEFAULT, **kwargs: _Value) -> None:
        super().__init__(null=null, related_query_name=related_query_name, **kwargs)


class ContextJSONField(Field):
    """Configuration of ``pgh_context`` as denormalized JSON (with ``pgh_context_id``)."""

    def __init__(self, *, null: _Value = True, **kwargs: _Value) -> None:
        super().__init__(null=null, **kwargs)  # type: ignore[arg-type]


class ContextUUIDField(Field):
    """Configuration of ``pgh_context_id`` when the context is denormalized."""

    def __init__(self, *, null: _Value = True, **kwargs: _Value) -> None:
        super().__init__(null=null, **kwargs)  # type: ignore[arg-type]


class ObjForeignKey(ForeignKey):
    """Configuration of ``pgh_obj``, the reference to the tracked object.

    ``related_name``/``related_query_name`` left to ``DEFAULT`` become ``events`` (or
    ``<fields>_events``) when the event model is built.
    """

    def __init__(self, *, related_name: _Value = DEFAULT, related_query_name: _Value = DEFAULT, **kwargs: _Value) -> None:
        super().__init__(related_name=related_name, related_query_name=related_query_name, **kwargs)


# ------------------------------------------------------------------------------ settings


def field() -> Field | None:
    value = _setting("FIELD", None)
    _check("FIELD", value, (Field,))
    return value  # type: ignore[return-value]


def related_field() -> RelatedField | None:
    value = _setting("RELATED_FIELD", None)
    _check("RELATED_FIELD", value, (RelatedField,))
    return value  # type: ignore[return-value]


def foreign_key_field() -> ForeignKey | None:
    value = _setting("FOREIGN_KEY_FIELD", None)
    _check("FOREIGN_KEY_FIELD", value, (ForeignKey,))
    return value  # type: ignore[return-value]


def obj_field() -> ObjForeignKey | None:
    value = _setting("OBJ_FIELD", ObjForeignKey())
    _check("OBJ_FIELD", value, (ObjForeignKey,))
    return value  # type: ignore[return-value]


def context_field() -> ContextForeignKey | ContextJSONField | None:
    value = _setting("CONTEXT_FIELD", ContextForeignKey())
    _check("CONTEXT_FIELD", value, (ContextForeignKey, ContextJSONField))
    return value  # type: ignore[return-value]


def context_id_field() -> ContextUUIDField:
    value = _setting("CONTEXT_ID_FIELD", None)
    _check("CONTEXT_ID_FIELD", value, (ContextUUIDField,))
    return value if value is not None else ContextUUIDField()  # type: ignore[return-value]


def append_only() -> bool:
    return bool(_setting("APPEND_ONLY", False))


def level() -> Level | None:
    """``PGHISTORY_LEVEL``: ``pghistory.Row`` or ``pghistory.Statement`` (also the
    strings ``"ROW"``/``"STATEMENT"``); unset: the core's default (statement level)."""
    return as_level(_setting("LEVEL", None), "settings.PGHISTORY_LEVEL")


def as_level(value: object, where: str) -> Level | None:
    """*value* as the core's level: ``pghistory.Row``/``Statement``, django-pghistory's
    (``pgtrigger.Row``/``Statement``, which its ``pghistory.Row`` is), or ``"ROW"``/
    ``"STATEMENT"``; ``None`` stays ``None``. *where* names the option in the error."""
    from pghistory_django.pgtrigger_values import convert

    if value is None or isinstance(value, Level):
        return value
    converted = convert("level", value)
    if isinstance(converted, Level):
        return converted
    raise ImproperlyConfigured(f"{where} must be pghistory.Row or pghistory.Statement, got {value!r}")


def default_trackers() -> tuple[Tracker, ...] | None:
    """``PGHISTORY_DEFAULT_TRACKERS``: trackers used by ``track()`` without any."""
    value = _setting("DEFAULT_TRACKERS", None)
    if value is None:
        return None
    from pghistory_core.trackers import Tracker

    if not isinstance(value, (list, tuple)):
        raise ImproperlyConfigured(f"settings.PGHISTORY_DEFAULT_TRACKERS must be a list of trackers, got {value!r}")
    trackers: tuple[object, ...] = tuple(value)
    for tracker in trackers:
        if not isinstance(tracker, Tracker):
            raise ImproperlyConfigured(f"settings.PGHISTORY_DEFAULT_TRACKERS must hold trackers, got {tracker!r}")
    return trackers  # type: ignore[return-value]


def base_model() -> type[models.Model]:
    from pghistory_django.models import Event

    value = _setting("BASE_MODEL", Event)
    if isinstance(value, str):
        value = import_string(value)
    if not (isinstance(value, type) and issubclass(value, Event)):
        raise ImproperlyConfigured(f"settings.PGHISTORY_BASE_MODEL must be a subclass of pghistory.models.Event, got {value!r}")
    return value


def schema() -> str:
    """``settings.PGHISTORY_SCHEMA``: the schema Django creates this project's tables in (the
    first schema of the database user's ``search_path``), default ``"public"``.

    The generated triggers name the tracked table, the event table, ``pghistory_context``
    and every function with this schema, so they never depend on ``search_path``; the
    database check ``pghistory.E002`` compares it with ``current_schema()``.
    """
    value = _setting("SCHEMA", DEFAULT_SCHEMA)
    if not isinstance(value, str) or not value:
        raise ImproperlyConfigured(f"settings.PGHISTORY_SCHEMA must be a non-empty schema name, got {value!r}")
    if len(value.encode("utf-8")) > _MAX_IDENTIFIER_BYTES or "\x00" in value:
        raise ImproperlyConfigured(
            f"settings.PGHISTORY_SCHEMA {value!r} is not a valid Postgres name "
            f"(at most {_MAX_IDENTIFIER_BYTES} bytes, no NUL character)"
        )
    return value


def created_at_function() -> str:
    return str(_setting("CREATED_AT_FUNCTION", "now()"))


def exclude_field_kwargs() -> dict[type, list[str]]:
    value = _setting("EXCLUDE_FIELD_KWARGS", {}) or {}
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"settings.PGHISTORY_EXCLUDE_FIELD_KWARGS must be a dict, got {value!r}")
    result: dict[type, list[str]] = {}
    for key, names in value.items():
        cls = import_string(key) if isinstance(key, str) else key
        result[cls] = list(names)
    return result


def json_encoder() -> type:
    value = _setting("JSON_ENCODER", "django.core.serializers.json.DjangoJSONEncoder")
    return _imported(value) if isinstance(value, str) else value  # type: ignore[return-value]


@functools.lru_cache(maxsize=16)
def _imported(path: str) -> object:
    # Every context() looks the encoder up; cached by dotted path, so a changed setting
    # (override_settings) is still honoured.
    return import_string(path)


def middleware_methods() -> tuple[str, ...]:
    return tuple(_setting("MIDDLEWARE_METHODS", ("GET", "POST", "PUT", "PATCH", "DELETE")))  # type: ignore[arg-type]


def install_context_func_on_migrate() -> bool:
    return bool(_setting("INSTALL_CONTEXT_FUNC_ON_MIGRATE", False))


def admin_ordering() -> list[str]:
    value = _setting("ADMIN_ORDERING", "-pgh_created_at") or []
    return list(value) if isinstance(value, (list, tuple)) else [value]  # type: ignore[list-item]


def admin_all_events() -> bool:
    return bool(_setting("ADMIN_ALL_EVENTS", True))


def admin_list_display() -> list[str]:
    return list(_setting("ADMIN_LIST_DISPLAY", ["pgh_created_at", "pgh_obj_model", "pgh_obj_id", "pgh_diff"]))  # type: ignore[call-overload]
