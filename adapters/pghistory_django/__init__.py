"""pghistory_django: trigger-based history for Django models, on the pghistory core.

Layer: adapter (Django). A drop-in for django-pghistory 3.9: ``import pghistory_django as
pghistory`` runs code written for it. Add ``"pgtrigger"`` and ``"pghistory_django"`` to
``INSTALLED_APPS`` (the app's label is ``pghistory``)::

    import pghistory_django as pghistory

    @pghistory.track()
    class TrackedModel(models.Model):
        int_field = models.IntegerField()

Trackers, conditions, levels and operations are the core's objects; names in ``fields``,
``exclude`` and conditions are Django field names, translated to columns. Trackers also
accept django-pgtrigger's own ``Q``, ``F``, ``AnyChange``..., ``Condition``, ``Row``,
``Statement``, ``Insert``/``Update``/``Delete`` and the rows ``"OLD"``/``"NEW"`` (what
django-pghistory's names are), translated by :mod:`pghistory_django.pgtrigger_values`,
which importing this package registers with the core. Triggers are rendered by the core
and installed by django-pgtrigger through migrations.
"""

from __future__ import annotations

from pghistory_core.conditions import AllChange, AllDontChange, AnyChange, AnyDontChange, Condition, F, Q
from pghistory_core.trackers import (
    Delete,
    DeleteEvent,
    Insert,
    InsertEvent,
    ManualEvent,
    New,
    Old,
    Row,
    RowEvent,
    Statement,
    Tracker,
    Update,
    UpdateEvent,
    register_converter,
)
from pghistory_django import pgtrigger_values
from pghistory_django.aggregates import ProxyField, revert_context
from pghistory_django.config import (
    ContextForeignKey,
    ContextJSONField,
    ContextUUIDField,
    Field,
    ForeignKey,
    ObjForeignKey,
    RelatedField,
)
from pghistory_django.constants import DEFAULT
from pghistory_django.context import context, ignore
from pghistory_django.core import create_event, create_event_model, track

# Before any tracker of the project is built (models, settings.PGHISTORY_DEFAULT_TRACKERS).
register_converter(pgtrigger_values.convert)


def AfterInsert(label: str) -> InsertEvent:  # noqa: N802 - django-pghistory 2.x name
    """django-pghistory 2.x name of ``InsertEvent(label)`` (kept for old code and docs)."""
    return InsertEvent(label)


def BeforeDelete(label: str) -> DeleteEvent:  # noqa: N802 - django-pghistory 2.x name
    """django-pghistory 2.x name of ``DeleteEvent(label)``."""
    return DeleteEvent(label)


def AfterUpdate(label: str, *, condition: object = None) -> UpdateEvent:  # noqa: N802
    """django-pghistory 2.x name of ``UpdateEvent(label, condition=...)`` (NEW row)."""
    return UpdateEvent(label, condition=condition)  # type: ignore[arg-type]


def BeforeUpdate(label: str, *, condition: object = None) -> UpdateEvent:  # noqa: N802
    """django-pghistory 2.x name of ``UpdateEvent(label, row=Old, condition=...)``."""
    return UpdateEvent(label, row=Old, condition=condition)  # type: ignore[arg-type]


default_app_config = "pghistory_django.apps.PGHistoryConfig"

__all__ = [
    "AfterInsert",
    "AfterUpdate",
    "AllChange",
    "AllDontChange",
    "AnyChange",
    "AnyDontChange",
    "BeforeDelete",
    "BeforeUpdate",
    "Condition",
    "ContextForeignKey",
    "ContextJSONField",
    "ContextUUIDField",
    "DEFAULT",
    "Delete",
    "DeleteEvent",
    "F",
    "Field",
    "ForeignKey",
    "Insert",
    "InsertEvent",
    "ManualEvent",
    "New",
    "ObjForeignKey",
    "Old",
    "ProxyField",
    "Q",
    "RelatedField",
    "Row",
    "RowEvent",
    "Statement",
    "Tracker",
    "Update",
    "UpdateEvent",
    "context",
    "create_event",
    "create_event_model",
    "ignore",
    "revert_context",
    "track",
]
