"""Models: the shared ``Context``, the abstract ``Event`` every event model inherits.

Layer: adapter (Django models). The app's label is ``pghistory``, so ``pghistory.Context``
(table ``pghistory_context``) keeps django-pghistory's name and data.

An event model knows its tracked model and tracking options (set by
:func:`pghistory_django.create_event_model`); :meth:`Event.pgh_tracking` turns them into
the core's spec, which renders the triggers and the history queries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, router

from pghistory_core.spec import Tracking

if TYPE_CHECKING:
    from pghistory_django.translate import TrackingOptions

__all__ = ["Context", "Event"]


class Context(models.Model):
    """Metadata grouping changes (a request, a job); written by the triggers."""

    id = models.UUIDField(primary_key=True)
    metadata = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "pghistory"
        db_table = "pghistory_context"

    def __str__(self) -> str:
        return str(self.id)


class Event(models.Model):
    """Base of every event model: ``pgh_id`` (bigint), ``pgh_created_at``, ``pgh_label``."""

    pgh_id = models.BigAutoField(primary_key=True)
    pgh_created_at = models.DateTimeField(auto_now_add=True)
    pgh_label = models.TextField(help_text="The event label.")

    #: The tracked model and the options of ``track()``; set on generated models.
    pgh_tracked_model: ClassVar[type[models.Model] | None] = None
    pgh_tracking_options: ClassVar[TrackingOptions | None] = None

    class Meta:
        abstract = True

    @classmethod
    def pgh_tracking(cls) -> Tracking:
        """The core's spec for this event model (cached once every model is loaded)."""
        from pghistory_django.translate import build_tracking

        cached = cls.__dict__.get("_pgh_tracking_cache")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        if cls.pgh_tracked_model is None or cls.pgh_tracking_options is None:
            raise TypeError(f"{cls._meta.label} is not a generated event model (no tracked model)")
        tracking = build_tracking(cls.pgh_tracked_model, cls._meta.db_table, cls.pgh_tracking_options)
        if apps.ready:
            # Before that, relation types may still be unresolved (see translate._column_type).
            cls._pgh_tracking_cache = tracking  # type: ignore[attr-defined]
        return tracking

    def can_revert(self) -> bool:
        """Whether the event mirrors every column of the tracked table (needed to revert)."""
        from pghistory_core.history import full_row_problems

        return not full_row_problems(type(self).pgh_tracking())

    def revert(self, using: str | None = None) -> models.Model:
        """Write this event's row back to the tracked table; returns the tracked object.

        Runs in one transaction (a savepoint inside an open ``atomic`` block); the active
        context is sent, so the triggers record the revert under it.
        """
        from pghistory_core.revert import revert_to_event

        tracked = type(self).pgh_tracked_model
        assert tracked is not None
        alias = using or router.db_for_write(tracked)
        connection = connections[alias]
        connection.ensure_connection()
        if connection.in_atomic_block:
            # Make sure the atomic block's transaction is open, so the core nests in a
            # savepoint instead of committing it.
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        revert_to_event(connection.connection, type(self).pgh_tracking(), int(self.pgh_id))
        pk_field = tracked._meta.pk
        assert pk_field is not None
        obj_id = getattr(self, "pgh_obj_id", None)
        if obj_id is None:
            obj_id = getattr(self, pk_field.attname)
        return tracked._base_manager.using(alias).get(pk=obj_id)
