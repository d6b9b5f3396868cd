"""Models: the shared ``Context``, the abstract ``Event`` every event model inherits.

Layer: adapter (Django models). The app's label is ``pghistory``, so ``pghistory.Context``
(table ``pghistory_context``) keeps django-pghistory's name and data.

An event model knows its tracked model and tracking options (set by
:func:`pghistory_django.create_event_model`); :meth:`Event.pgh_tracking` turns them into
the core's spec, which renders the triggers and the history queries.

``Events`` and ``MiddlewareEvents`` are unmanaged models over every event table at once;
their queries compile to the core's events query (:mod:`pghistory_django.aggregates`).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, ClassVar

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.conf import settings
from django.core import checks
from django.db import models, router

from pghistory_core.errors import HistoryError
from pghistory_core.revert import RevertPlan
from pghistory_core.spec import Tracking
from pghistory_django.aggregates import (
    EventQuerySet,
    EventsQuerySet,
    NoObjectsManager,
    ProxyField,
    check_proxy_model,
    driver_connection,
    revert_context,
)

if TYPE_CHECKING:
    from pghistory_django.translate import TrackingOptions

__all__ = ["CannotRevertError", "Context", "Event", "Events", "MiddlewareEvents"]


class CannotRevertError(HistoryError, RuntimeError):
    """``Event.revert()`` on an event model that does not mirror every field.

    A ``RuntimeError`` as in django-pghistory (code written for it catches that), and a
    :class:`~pghistory_core.HistoryError` like the library's other history errors.
    """


class Context(models.Model):
    """Metadata grouping changes (a request, a job); written by the triggers."""

    # The triggers write ids the context machinery chose; the default is for rows made by
    # hand (``Context.objects.create(metadata=...)``), as in django-pghistory.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    metadata = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "pghistory"
        db_table = "pghistory_context"

    def __str__(self) -> str:
        return str(self.id)

    @classmethod
    def install_pgh_attach_context_func(cls, using: str = "default") -> None:
        """(Re)install the context functions the triggers call, on database *using*.

        django-pghistory's name, for test suites that skip migrations (what
        ``PGHISTORY_INSTALL_CONTEXT_FUNC_ON_MIGRATE`` does after ``migrate``). Idempotent.
        """
        from pghistory_django.context_sql import install_context_functions

        install_context_functions(using)

    def revert(self, *, dry_run: bool = False, force: bool = False) -> RevertPlan:
        """Undo every change recorded under this context; see :func:`pghistory_django.revert_context`."""
        return revert_context(self.id, using=self._state.db, dry_run=dry_run, force=force)


class Event(models.Model):
    """Base of every event model: ``pgh_id`` (bigint), ``pgh_created_at``, ``pgh_label``."""

    pgh_id = models.BigAutoField(primary_key=True)
    pgh_created_at = models.DateTimeField(auto_now_add=True)
    pgh_label = models.TextField(help_text="The event label.")

    #: The tracked model and the options of ``track()``; set on generated models.
    pgh_tracked_model: ClassVar[type[models.Model] | None] = None
    pgh_tracking_options: ClassVar[TrackingOptions | None] = None

    objects = EventQuerySet.as_manager()

    class Meta:
        abstract = True

    @classmethod
    def check(cls, **kwargs: object) -> list[checks.CheckMessage]:
        # Proxies of event models may declare ProxyFields.
        return check_proxy_model(cls, super().check(**kwargs))  # type: ignore[return-value, arg-type]

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

    @property
    def can_revert(self) -> bool:
        """Whether the event mirrors every column of the tracked table (needed to revert).

        A property, as in django-pghistory (``if event.can_revert: ...``).
        """
        from pghistory_core.history import full_row_problems

        return not full_row_problems(type(self).pgh_tracking())

    def revert(self, using: str | None = None) -> models.Model:
        """Write this event's row back to the tracked table; returns the tracked object.

        Runs in one transaction (a savepoint inside an open ``atomic`` block); the active
        context is sent, so the triggers record the revert under it.
        """
        from pghistory_core.history import full_row_problems
        from pghistory_core.revert import revert_to_event

        tracked = type(self).pgh_tracked_model
        assert tracked is not None
        problems = full_row_problems(type(self).pgh_tracking())
        if problems:
            raise CannotRevertError(
                f"{self._meta.label} cannot revert {tracked._meta.label}: it does not track every field ({'; '.join(problems)})"
            )
        alias = using or router.db_for_write(tracked)
        revert_to_event(driver_connection(alias), type(self).pgh_tracking(), int(self.pgh_id))
        pk_field = tracked._meta.pk
        assert pk_field is not None
        obj_id = getattr(self, "pgh_obj_id", None)
        if obj_id is None:
            obj_id = getattr(self, pk_field.attname)
        return tracked._base_manager.using(alias).get(pk=obj_id)


class Events(models.Model):
    """Events across every event table, with ``pgh_data`` and ``pgh_diff``.

    An unmanaged model (no table): ``Events.objects`` compiles to the core's events query.
    Narrow it with ``tracks(obj)``, ``references(obj)`` and ``across(*event_models)``
    (applied inside each event table's branch, index-backed), then ``filter``,
    ``order_by``, slice and count as usual. The default manager is empty
    (``no_objects``) so ``dumpdata`` does not read every event table.
    """

    pgh_slug = models.TextField(primary_key=True, help_text="The unique identifier across all event tables.")
    pgh_model = models.CharField(max_length=64, help_text="The event model.")
    pgh_id = models.BigIntegerField(help_text="The primary key of the event.")
    pgh_created_at = models.DateTimeField(auto_now_add=True, help_text="When the event was created.")
    pgh_label = models.TextField(help_text="The event label.")
    pgh_data = models.JSONField(help_text="The raw data of the event.")
    pgh_diff = models.JSONField(help_text="The diff between the previous event of the same label.")
    pgh_context_id = models.UUIDField(null=True, help_text="The context UUID.")
    pgh_context = models.JSONField(null=True, help_text="The context associated with the event.")
    pgh_obj_model = models.CharField(max_length=64, help_text="The object model.")
    pgh_obj_id = models.TextField(null=True, help_text="The primary key of the object.")

    objects = EventsQuerySet.as_manager()
    no_objects = NoObjectsManager()

    class Meta:
        app_label = "pghistory"
        managed = False
        verbose_name_plural = "events"
        default_manager_name = "no_objects"

    def __str__(self) -> str:
        return self.pgh_slug

    @classmethod
    def check(cls, **kwargs: object) -> list[checks.CheckMessage]:
        # Proxies of Events declare ProxyFields (models.E017 otherwise).
        return [e for e in super().check(**kwargs) if e.id != "models.E017"]  # type: ignore[arg-type]


class MiddlewareEvents(Events):
    """``Events`` with the ``user`` and ``url`` recorded by ``HistoryMiddleware``."""

    user = ProxyField(
        "pgh_context__user",
        models.ForeignKey(
            settings.AUTH_USER_MODEL,
            on_delete=models.DO_NOTHING,
            null=True,
            help_text="The user associated with the event.",
        ),
    )
    url = ProxyField("pgh_context__url", models.TextField(null=True, help_text="The url associated with the event."))

    class Meta:
        app_label = "pghistory"
        proxy = True
        verbose_name_plural = "middleware events"
