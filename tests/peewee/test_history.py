"""Peewee adapter: the seed documents' examples through Peewee's write paths.

Layer: tests (database tier). Every write path a Peewee user has: ``save()``/``create()``,
``Model.update(...).execute()``, ``insert_many``, ``delete().execute()``,
``delete_instance()`` and raw ``db.execute_sql``; both drivers (see conftest).
"""

from __future__ import annotations

from decimal import Decimal

import peewee
import pytest

import pghistory_peewee as pgh
from tests.peewee.models import (
    Account,
    AccountGroup,
    Cash,
    DeleteModel,
    ExcludeModel,
    FieldsModel,
    Group,
    Membership,
    MyUser,
    Profile,
    TrackedModel,
)


def rows(event_model: type[peewee.Model], *fields: str) -> list[tuple[object, ...]]:
    """(pgh_label, *fields) of every event, in pgh_id order, read through the event model."""
    columns = [event_model.pgh_label, *(getattr(event_model, f) for f in fields)]
    return list(event_model.select(*columns).order_by(event_model.pgh_id).tuples())


def test_snapshots_through_save(pdb):
    obj = TrackedModel.create(int_field=1, text_field="hello")
    obj.int_field = 2
    obj.save()
    obj.save()  # nothing changed: no event
    assert rows(TrackedModel.pgh_event_model, "int_field", "text_field") == [
        ("insert", 1, "hello"),
        ("update", 2, "hello"),
    ]
    # The backref and the foreign key to the tracked row.
    events = list(obj.events.order_by(TrackedModel.pgh_event_model.pgh_id))
    assert [e.pgh_label for e in events] == ["insert", "update"]
    assert events[0].pgh_obj == obj and events[0].pgh_obj_id == obj.id
    assert events[0].pgh_created_at is not None and events[0].pgh_context is None


def test_bulk_writes(pdb):
    TrackedModel.insert_many([{"int_field": i, "text_field": "a"} for i in range(3)]).execute()
    TrackedModel.update(text_field="b").where(TrackedModel.int_field >= 1).execute()
    TrackedModel.delete().execute()  # no DeleteEvent tracker: no event
    assert rows(TrackedModel.pgh_event_model, "int_field", "text_field") == [
        ("insert", 0, "a"),
        ("insert", 1, "a"),
        ("insert", 2, "a"),
        ("update", 1, "b"),
        ("update", 2, "b"),
    ]


def test_raw_sql(pdb):
    pdb.execute_sql("INSERT INTO trackedmodel (int_field, text_field) VALUES (%s, %s)", (7, "100%"))
    pdb.execute_sql("UPDATE trackedmodel SET text_field = text_field || '%%'")
    assert rows(TrackedModel.pgh_event_model, "int_field", "text_field") == [
        ("insert", 7, "100%"),
        ("update", 7, "100%%"),
    ]


def test_fields(pdb):
    obj = FieldsModel.create(int_field=1, text_field="a")
    FieldsModel.update(text_field="b").execute()  # untracked field: no event
    obj.int_field = 5
    obj.save()
    assert rows(FieldsModel.pgh_event_model, "int_field") == [("insert", 1), ("update", 5)]
    assert not hasattr(FieldsModel.pgh_event_model, "text_field")


def test_exclude(pdb):
    obj = ExcludeModel.create(int_field=1, text_field="a")
    obj.int_field = 2
    obj.save()  # excluded: no event
    obj.text_field = "b"
    obj.save()
    assert rows(ExcludeModel.pgh_event_model, "text_field") == [("insert", "a"), ("update", "b")]


def test_delete_event(pdb):
    first = DeleteModel.create(int_field=1)
    DeleteModel.create(int_field=2)
    DeleteModel.update(int_field=DeleteModel.int_field * 10).execute()
    first.delete_instance()
    DeleteModel.delete().where(DeleteModel.int_field == 20).execute()
    assert rows(DeleteModel.pgh_event_model, "int_field") == [("delete", 10), ("delete", 20)]
    # The object is gone; its events stay (no foreign-key constraint on pgh_obj_id).
    assert DeleteModel.pgh_event_model.select().where(DeleteModel.pgh_event_model.pgh_obj_id == first.id).count() == 1


