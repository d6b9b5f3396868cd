"""The seed documents' models, tracked with pghistory_django.

Every example exists twice: at the default level (statement) and with ``level=Row``
(class names prefixed ``Row``), so each behaviour is checked at both levels.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.models import User
from django.db import models

import pghistory_django as pghistory


def _model(name, columns, *trackers, **options):
    """Define a seed model at statement level and, as ``Row<name>``, at row level."""
    for prefix, level in (("", pghistory.Statement), ("Row", pghistory.Row)):
        attrs = {"__module__": __name__, "Meta": type("Meta", (), {"app_label": "testapp"})}
        attrs.update({key: make() for key, make in columns.items()})
        kwargs = dict(options)
        if "model_name" in kwargs:
            kwargs["model_name"] = prefix + kwargs["model_name"]
        model = pghistory.track(*trackers, level=level, **kwargs)(type(prefix + name, (models.Model,), attrs))
        globals()[prefix + name] = model


def _user_fk():
    return models.ForeignKey("auth.User", on_delete=models.CASCADE, null=True)


def _int():
    return models.IntegerField()


def _char():
    return models.CharField(max_length=16, db_index=True)


_model(
    "TrackedModel",
    {"int_field": _int, "char_field": _char, "user": _user_fk},
)
_model(
    "FieldsModel",
    {"int_field": _int, "char_field": _char, "user": _user_fk},
    fields=["int_field"],
)
_model(
    "ExcludeModel",
    {"int_field": _int, "char_field": _char, "user": _user_fk},
    exclude=["int_field"],
)
_model("DeleteModel", {"int_field": _int}, pghistory.DeleteEvent())
_model(
    "MyUser",
    {
        "username": lambda: models.CharField(max_length=128),
        "email": models.EmailField,
        "address": models.TextField,
    },
    pghistory.UpdateEvent("email_changed", row=pghistory.Old, condition=pghistory.AnyChange("email")),
    model_name="UserEmailHistory",
)
_model(
    "Cash",
    {"dollars": lambda: models.DecimalField(max_digits=12, decimal_places=2)},
    pghistory.UpdateEvent("money_below_one_hundred", condition=pghistory.Q(old__dollars__gte=100, new__dollars__lt=100)),
    pghistory.UpdateEvent("money_down", condition=pghistory.Q(old__dollars__gt=pghistory.F("new__dollars"))),
    pghistory.UpdateEvent("money_up", condition=pghistory.Q(old__dollars__lt=pghistory.F("new__dollars"))),
)
_model(
    "ManualUser",
    {"username": lambda: models.CharField(max_length=64), "password": lambda: models.CharField(max_length=128)},
    pghistory.ManualEvent("user_create"),
    fields=["username"],
)


def _multi_user():
    """Multiple trackers with different schemas (two ``track`` calls)."""
    for prefix, level in (("", pghistory.Statement), ("Row", pghistory.Row)):
        attrs = {
            "__module__": __name__,
            "Meta": type("Meta", (), {"app_label": "testapp"}),
            "username": models.CharField(max_length=128),
            "email": models.EmailField(),
        }
        model = type(prefix + "MultiUser", (models.Model,), attrs)
        pghistory.track(
            pghistory.UpdateEvent("username_changed", row=pghistory.Old, condition=pghistory.AnyChange("username")),
            fields=["username"],
            model_name=prefix + "MultiUserUsernameHistory",
            level=level,
        )(model)
        pghistory.track(
            pghistory.UpdateEvent("email_changed", row=pghistory.Old, condition=pghistory.AnyChange("email")),
            fields=["email"],
            model_name=prefix + "MultiUserEmailHistory",
            level=level,
        )(model)
        globals()[prefix + "MultiUser"] = model


_multi_user()


# Third-party models through proxies (statement level only: the same tables).
@pghistory.track(exclude=["password"])
class UserProxy(User):
    class Meta:
        proxy = True
        app_label = "testapp"


@pghistory.track(
    pghistory.AfterInsert("group.add"),
    pghistory.BeforeDelete("group.remove"),
    obj_field=None,
)
class UserGroups(User.groups.through):
    class Meta:
        proxy = True
        app_label = "testapp"


# Concrete inheritance, with the FAQ's fix for the reverse-accessor clash.
@pghistory.track(obj_field=pghistory.ObjForeignKey(related_name="parent_event", related_query_name="parent_event_query"))
class Parent(models.Model):
    field_a = models.CharField(default="unknown", max_length=32)

    class Meta:
        app_label = "testapp"


@pghistory.track(obj_field=pghistory.ObjForeignKey(related_name="child_event", related_query_name="child_event_query"))
class Child(Parent):
    field_b = models.CharField(default="unknown", max_length=32)

    class Meta:
        app_label = "testapp"


# Custom primary key, custom db_column, auto-now fields, a manual label.
@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.ManualEvent("manual"))
class Document(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    title = models.CharField(max_length=64, db_column="Document Title", unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "testapp"


# Denormalized context, append-only events, an integer key changed by bulk updates, and
# a label with quotes.
@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    pghistory.UpdateEvent("it's \"quoted\"", condition=pghistory.Q(new__number__gt=1000)),
    context_field=pghistory.ContextJSONField(),
    append_only=True,
)
class Ticket(models.Model):
    number = models.IntegerField(primary_key=True)
    status = models.CharField(max_length=16, default="open")

    class Meta:
        app_label = "testapp"


# Row-level twin of the key-changing model.
@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), level=pghistory.Row)
class RowTicket(models.Model):
    number = models.IntegerField(primary_key=True)
    status = models.CharField(max_length=16, default="open")

    class Meta:
        app_label = "testapp"


# An event table partitioned by month (``manage.py pghistory_partitions --convert``).
@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), partition="month")
class Diary(models.Model):
    entry = models.CharField(max_length=100)

    class Meta:
        app_label = "testapp"
