"""The seed documents' example models, for Peewee (bound per test through ``proxy``)."""

from __future__ import annotations

import peewee

import pghistory_peewee as pgh

proxy = peewee.DatabaseProxy()


class Base(peewee.Model):
    class Meta:
        database = proxy


# Quick start: snapshots of every insert and update.
@pgh.track()
class TrackedModel(Base):
    int_field = peewee.IntegerField()
    text_field = peewee.TextField()


@pgh.track(fields=["int_field"])
class FieldsModel(Base):
    int_field = peewee.IntegerField()
    text_field = peewee.TextField()


@pgh.track(exclude=["int_field"])
class ExcludeModel(Base):
    int_field = peewee.IntegerField()
    text_field = peewee.TextField()


@pgh.track(pgh.DeleteEvent())
class DeleteModel(Base):
    int_field = peewee.IntegerField()


# Only the old email, when it changes.
@pgh.track(
    pgh.UpdateEvent("email_changed", row=pgh.Old, condition=pgh.AnyChange("email")),
    model_name="UserEmailHistory",
    table_name="useremailhistory",
)
class MyUser(Base):
    username = peewee.CharField(max_length=128)
    email = peewee.CharField(null=True)
    address = peewee.TextField(null=True)


@pgh.track(
    pgh.UpdateEvent("money_below_one_hundred", condition=pgh.Q(old__dollars__gte=100, new__dollars__lt=100)),
    pgh.UpdateEvent("money_down", condition=pgh.Q(old__dollars__gt=pgh.F("new__dollars"))),
    pgh.UpdateEvent("money_up", condition=pgh.Q(old__dollars__lt=pgh.F("new__dollars"))),
)
class Cash(Base):
    dollars = peewee.DecimalField(max_digits=10, decimal_places=2)


# Two trackings on one model: two event tables.
@pgh.track(
    pgh.UpdateEvent("username_changed", row=pgh.Old, condition=pgh.AnyChange("username")),
    fields=["username"],
    model_name="UsernameHistory",
    table_name="usernamehistory",
)
@pgh.track(
    pgh.UpdateEvent("email_changed", row=pgh.Old, condition=pgh.AnyChange("email")),
    fields=["email"],
    model_name="EmailHistory",
    table_name="emailhistory",
)
class Profile(Base):
    username = peewee.TextField()
    email = peewee.TextField()


# Manual events, and a denormalized context.
@pgh.track(pgh.ManualEvent("user_create"), pgh.InsertEvent(), fields=["username"], context=pgh.DENORMALIZED)
class Account(Base):
    username = peewee.TextField()
    password = peewee.TextField(default="")


class Group(Base):
    name = peewee.TextField()


# A many-to-many through model: no object reference; the foreign keys are field names.
@pgh.track(
    pgh.InsertEvent("group.add"),
    pgh.DeleteEvent("group.remove"),
    obj_field=None,
    model_name="AccountGroupEvent",
)
class AccountGroup(Base):
    account = peewee.ForeignKeyField(Account, backref="account_groups")
    group = peewee.ForeignKeyField(Group, backref="account_groups")

    class Meta:
        indexes = ((("account", "group"), True),)


# Row level with conditions on a foreign key's field name.
@pgh.track(
    pgh.InsertEvent(),
    pgh.UpdateEvent("moved", condition=pgh.AnyChange("group")),
    pgh.DeleteEvent(),
    level=pgh.Row,
)
class Membership(Base):
    account = peewee.ForeignKeyField(Account)
    group = peewee.ForeignKeyField(Group, null=True)
    note = peewee.CharField(max_length=20, unique=True)


# A partitioned event table (by month).
@pgh.track(pgh.InsertEvent(), pgh.UpdateEvent(), pgh.ManualEvent("snapshot"), partition="month")
class Journal(Base):
    entry = peewee.TextField()


ALL = [
    TrackedModel, FieldsModel, ExcludeModel, DeleteModel, MyUser, Cash, Profile, Account, Group, AccountGroup, Membership,
    Journal,
]
