"""Admin integration: the Events page, read-only event model admins, "Events" buttons.

Layer: adapter (Django admin). Imported by Django's admin autodiscovery when
``django.contrib.admin`` and ``pghistory_django`` are both in ``INSTALLED_APPS``; it then
registers the events admin on ``admin.site``: the model of ``PGHISTORY_ADMIN_QUERYSET``
(else ``PGHISTORY_ADMIN_MODEL``, default ``pghistory.Events``) with
``PGHISTORY_ADMIN_CLASS`` (default :class:`EventsAdmin`).

- :class:`EventsAdmin`: every event of every event table, newest first
  (``PGHISTORY_ADMIN_ORDERING``), with ``PGHISTORY_ADMIN_LIST_DISPLAY`` columns; the diff
  is shown as ``column: old → new`` lines. Filters: label, event model, and, when reached
  from a tracked model's page, the object (``?obj=app.Model:pk``, events that ``tracks``
  or ``references`` it) or the model (``?model=app.Model``). With
  ``PGHISTORY_ADMIN_ALL_EVENTS = False`` nothing is listed until a filter is chosen.
- :class:`EventModelAdmin`: read-only admin for one event model (``pgh_*`` fields and the
  mirrored fields, filters by label and object).
- :class:`EventsButtonMixin` (or :class:`TrackedModelAdmin`): "Events" buttons on a
  tracked model's change list (events of the model) and change form (events of the
  object), plus a button per event model registered with :class:`EventModelAdmin`.
  django-pghistory shows these buttons through admin template overrides; here the model
  admin opts in, so ``INSTALLED_APPS`` order does not matter.

The query parameters (``obj``, ``method``, ``model``, ``event_model``, ``label``,
``back``) are django-pghistory's, so its links keep working.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.module_loading import import_string
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from pghistory_django import config
from pghistory_django.aggregates import event_models
from pghistory_django.models import Event

if TYPE_CHECKING:
    from django.contrib.admin.sites import AdminSite

__all__ = [
    "BaseEventAdmin",
    "EventModelAdmin",
    "EventsAdmin",
    "EventsButtonMixin",
    "TrackedModelAdmin",
    "admin_class",
    "admin_model",
    "admin_queryset",
    "register",
]

#: Template namespace of the admin templates (``pghistory_django/templates/pghistory/``).
_TEMPLATES = "pghistory/admin/"


# ------------------------------------------------------------------------------ settings


def admin_model() -> type[models.Model]:
    """``PGHISTORY_ADMIN_MODEL``: the events model of the admin (default ``pghistory.Events``)."""
    label = getattr(settings, "PGHISTORY_ADMIN_MODEL", "pghistory.Events")
    try:
        return apps.get_model(label)
    except (LookupError, ValueError) as exc:
        raise ImproperlyConfigured(f"settings.PGHISTORY_ADMIN_MODEL must name an installed model, got {label!r}") from exc


def admin_queryset() -> models.QuerySet[models.Model]:
    """``PGHISTORY_ADMIN_QUERYSET``, else the admin model's events in ``PGHISTORY_ADMIN_ORDERING``."""
    queryset = getattr(settings, "PGHISTORY_ADMIN_QUERYSET", None)
    if queryset is None:
        # Not _default_manager: the aggregate models' default manager is empty (no_objects).
        return admin_model().objects.order_by(*config.admin_ordering())  # type: ignore[attr-defined, no-any-return]
    if not isinstance(queryset, models.QuerySet):
        raise ImproperlyConfigured(f"settings.PGHISTORY_ADMIN_QUERYSET must be a QuerySet, got {queryset!r}")
    return queryset.all()  # a fresh copy: never share a cached result between requests


def admin_class() -> type[EventsAdmin]:
    """``PGHISTORY_ADMIN_CLASS`` (a class or its dotted path): a subclass of :class:`EventsAdmin`."""
    value = getattr(settings, "PGHISTORY_ADMIN_CLASS", EventsAdmin)
    cls = import_string(value) if isinstance(value, str) else value
    if not (isinstance(cls, type) and issubclass(cls, EventsAdmin)):
        raise ImproperlyConfigured(f"settings.PGHISTORY_ADMIN_CLASS must be a subclass of pghistory_django.admin.EventsAdmin, got {value!r}")
    return cls


