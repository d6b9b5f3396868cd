"""Reading history through the Django ORM: ``Events``, ``MiddlewareEvents``, proxy fields,
``event.revert()``, as-of and reverting a context.

Layer: tests (Django tier).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.db import connection, models
from django.test import Client

import pghistory_django as pghistory
from pghistory_core.errors import HistoryError
from pghistory_django.models import Context, Events, MiddlewareEvents
from tests.django.cleanup import truncate_all
from tests.django.testapp import models as m


@pytest.fixture(autouse=True)
def _db(django_db):
    yield
    truncate_all()


def _db_now():
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


@contextlib.contextmanager
def _temporary_model(model: type[models.Model]) -> Iterator[type[models.Model]]:
    """Unregister a model defined inside a test (so makemigrations checks stay clean)."""
    try:
        yield model
    finally:
        del apps.all_models[model._meta.app_label][model._meta.model_name]
        apps.clear_cache()


def _ordered(qs):
    return list(qs.order_by("pgh_created_at", "pgh_id"))


# ------------------------------------------------------------------------------ Events


def test_events_tracks_an_object_with_data_and_diff():
    obj = m.TrackedModel.objects.create(int_field=1, char_field="a")
    other = m.TrackedModel.objects.create(int_field=7, char_field="b")
    obj.int_field = 2
    obj.save()
    events = _ordered(Events.objects.tracks(obj))
    assert [(e.pgh_label, e.pgh_model, e.pgh_obj_model, e.pgh_obj_id) for e in events] == [
        ("insert", "testapp.TrackedModelEvent", "testapp.TrackedModel", str(obj.pk)),
        ("update", "testapp.TrackedModelEvent", "testapp.TrackedModel", str(obj.pk)),
    ]
    first, second = events
    assert first.pgh_data == {"id": obj.pk, "int_field": 1, "char_field": "a", "user_id": None}
    assert first.pgh_diff is None
    assert second.pgh_diff == {"int_field": [1, 2]}
    assert second.pgh_slug == f"testapp.TrackedModelEvent:{second.pgh_id}"
    assert Events.objects.tracks(obj).count() == 2
    assert Events.objects.tracks(obj, other).count() == 3
    assert Events.objects.tracks(m.TrackedModel.objects.filter(pk=other.pk)).count() == 1
    assert Events.objects.tracks(m.TrackedModel.objects.none()).count() == 0


def test_events_filters_orders_slices_and_counts_on_top():
    obj = m.TrackedModel.objects.create(int_field=1, char_field="a")
    for value in (2, 3, 4):
        obj.int_field = value
        obj.save()
    qs = Events.objects.tracks(obj)
    assert qs.filter(pgh_label="update").count() == 3
    assert [e.pgh_data["int_field"] for e in qs.order_by("-pgh_id")[:2]] == [4, 3]
    assert qs.filter(pgh_diff__int_field=[2, 3]).get().pgh_data["int_field"] == 3
    assert list(qs.order_by("pgh_id").values_list("pgh_label", flat=True)[1:3]) == ["update", "update"]
    assert qs.filter(pgh_label="update").exists()
    assert not qs.filter(pgh_label="nope").exists()
    assert Events.objects.filter(pgh_model="testapp.TrackedModelEvent").count() == 4
    assert Events.objects.all().count() == 4


def test_events_across_event_models():
    tracked = m.TrackedModel.objects.create(int_field=1, char_field="a")
    m.DeleteModel.objects.create(int_field=1).delete()
    cash = m.Cash.objects.create(dollars=200)
    cash.dollars = 50
    cash.save()
    labels = {(e.pgh_model, e.pgh_label) for e in Events.objects.across(m.TrackedModelEvent, "testapp.CashEvent")}
    assert labels == {
        ("testapp.TrackedModelEvent", "insert"),
        ("testapp.CashEvent", "money_below_one_hundred"),
        ("testapp.CashEvent", "money_down"),
    }
    assert Events.objects.across(m.DeleteModelEvent).get().pgh_label == "delete"
    assert Events.objects.across(m.CashEvent).tracks(tracked).count() == 0


def test_events_references_an_object():
    user = User.objects.create_user("ada")  # tracked by UserProxy (pgh_obj -> auth_user)
    mine = m.TrackedModel.objects.create(int_field=1, char_field="a", user=user)
    m.TrackedModel.objects.create(int_field=2, char_field="b")
    m.FieldsModel.objects.create(int_field=3, char_field="c", user=user)  # does not mirror user
    m.ExcludeModel.objects.create(int_field=4, char_field="d", user=user)
    found = {(e.pgh_model, e.pgh_obj_id) for e in Events.objects.references(user)}
    assert found == {
        ("testapp.UserProxyEvent", str(user.pk)),
        ("testapp.TrackedModelEvent", str(mine.pk)),
        ("testapp.ExcludeModelEvent", str(m.ExcludeModel.objects.get().pk)),
    }
    assert {e.pgh_model for e in Events.objects.tracks(user)} == {"testapp.UserProxyEvent"}
    assert Events.objects.references(user).across(m.TrackedModelEvent).count() == 1
    with pytest.raises(Exception, match="both tracks"):
        list(Events.objects.tracks(user).references(user))


def test_object_queries_are_index_backed():
    """The object filter is inside each branch, on the indexed pgh_obj_id column."""
    obj = m.TrackedModel.objects.create(int_field=1, char_field="a")
    qs = Events.objects.tracks(obj).order_by("-pgh_created_at")
    text = str(qs.query)
    assert '"pgh_x"."pgh_obj_id" = CAST(' in text
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            sql, params = qs.query.sql_with_params()
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")
    event_table = m.TrackedModelEvent._meta.db_table
    assert f"Seq Scan on {event_table}" not in plan
    assert "Index" in plan and event_table in plan, plan


def test_events_context_and_denormalized_context():
    with pghistory.context(job="import") as ctx:
        obj = m.TrackedModel.objects.create(int_field=1, char_field="a")
        ticket = m.Ticket.objects.create(number=1)
    event = Events.objects.tracks(obj).get()
    assert (event.pgh_context_id, event.pgh_context) == (ctx.id, {"job": "import"})
    ticket_event = Events.objects.tracks(ticket).get()
    assert (ticket_event.pgh_context_id, ticket_event.pgh_context) == (ctx.id, {"job": "import"})
    assert Events.objects.filter(pgh_context__job="import").count() == 2
    assert Events.objects.filter(pgh_context_id=ctx.id).count() == 2


def test_events_without_object_reference_and_uuid_keys():
    user = User.objects.create_user("ada")
    group = user.groups.create(name="staff")
    document = m.Document.objects.create(title="t")
    assert Events.objects.across(m.UserGroupsEvent).get().pgh_data["group_id"] == group.pk
    # No pgh_obj: the object is identified by the mirrored primary key of the through row.
    through = User.groups.through.objects.get()
    assert Events.objects.across(m.UserGroupsEvent).get().pgh_obj_id == str(through.pk)
    assert Events.objects.tracks(document).get().pgh_obj_id == str(document.pk)
    assert Events.objects.references(group).get().pgh_model == "testapp.UserGroupsEvent"


def test_events_of_an_untracked_model_are_empty():
    assert list(Events.objects.tracks(m.Parent.objects.none())) == []
    group = User.groups.field.related_model.objects.create(name="x")  # auth.Group: not tracked
    assert list(Events.objects.tracks(group)) == []
    assert Events.objects.tracks(group).count() == 0


def test_default_manager_is_empty_for_dumpdata():
    m.TrackedModel.objects.create(int_field=1, char_field="a")
    assert Events._default_manager.count() == 0
    assert Events.objects.count() == 1


# ------------------------------------------------------------------ MiddlewareEvents


def test_middleware_events_user_and_url():
    user = User.objects.create_user("ada", password="pw")
    obj = m.TrackedModel.objects.create(int_field=1, char_field="a")
    client = Client()
    client.force_login(user)
    assert client.post(f"/tracked/{obj.pk}/", {"value": 5}).status_code == 200
    events = _ordered(MiddlewareEvents.objects.tracks(obj))
    assert [(e.pgh_label, e.user, e.url) for e in events] == [
        ("insert", None, None),
        ("update", user, f"/tracked/{obj.pk}/"),
    ]
    assert MiddlewareEvents.objects.all().count() >= 2  # .all() works
    assert MiddlewareEvents.objects.filter(user=user).get().pgh_diff == {"int_field": [1, 5]}
    assert MiddlewareEvents.objects.filter(user__username="ada").count() == 1
    assert MiddlewareEvents.objects.select_related("user").get(url=f"/tracked/{obj.pk}/").user.username == "ada"


def test_events_proxy_with_own_proxy_fields():
    class JobEvents(Events):
        job = pghistory.ProxyField("pgh_context__job", models.TextField(null=True))
        attempt = pghistory.ProxyField("pgh_context__meta__attempt", models.IntegerField(null=True))

        class Meta:
            app_label = "testapp"
            proxy = True

    with _temporary_model(JobEvents):
        with pghistory.context(job="nightly", meta={"attempt": 3}):
            m.TrackedModel.objects.create(int_field=1, char_field="a")
        m.TrackedModel.objects.create(int_field=2, char_field="b")
        assert sorted((e.job or "", e.attempt or 0) for e in JobEvents.objects.all()) == [("", 0), ("nightly", 3)]
        assert JobEvents.objects.filter(attempt__gte=2).count() == 1


# ----------------------------------------------------------- event model proxies (defect)


def test_event_model_proxy_with_proxy_field_works_on_all():
    """django-pghistory crashes on ``.all()`` of an event proxy with a ProxyField."""

    class TrackedModelEventProxy(m.TrackedModelEvent):
        context_user = pghistory.ProxyField(
            "pgh_context__metadata__user",
            models.ForeignKey(User, on_delete=models.DO_NOTHING, null=True, related_name="+", db_constraint=False),
        )
        url = pghistory.ProxyField("pgh_context__url", models.TextField(null=True))

        class Meta:
            app_label = "testapp"
            proxy = True

    with _temporary_model(TrackedModelEventProxy):
        user = User.objects.create_user("ada", password="pw")
        obj = m.TrackedModel.objects.create(int_field=1, char_field="a")
        client = Client()
        client.force_login(user)
        client.post(f"/tracked/{obj.pk}/", {"value": 5})
        events = list(TrackedModelEventProxy.objects.all().order_by("pgh_id"))
        assert [(e.int_field, e.context_user, e.url) for e in events] == [(1, None, None), (5, user, f"/tracked/{obj.pk}/")]
        assert TrackedModelEventProxy.objects.filter(context_user=user).get().int_field == 5
        assert TrackedModelEventProxy.objects.select_related("context_user").get(int_field=5).context_user == user
        assert TrackedModelEventProxy.objects.filter(pgh_obj=obj).count() == 2


# -------------------------------------------------------------------------- revert


def test_event_revert_and_can_revert_property():
    obj = m.TrackedModel.objects.create(int_field=1, char_field="a")
    obj.int_field = 2
    obj.save()
    first = obj.events.order_by("pgh_id").first()
    assert first.can_revert is True
    assert m.FieldsModel.pgh_event_model(int_field=1).can_revert is False
    reverted = first.revert()
    assert (reverted.int_field, m.TrackedModel.objects.get(pk=obj.pk).int_field) == (1, 1)
    assert obj.events.order_by("-pgh_id").first().int_field == 1  # the revert is recorded


def test_as_of_object_and_table():
    before = _db_now()
    one = m.Ticket.objects.create(number=1, status="open")
    m.Ticket.objects.create(number=2, status="open")
    after_insert = _db_now()
    one.status = "closed"
    one.save()
    m.Ticket.objects.filter(number=2).delete()
    after_changes = _db_now()
    events = m.Ticket.pgh_event_model.objects
    assert events.as_of(before) == []
    assert [(t.number, t.status) for t in events.as_of(after_insert)] == [(1, "open"), (2, "open")]
    assert [(t.number, t.status) for t in events.as_of(after_changes)] == [(1, "closed")]
    past = events.as_of(after_insert, obj=one)
    assert isinstance(past, m.Ticket) and past.status == "open" and past.pgh_as_of.pgh_label == "insert"
    assert events.as_of(after_changes, obj=2) is None
    with pytest.raises(HistoryError, match="deletes not tracked"):
        m.TrackedModel.pgh_event_model.objects.as_of(after_changes)


def test_revert_context():
    kept = m.TrackedModel.objects.create(int_field=1, char_field="a")
    with pghistory.context(job="bad import") as ctx:
        kept.int_field = 99
        kept.save()
        m.TrackedModel.objects.create(int_field=2, char_field="new")
    plan = pghistory.revert_context(ctx.id, dry_run=True)
    assert sorted(op.kind for op in plan.operations) == ["delete", "update"]
    assert m.TrackedModel.objects.count() == 2  # a dry run writes nothing
    Context.objects.get(id=ctx.id).revert()
    assert list(m.TrackedModel.objects.values_list("int_field", "char_field")) == [(1, "a")]
    revert_event = kept.events.order_by("-pgh_id").first()
    assert revert_event.pgh_context.metadata["pghistory_revert_of"] == str(ctx.id)


def test_revert_context_of_denormalized_context():
    m.Ticket.objects.create(number=1, status="open")
    with pghistory.context(job="cleanup") as ctx:
        m.Ticket.objects.filter(number=1).delete()
        m.Ticket.objects.create(number=2)
    pghistory.revert_context(str(ctx.id))
    assert list(m.Ticket.objects.values_list("number", "status")) == [(1, "open")]