def test_email_changed_stores_old_row(pdb):
    user = MyUser.create(username="hello", email="hello@hello.com", address="123 Main St")
    user.address = "456 Main St"
    user.save()
    user.email = "world@world.com"
    user.save()
    assert MyUser.pgh_event_model.__name__ == "UserEmailHistory"
    assert rows(MyUser.pgh_event_model, "email", "address") == [("email_changed", "hello@hello.com", "456 Main St")]


def test_cash_conditions(pdb):
    cash = Cash.create(dollars=Decimal(150))
    cash.dollars = Decimal(90)
    cash.save()
    Cash.update(dollars=Decimal(120)).execute()
    Cash.update(dollars=Decimal(120)).execute()  # no change: no event
    assert rows(Cash.pgh_event_model, "dollars") == [
        ("money_below_one_hundred", Decimal(90)),
        ("money_down", Decimal(90)),
        ("money_up", Decimal(120)),
    ]


def test_multiple_trackings(pdb):
    with pytest.raises(pgh.migrate.ph.ConfigurationError, match="2 event models"):
        Profile.pgh_event_model  # noqa: B018
    email_history, username_history = Profile.pgh_event_models
    profile = Profile.create(username="u1", email="e1")
    profile.email = "e2"
    profile.save()
    Profile.update(username="u2", email="e3").execute()
    assert rows(email_history, "email") == [("email_changed", "e1"), ("email_changed", "e2")]
    assert rows(username_history, "username") == [("username_changed", "u1")]
    # First tracking gets the `events` backref, the second is named after its table.
    assert profile.events.count() == 2 and profile.usernamehistory.count() == 1


def test_manual_event_with_context(pdb):
    account = Account.create(username="hello", password="secret")
    with pgh.context(user="admin"):
        event = pgh.create_event(account, label="user_create")
    assert isinstance(event, Account.pgh_event_model)
    assert (event.pgh_label, event.username, event.pgh_obj_id) == ("user_create", "hello", account.id)
    assert event.pgh_context == {"user": "admin"} and event.pgh_context_id is not None
    with pytest.raises(pgh.migrate.ph.ConfigurationError, match="no tracker labelled 'nope'"):
        pgh.create_event(account, label="nope")


def test_m2m_through_without_object_reference(pdb):
    account = Account.create(username="u")
    group = Group.create(name="g")
    AccountGroup.insert_many([{"account": account, "group": group}]).execute()
    AccountGroup.delete().where((AccountGroup.account == account) & (AccountGroup.group == group)).execute()
    event_model = AccountGroup.pgh_event_model
    assert "pgh_obj" not in event_model._meta.fields
    assert rows(event_model, "account", "group") == [("group.add", account.id, group.id), ("group.remove", account.id, group.id)]
    # Mirrored foreign keys are foreign keys in Python, with no constraint in the database.
    assert event_model.select().first().account == account


def test_row_level_condition_on_foreign_key_field_name(pdb):
    account = Account.create(username="u")
    first, second = Group.create(name="a"), Group.create(name="b")
    member = Membership.create(account=account, group=first, note="x")
    Membership.update(note="y").execute()  # group unchanged: no event
    Membership.update(group=second).execute()
    member.delete_instance()
    Membership.create(account=account, group=None, note="y")  # unique note repeats in history
    assert rows(Membership.pgh_event_model, "group", "note") == [
        ("insert", first.id, "x"),
        ("moved", second.id, "y"),
        ("delete", second.id, "y"),
        ("insert", None, "y"),
    ]


def test_event_tables_carry_no_copied_constraints(pdb):
    # No foreign keys and no unique constraint or index besides the pgh_id primary key.
    cursor = pdb.execute_sql(
        "SELECT c.relname::text, count(*) FILTER (WHERE k.contype = 'f'), "
        "       (SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique) "
        "FROM pg_class c LEFT JOIN pg_constraint k ON k.conrelid = c.oid "
        "WHERE c.relname IN ('membership_event', 'accountgroup_event') GROUP BY c.oid, c.relname ORDER BY 1"
    )
    assert cursor.fetchall() == [("accountgroup_event", 0, 1), ("membership_event", 0, 1)]