def _list_display(model: type[models.Model]) -> list[str]:
    display = config.admin_list_display()
    if not hasattr(settings, "PGHISTORY_ADMIN_LIST_DISPLAY") and model._meta.label == "pghistory.MiddlewareEvents":
        # As django-pghistory: the middleware's context columns come with its model.
        display += ["user", "url"]
    return display


# ------------------------------------------------------------------------- event models


def _concrete(model: type[models.Model]) -> type[models.Model]:
    return model._meta.concrete_model or model


def _of_model(model: type[models.Model]) -> list[type[Event]]:
    """Event models of *model*'s table, with or without ``pgh_obj`` (through models)."""
    return [m for m in event_models() if _concrete(m.pgh_tracked_model) is _concrete(model)]  # type: ignore[arg-type]


def _labels(models_: Iterable[type[Event]]) -> list[str]:
    return sorted({t.label for m in models_ for t in m.pgh_tracking_options.trackers})  # type: ignore[union-attr]


def _get_model(label: str | None) -> type[models.Model] | None:
    if not label:
        return None
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        raise IncorrectLookupParameters(f"unknown model {label!r}") from None


def _get_obj(value: str | None) -> models.Model | None:
    """The object named by ``app.Model:pk`` (not fetched: only its primary key is set)."""
    if not value:
        return None
    label, sep, pk = value.partition(":")
    model = _get_model(label) if sep else None
    if model is None:
        raise IncorrectLookupParameters(f"obj must be 'app_label.Model:pk', got {value!r}")
    pk_field = model._meta.pk
    assert pk_field is not None
    try:
        return model(pk=pk_field.to_python(pk))
    except ValidationError:
        raise IncorrectLookupParameters(f"bad primary key in obj={value!r}") from None


def _obj_param(model: type[models.Model], pk: object) -> str:
    return f"{model._meta.label}:{pk}"


def _describe(obj: models.Model) -> str:
    """The object's ``str()``, or ``<Model> <pk> (deleted)`` when its row is gone."""
    found = type(obj)._base_manager.filter(pk=obj.pk).first()
    if found is None:
        return f"{obj._meta.verbose_name} {obj.pk} ({_('deleted')})"
    return str(found)


def _filter_event_models(request: HttpRequest) -> list[type[Event]]:
    """The event models the page is about: those of ``obj``/``model``, else all."""
    obj = _get_obj(request.GET.get("obj"))
    model = _get_model(request.GET.get("model"))
    if obj is not None and request.GET.get("method") == "references":
        return event_models(references_model=type(obj))
    if obj is not None:
        return event_models(tracks_model=type(obj))
    if model is not None:
        return _of_model(model)
    return event_models()


# ------------------------------------------------------------------------------- filters


