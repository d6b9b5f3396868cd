"""The seed documents' examples through Django, at statement and row level.

Layer: tests (Django tier). Each example is written as in django-pghistory's docs, with
``import pghistory_django as pghistory``, and must print what the docs print. Writes go
through ``save()``, ``bulk_create``, ``update()``, ``delete()`` and raw SQL.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection, models

import pghistory_django as pghistory
from tests.django.cleanup import truncate_all
from tests.django.testapp import models as m

LEVELS = ["", "Row"]


@pytest.fixture(autouse=True)
def _db(django_db):
    yield
    truncate_all()


def model(prefix, name):
    return getattr(m, prefix + name)


@pytest.mark.parametrize("prefix", LEVELS)
def test_tracked_model_snapshots(prefix):
    TrackedModel = model(prefix, "TrackedModel")
    mdl = TrackedModel.objects.create(int_field=1, char_field="hello")
    mdl.int_field = 2
    mdl.save()
    assert list(mdl.events.order_by("pgh_id").values("pgh_obj", "pgh_label", "int_field")) == [
        {"pgh_obj": mdl.pk, "pgh_label": "insert", "int_field": 1},
        {"pgh_obj": mdl.pk, "pgh_label": "update", "int_field": 2},
    ]
    assert TrackedModel.pgh_event_model.__name__ == prefix + "TrackedModelEvent"
    # Saving without a change records nothing (UpdateEvent fires on tracked changes only).
    mdl.save()
    assert mdl.events.count() == 2


@pytest.mark.parametrize("prefix", LEVELS)
def test_bulk_writes_and_raw_sql(prefix):
    TrackedModel = model(prefix, "TrackedModel")
    objs = TrackedModel.objects.bulk_create([TrackedModel(int_field=i, char_field="x") for i in range(3)])
    TrackedModel.objects.update(int_field=models.F("int_field") + 10)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE " + connection.ops.quote_name(TrackedModel._meta.db_table) + " SET int_field = int_field + %s WHERE id = %s",
            [100, objs[0].pk],
        )
    event_model = TrackedModel.pgh_event_model
    rows = list(event_model.objects.order_by("pgh_id").values_list("pgh_label", "pgh_obj_id", "int_field"))
    assert rows[:3] == [("insert", o.pk, i) for i, o in enumerate(objs)]
    assert sorted(rows[3:6]) == sorted(("update", o.pk, i + 10) for i, o in enumerate(objs))
    assert rows[6:] == [("update", objs[0].pk, 110)]
    TrackedModel.objects.all().delete()  # no delete tracker: nothing recorded
    assert event_model.objects.count() == 7


@pytest.mark.parametrize("prefix", LEVELS)
def test_fields(prefix):
    FieldsModel = model(prefix, "FieldsModel")
    event_model = FieldsModel.pgh_event_model
    assert event_model.__name__ == prefix + "FieldsModelIntFieldEvent"
    assert {f.name for f in event_model._meta.fields} == {"pgh_id", "pgh_created_at", "pgh_label", "pgh_obj", "pgh_context", "int_field"}
    obj = FieldsModel.objects.create(int_field=1, char_field="a")
    obj.char_field = "b"
    obj.save()  # untracked field: no event
    obj.int_field = 5
    obj.save()
    assert list(obj.int_field_events.order_by("pgh_id").values_list("pgh_label", "int_field")) == [("insert", 1), ("update", 5)]


@pytest.mark.parametrize("prefix", LEVELS)
def test_exclude(prefix):
    ExcludeModel = model(prefix, "ExcludeModel")
    user = User.objects.create(username="u")
    obj = ExcludeModel.objects.create(int_field=1, char_field="a")
    ExcludeModel.objects.filter(pk=obj.pk).update(int_field=2)  # excluded: no event
    ExcludeModel.objects.filter(pk=obj.pk).update(user=user)
    ExcludeModel.objects.filter(pk=obj.pk).update(char_field="b")
    rows = list(obj.events.order_by("pgh_id").values("pgh_label", "char_field", "user"))
    assert rows == [
        {"pgh_label": "insert", "char_field": "a", "user": None},
        {"pgh_label": "update", "char_field": "a", "user": user.pk},
        {"pgh_label": "update", "char_field": "b", "user": user.pk},
    ]
    assert "int_field" not in {f.name for f in ExcludeModel.pgh_event_model._meta.fields}


@pytest.mark.parametrize("prefix", LEVELS)
def test_delete_event(prefix):
    DeleteModel = model(prefix, "DeleteModel")
    a = DeleteModel.objects.create(int_field=1)
    b = DeleteModel.objects.create(int_field=2)
    a.int_field = 3
    a.save()
    a_pk = a.pk
    a.delete()
    DeleteModel.objects.filter(pk=b.pk).delete()
    rows = list(DeleteModel.pgh_event_model.objects.order_by("pgh_id").values_list("pgh_label", "pgh_obj_id", "int_field"))
    assert rows == [("delete", a_pk, 3), ("delete", b.pk, 2)]


@pytest.mark.parametrize("prefix", LEVELS)
def test_email_changed_old_row(prefix):
    MyUser = model(prefix, "MyUser")
    UserEmailHistory = getattr(m, prefix + "UserEmailHistory")
    u = MyUser.objects.create(username="hello", email="hello@hello.com", address="123 Main St")
    assert not UserEmailHistory.objects.exists()
    u.address = "456 Main St"
    u.save()
    assert not UserEmailHistory.objects.exists()
    u.email = "world@world.com"
    u.save()
    assert list(UserEmailHistory.objects.filter(pgh_obj=u).values_list("email", flat=True)) == ["hello@hello.com"]


@pytest.mark.parametrize("prefix", LEVELS)
def test_cash_conditions(prefix):
    Cash = model(prefix, "Cash")
    cash = Cash.objects.create(dollars=Decimal(150))
    cash.dollars = Decimal(90)
    cash.save()
    cash.dollars = Decimal(120)
    cash.save()
    Cash.objects.update(dollars=Decimal(120))  # no change: no event
    rows = list(Cash.pgh_event_model.objects.order_by("pgh_id").values_list("pgh_label", "dollars"))
    # Triggers of one statement fire in name order: money_below_... before money_down.
    assert rows == [
        ("money_below_one_hundred", Decimal(90)),
        ("money_down", Decimal(90)),
        ("money_up", Decimal(120)),
    ]


@pytest.mark.parametrize("prefix", LEVELS)
def test_multiple_trackers(prefix):
    MultiUser = model(prefix, "MultiUser")
    emails = getattr(m, prefix + "MultiUserEmailHistory")
    usernames = getattr(m, prefix + "MultiUserUsernameHistory")
    u = MultiUser.objects.create(username="u1", email="e1")
    u.email = "e2"
    u.save()
    u.username, u.email = "u2", "e3"
    u.save()
    assert list(emails.objects.order_by("pgh_id").values_list("pgh_label", "email")) == [("email_changed", "e1"), ("email_changed", "e2")]
    assert list(usernames.objects.values_list("pgh_label", "username")) == [("username_changed", "u1")]
    assert MultiUser.pgh_event_models == {"email_changed": emails, "username_changed": usernames}
    assert list(u.email_events.values_list("email", flat=True).order_by("pgh_id")) == ["e1", "e2"]


@pytest.mark.parametrize("prefix", LEVELS)
def test_manual_event_with_context(prefix):
    ManualUser = model(prefix, "ManualUser")
    user = ManualUser.objects.create(username="hello", password="secret")
    assert not ManualUser.pgh_event_model.objects.exists()  # ManualEvent installs no trigger
    with pghistory.context(user="admin"):
        event = pghistory.create_event(user, label="user_create")
    assert (event.pgh_label, event.username, event.pgh_obj_id) == ("user_create", "hello", user.pk)
    assert event.pgh_context.metadata == {"user": "admin"}
    with pytest.raises(ValueError, match="not a registered tracker label"):
        pghistory.create_event(user, label="nope")


def test_user_proxy_excluding_password():
    event_model = m.UserProxy.pgh_event_model
    assert event_model.__name__ == "UserProxyEvent"
    assert "password" not in {f.name for f in event_model._meta.fields}
    user = User.objects.create_user("u", password="p1")
    user.set_password("p2")
    user.save()  # only the password changed... and last_login is untouched: no event
    with pghistory.context(url="/admin/"):
        User.objects.filter(pk=user.pk).update(email="e2")
    rows = list(event_model.objects.order_by("pgh_id").values("pgh_label", "email", "pgh_context__metadata"))
    assert rows == [
        {"pgh_label": "insert", "email": "", "pgh_context__metadata": None},
        {"pgh_label": "update", "email": "e2", "pgh_context__metadata": {"url": "/admin/"}},
    ]
    assert list(m.UserProxy.objects.get(pk=user.pk).events.values_list("email", flat=True).order_by("pgh_id")) == ["", "e2"]


def test_groups_through_model():
    user = User.objects.create_user("username")
    group = Group.objects.create(name="group")
    user.groups.add(group)
    user.groups.remove(group)
    assert list(m.UserGroupsEvent.objects.order_by("pgh_id").values("pgh_label", "user", "group")) == [
        {"user": user.id, "group": group.id, "pgh_label": "group.add"},
        {"user": user.id, "group": group.id, "pgh_label": "group.remove"},
    ]
    assert "pgh_obj" not in {f.name for f in m.UserGroupsEvent._meta.fields}


def test_concrete_inheritance_with_related_names():
    child = m.Child.objects.create(field_a="a", field_b="b")
    child.field_b = "c"
    child.save()
    assert list(child.child_event.order_by("pgh_id").values_list("pgh_label", "field_b")) == [("insert", "b"), ("update", "c")]
    assert list(child.parent_event.values_list("pgh_label", "field_a")) == [("insert", "a")]
    assert not m.Child.pgh_event_model.check()
    assert m.Child.pgh_event_model is m.ChildEvent and m.Parent.pgh_event_model is m.ParentEvent