class LabelFilter(admin.SimpleListFilter):
    """Events with one label (the labels of the event models on the page)."""

    title = _("label")
    parameter_name = "label"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:  # type: ignore[override]
        models_ = [model_admin.model] if issubclass(model_admin.model, Event) else _filter_event_models(request)
        return [(label, label) for label in _labels(models_)]

    def queryset(self, request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:  # type: ignore[type-arg]
        return queryset.filter(pgh_label=self.value()) if self.value() else queryset


class EventModelFilter(admin.SimpleListFilter):
    """Events of one event model; with ``?model=``, of the model's event models."""

    title = _("event model")
    parameter_name = "event_model"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:  # type: ignore[override]
        return sorted((m._meta.label_lower, m._meta.label) for m in _filter_event_models(request))

    def queryset(self, request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:  # type: ignore[type-arg]
        if self.value():
            model = _get_model(self.value())
            if model not in event_models():
                raise IncorrectLookupParameters(f"event_model={self.value()!r} is not an event model")
            return queryset.across(model)  # type: ignore[attr-defined]
        if "model" in request.GET and "obj" not in request.GET:
            chosen = _filter_event_models(request)
            # across() without models means every event model.
            return queryset.across(*chosen) if chosen else queryset.none()  # type: ignore[attr-defined]
        return queryset


class MethodFilter(admin.SimpleListFilter):
    """With ``?obj=``: the events of the object (``tracks``) or those referring to it."""

    title = _("method")
    parameter_name = "method"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:  # type: ignore[override]
        return [("tracks", _("tracks")), ("references", _("references"))]

    def queryset(self, request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:  # type: ignore[type-arg]
        obj = _get_obj(request.GET.get("obj"))
        if obj is None:
            return queryset
        if self.value() == "references":
            return queryset.references(obj)  # type: ignore[attr-defined]
        return queryset.tracks(obj)  # type: ignore[attr-defined]

    def choices(self, changelist: ChangeList) -> Iterable[dict[str, object]]:
        # No "All": an object page always applies one of the two methods.
        current = self.value() or "tracks"
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


class _ParameterFilter(admin.SimpleListFilter):
    """Shows (and consumes, so the change list does not reject it) one query parameter."""

    title = ""

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:  # type: ignore[override]
        value = request.GET.get(self.parameter_name or "")
        return [(value, self.display(value))] if value else []

    def display(self, value: str) -> str:
        return value

    def queryset(self, request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:  # type: ignore[type-arg]
        return queryset


class ObjFilter(_ParameterFilter):
    """``?obj=app.Model:pk``: on an event model admin, the events of that object."""

    title = _("object")
    parameter_name = "obj"

    def display(self, value: str) -> str:
        obj = _get_obj(value)
        return _describe(obj) if obj is not None else value

    def queryset(self, request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:  # type: ignore[type-arg]
        obj = _get_obj(self.value())
        if obj is None or not issubclass(queryset.model, Event):
            return queryset  # on the events admin, MethodFilter applies it
        if not queryset.model.pgh_tracking_options.obj_ref:  # type: ignore[union-attr]
            raise IncorrectLookupParameters(f"{queryset.model._meta.label} has no pgh_obj")
        return queryset.filter(pgh_obj_id=obj.pk)


class ModelFilter(_ParameterFilter):
    """``?model=app.Model``: events of the model's event tables (see EventModelFilter)."""

    title = _("model")
    parameter_name = "model"


class BackFilter(_ParameterFilter):
    """``?back=<url>``: where the "Back" button leads; not shown as a filter."""

    parameter_name = "back"
    template = _TEMPLATES + "hidden_filter.html"


# ------------------------------------------------------------------------------- display


def _json_value(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


@admin.display(description=_("diff"))
def pgh_diff(obj: models.Model) -> SafeString | None:
    """``column: old → new``, one line per changed column (none for a first event)."""
    diff = getattr(obj, "pgh_diff", None)
    if not diff:
        return None  # the admin's empty value ("-")
    return format_html(
        '<div class="pgh-diff">{}</div>',
        format_html_join(
            "",
            '<div><span class="pgh-key">{}</span>: <span class="pgh-old">{}</span> → <span class="pgh-new">{}</span></div>',
            ((key, _json_value(old), _json_value(new)) for key, (old, new) in sorted(diff.items())),
        ),
    )


@admin.display(description=_("data"))
def pgh_data(obj: models.Model) -> SafeString | None:
    """``column: value``, one line per mirrored column."""
    data = getattr(obj, "pgh_data", None)
    if not data:
        return None
    return format_html(
        '<div class="pgh-data">{}</div>',
        format_html_join("", '<div><span class="pgh-key">{}</span>: {}</div>',
                         ((key, _json_value(value)) for key, value in sorted(data.items()))),
    )


#: ``list_display`` names shown through a formatting function instead of the raw JSON.
_DISPLAYS = {"pgh_diff": pgh_diff, "pgh_data": pgh_data}


# --------------------------------------------------------------------------------- admins


def _safe_back(request: HttpRequest) -> str | None:
    """The ``back`` parameter if it is a URL of this site (never another host or scheme)."""
    back = request.GET.get("back")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return back
    return None


class BaseEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only admin of events: viewable and filterable, never added, changed or deleted."""

    change_list_template = _TEMPLATES + "events_change_list.html"
    actions = None
    # Counting every event of every table for "N total" is too costly on big histories.
    show_full_result_count = False
    if hasattr(admin, "ShowFacets"):  # Django 5.0+: facet counts would query each choice
        show_facets = admin.ShowFacets.NEVER

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, object] | None = None) -> HttpResponse:
        context: dict[str, object] = {"title": self.model._meta.verbose_name_plural.capitalize()}
        try:
            obj = _get_obj(request.GET.get("obj"))
            model = _get_model(request.GET.get("model"))
        except IncorrectLookupParameters:
            obj = model = None  # the change list itself reports the bad parameter
        if obj is not None:
            method = request.GET.get("method")
            described = _describe(obj)
            context["subtitle"] = f"{method.title()} {described}" if method in ("tracks", "references") else described
        elif model is not None:
            context["subtitle"] = model._meta.label
        back = _safe_back(request)
        if back:
            context["pgh_back"] = back
        return super().changelist_view(request, extra_context={**context, **(extra_context or {})})


class EventModelAdmin(BaseEventAdmin):
    """Admin of one event model: ``pgh_*`` and mirrored fields, filters by label and object.

    ``list_display`` defaults to ``pgh_id``, ``pgh_created_at``, ``pgh_label``, the object
    and context references, then the mirrored fields (relations by their column value,
    so a list costs one query and events of deleted objects still show).
    """

    list_filter = [LabelFilter, ObjFilter, BackFilter]

    def get_list_display(self, request: HttpRequest) -> Sequence[str]:
        if tuple(self.list_display) != ("__str__",):
            return self.list_display  # type: ignore[return-value]
        fields = self.model._meta.concrete_fields
        first = ["pgh_id", "pgh_created_at", "pgh_label", "pgh_obj", "pgh_context"]
        present = {f.name: f for f in fields}
        names = [name for name in first if name in present]
        names += [f.name for f in fields if f.name not in first and f.name != "pgh_context_id"]
        return [present[name].attname if present[name].is_relation else name for name in names]


class EventsChangeList(ChangeList):
    """With ``PGHISTORY_ADMIN_ALL_EVENTS = False``, no events until a filter is chosen."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: object = None) -> models.QuerySet:  # type: ignore[type-arg, override]
        if exclude_parameters is None:
            queryset = super().get_queryset(request)
        else:  # Django 5.0+ (facets)
            queryset = super().get_queryset(request, exclude_parameters)  # type: ignore[call-arg]
        # has_active_filters is known only once the filters have run (above).
        if not config.admin_all_events() and not self.has_active_filters:
            return queryset.none()
        return queryset


class EventsAdmin(BaseEventAdmin):
    """Admin of the aggregate events model (``PGHISTORY_ADMIN_MODEL``)."""

    def get_changelist(self, request: HttpRequest, **kwargs: object) -> type[ChangeList]:
        return EventsChangeList

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:  # type: ignore[type-arg]
        queryset = admin_queryset()
        if queryset.model is not self.model:
            # PGHISTORY_ADMIN_CLASS registered on another events model by hand.
            return self.model.objects.order_by(*config.admin_ordering())  # type: ignore[attr-defined, no-any-return]
        return queryset

    def get_list_display(self, request: HttpRequest) -> Sequence[object]:  # type: ignore[override]
        return [_DISPLAYS.get(name, name) if isinstance(name, str) else name for name in _list_display(self.model)]

    def get_list_select_related(self, request: HttpRequest) -> Sequence[str] | bool:
        # Relations shown as columns (MiddlewareEvents.user) are joined, not read per row.
        shown = set(_list_display(self.model))
        return [f.name for f in self.model._meta.concrete_fields if f.is_relation and f.name in shown] or False

    def get_list_filter(self, request: HttpRequest) -> Sequence[type[admin.ListFilter]]:  # type: ignore[override]
        filters: list[type[admin.ListFilter]] = [LabelFilter, EventModelFilter]
        if "obj" in request.GET:
            filters += [MethodFilter, ObjFilter]
        elif "model" in request.GET:
            filters += [ModelFilter]
        return [*filters, BackFilter]


# ------------------------------------------------------------------ tracked model buttons


def _model_admin(site: AdminSite, model: type[models.Model]) -> admin.ModelAdmin | None:  # type: ignore[type-arg]
    return site._registry.get(model)  # get_model_admin() is Django 5.0+


def _changelist_url(site: AdminSite, model: type[models.Model]) -> str | None:
    try:
        return reverse(f"{site.name}:{model._meta.app_label}_{model._meta.model_name}_changelist")
    except NoReverseMatch:
        return None


def events_admin_registration(site: AdminSite) -> tuple[type[models.Model], admin.ModelAdmin] | None:  # type: ignore[type-arg]
    """The events model and its admin on *site* (``None`` if not registered there)."""
    for model, model_admin in site._registry.items():
        if isinstance(model_admin, EventsAdmin):
            return model, model_admin
    return None


class EventsButtonMixin:
    """ModelAdmin mixin for tracked models: "Events" buttons on the change list and form.

    The change list's button opens the events admin filtered to the model
    (``?model=app.Model``), the change form's to the object
    (``?method=tracks&obj=app.Model:pk``); both carry ``back`` to return. A button per
    event model of the tracked model registered with :class:`EventModelAdmin` follows.
    Buttons are shown to users who may view the events. The mixin sets
    ``change_form_template``/``change_list_template``; a subclass with its own templates
    extends ``pghistory/admin/tracked_change_form.html`` (``..._change_list.html``).
    """

    change_form_template: ClassVar[str] = _TEMPLATES + "tracked_change_form.html"
    change_list_template: ClassVar[str] = _TEMPLATES + "tracked_change_list.html"

    model: type[models.Model]
    admin_site: AdminSite

    def pgh_event_buttons(self, request: HttpRequest, obj: models.Model | None = None) -> list[dict[str, str]]:
        """``[{"label", "url", "class"}]`` for the change list (*obj* None) or change form."""
        back = request.get_full_path()
        buttons: list[dict[str, str]] = []
        registration = events_admin_registration(self.admin_site)
        if registration is not None and registration[1].has_view_permission(request):
            url = _changelist_url(self.admin_site, registration[0])
            if url is not None:
                if obj is None:
                    params = {"model": self.model._meta.label, "back": back}
                else:
                    params = {"method": "tracks", "obj": _obj_param(self.model, obj.pk), "back": back}
                buttons.append({"label": str(_("Events")), "url": f"{url}?{urlencode(params)}", "class": "pgh-events"})
        if obj is not None:
            for event_model in event_models(tracks_model=self.model):
                model_admin = _model_admin(self.admin_site, event_model)
                if isinstance(model_admin, EventModelAdmin) and model_admin.has_view_permission(request):
                    url = _changelist_url(self.admin_site, event_model)
                    if url is not None:
                        params = {"obj": _obj_param(self.model, obj.pk), "back": back}
                        label = str(event_model._meta.verbose_name_plural).capitalize()
                        buttons.append({"label": label, "url": f"{url}?{urlencode(params)}", "class": "pgh-event-model"})
        return buttons

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, object],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: models.Model | None = None,
    ) -> HttpResponse:
        if obj is not None and obj.pk is not None and not add:
            context["pgh_event_buttons"] = self.pgh_event_buttons(request, obj)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)  # type: ignore[misc, no-any-return]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, object] | None = None) -> HttpResponse:
        context = {"pgh_event_buttons": self.pgh_event_buttons(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)  # type: ignore[misc, no-any-return]


class TrackedModelAdmin(EventsButtonMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """A ``ModelAdmin`` with the "Events" buttons of :class:`EventsButtonMixin`."""


# --------------------------------------------------------------------------- registration


def register(site: AdminSite | None = None) -> None:
    """Register the events admin (``PGHISTORY_ADMIN_*`` settings) on *site* (``admin.site``)."""
    (site or admin.site).register(admin_queryset().model, admin_class())


if apps.is_installed("django.contrib.admin"):
    register()
