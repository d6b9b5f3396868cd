"""Django adapter behaviour beyond the seeds: migrations, pgtrigger, context transport,
middleware, manual events, revert, and the upstream defects that must be absent.

Layer: tests (Django tier).
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection, models, transaction
from django.test import AsyncClient, Client, override_settings

import pghistory_django as pghistory
from pghistory_django.models import Context
from tests.django.cleanup import truncate_all
from tests.django.testapp import models as m


@pytest.fixture(autouse=True)
def _db(django_db):
    yield
    truncate_all()


# ------------------------------------------------------------------ migrations, pgtrigger


def test_makemigrations_is_clean_and_detects_tracked_field_changes(monkeypatch):
    out = io.StringIO()
    call_command("makemigrations", "testapp", "--check", "--dry-run", stdout=out)  # no SystemExit: clean
    # Stop tracking char_field: the trigger's body changes, so pgtrigger writes a migration.
    event_model = m.TrackedModel.pgh_event_model
    options = event_model.pgh_tracking_options
    monkeypatch.setattr(event_model, "pgh_tracking_options", type(options)(**{**options.__dict__, "exclude": ("char_field",)}))
    monkeypatch.setattr(event_model, "_pgh_tracking_cache", None, raising=False)
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("makemigrations", "testapp", "--check", "--dry-run", "-v", "3", stdout=out)
    text = out.getvalue()
    assert "trackedmodel" in text.lower() and "trigger" in text.lower()


def test_pgtrigger_ls_shows_history_triggers_installed(capsys):
    call_command("pgtrigger", "ls")  # pgtrigger prints to sys.stdout
    text = capsys.readouterr().out
    lines = [line for line in text.splitlines() if "testapp.TrackedModel:" in line]
    assert len(lines) == 2, text
    assert all("INSTALLED" in line and "OUTDATED" not in line and "UNINSTALLED" not in line for line in lines), text


def test_system_check_passes():
    call_command("check")


# ---------------------------------------------------------------------------- context


def test_context_inside_atomic_and_autocommit():
    with pghistory.context(job="import"):
        with transaction.atomic():
            a = m.TrackedModel.objects.create(int_field=1, char_field="a")
            a.int_field = 2
            a.save()
        b = m.RowTrackedModel.objects.create(int_field=1, char_field="b")  # autocommit
    a_events = list(a.events.values_list("pgh_context__metadata", flat=True))
    assert a_events == [{"job": "import"}, {"job": "import"}]
    assert list(b.events.values_list("pgh_context__metadata", flat=True)) == [{"job": "import"}]
    assert Context.objects.count() == 1
    # After the block, writes carry no context (the setting is transaction-local).
    a.int_field = 3
    a.save()
    assert a.events.order_by("-pgh_id").first().pgh_context_id is None


def test_iterator_inside_a_context_in_autocommit():
    """QuerySet.iterator() opens a server-side cursor; psycopg refuses those in a pipeline."""
    m.TrackedModel.objects.create(int_field=1, char_field="a")
    with pghistory.context(page="list"):
        assert [o.int_field for o in m.TrackedModel.objects.iterator(chunk_size=1)] == [1]
        b = m.TrackedModel.objects.create(int_field=2, char_field="b")  # a write after the read
    assert list(b.events.values_list("pgh_context__metadata", flat=True)) == [{"page": "list"}]


@pytest.fixture(params=["comment", "statement"])
def transport_mode(request):
    """``statement``: a trigger function that cannot read the context comment exists (as
    after switching from django-pghistory, before ``migrate``), so the adapter sends the
    context statement in autocommit mode."""
    from pghistory_core import sql, transport

    from tests.db.context_support import STALE_TRIGGER_FUNCTION

    if request.param == "statement":
        with connection.cursor() as cursor:
            cursor.execute(sql.render(STALE_TRIGGER_FUNCTION))
        connection.close()  # a new driver connection probes again...
        transport._COMMENT_READY.clear()  # ... as in a process that started now
    yield request.param
    if request.param == "statement":
        with connection.cursor() as cursor:
            cursor.execute("DROP FUNCTION public.stale_history()")
        connection.close()
        transport._COMMENT_READY.clear()


def test_context_with_percent_in_raw_sql_and_executemany(transport_mode):
    obj = m.TrackedModel.objects.create(int_field=1, char_field="a")
    with pghistory.context(note="100% sure"):
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE testapp_trackedmodel SET char_field = 'x%' WHERE id = " + str(int(obj.pk))
            )
            cursor.execute("UPDATE testapp_trackedmodel SET char_field = %s WHERE id = %s", ["50%", obj.pk])
            cursor.executemany(
                "UPDATE testapp_trackedmodel SET int_field = %s WHERE id = %s", [(10, obj.pk), (20, obj.pk)]
            )
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_query()")
            sent = cursor.fetchone()[0]
    assert sent.startswith("/*pghistory:") is (transport_mode == "comment")
    rows = list(obj.events.order_by("pgh_id").values_list("char_field", "int_field", "pgh_context__metadata"))
    assert rows[1:] == [
        ("x%", 1, {"note": "100% sure"}),
        ("50%", 1, {"note": "100% sure"}),
        ("50%", 10, {"note": "100% sure"}),
        ("50%", 20, {"note": "100% sure"}),
    ]


def test_autocommit_write_carries_its_context_as_a_comment():
    """Django's autocommit mode: one statement per write, the context in front of it."""
    obj = m.TrackedModel.objects.create(int_field=1, char_field="a")
    with pghistory.context(note="*/ 100% %s") as active, connection.cursor() as cursor:
        cursor.execute(
            "UPDATE testapp_trackedmodel SET int_field = %s WHERE id = %s RETURNING current_query()", [2, obj.pk]
        )
        text = cursor.fetchone()[0]
    assert text.startswith(f"/*pghistory:{active.id}::")
    assert text.endswith("UPDATE testapp_trackedmodel SET int_field = 2 WHERE id = %d RETURNING current_query()" % obj.pk) or (
        text.endswith("WHERE id = $2 RETURNING current_query()")  # server-side binding
    )
    event = obj.events.order_by("-pgh_id").first()
    assert (event.int_field, event.pgh_context.metadata) == (2, {"note": "*/ 100% %s"})


def test_history_middleware_records_user_and_url():
    user = User.objects.create_user("ada", password="pw")
    obj = m.TrackedModel.objects.create(int_field=1, char_field="a")
    client = Client()
    client.force_login(user)
    assert client.post(f"/tracked/{obj.pk}/", {"value": 5}).status_code == 200
    event = obj.events.order_by("-pgh_id").first()
    assert (event.int_field, event.pgh_context.metadata) == (5, {"user": user.pk, "url": f"/tracked/{obj.pk}/"})


def test_history_middleware_async_requests_keep_separate_contexts():
    objs = [m.TrackedModel.objects.create(int_field=0, char_field=str(i)) for i in range(6)]

    async def run():
        client = AsyncClient()
        await asyncio.gather(*(client.post(f"/async/tracked/{o.pk}/", {"value": 100 + i}) for i, o in enumerate(objs)))

    asyncio.run(run())
    for i, obj in enumerate(objs):
        event = obj.events.order_by("-pgh_id").first()
        assert event.int_field == 100 + i
        assert event.pgh_context.metadata == {"user": None, "url": f"/async/tracked/{obj.pk}/"}


def test_concurrent_asyncio_tasks_each_in_its_own_context():
    async def work(i: int) -> int:
        async with pghistory.context(task=i):
            obj = await m.TrackedModel.objects.acreate(int_field=i, char_field="t")
            await asyncio.sleep(0.01)
            pghistory.context(step="second")  # adds to this task's context only
            obj.int_field = i + 1000
            await obj.asave()
            return obj.pk

    async def run():
        return await asyncio.gather(*(work(i) for i in range(8)))

    pks = asyncio.run(run())
    for i, pk in enumerate(pks):
        contexts = list(m.TrackedModelEvent.objects.filter(pgh_obj_id=pk).order_by("pgh_id").values_list("pgh_context_id", "pgh_label"))
        assert len({c for c, _ in contexts}) == 1
        assert Context.objects.get(id=contexts[0][0]).metadata == {"task": i, "step": "second"}
    assert Context.objects.count() == 8


def test_server_side_binding_connection():
    """psycopg 3 with server-side binding cannot join texts: the pipeline path."""
    from django.db import connections

    from tests.django.harness import remove_database

    settings = dict(connections.settings["default"])
    settings["OPTIONS"] = {**settings.get("OPTIONS", {}), "server_side_binding": True}
    connections.settings["ssb"] = settings
    try:
        with pghistory.context(binding="server"):
            obj = m.TrackedModel.objects.using("ssb").create(int_field=1, char_field="s")
            m.TrackedModel.objects.using("ssb").filter(pk=obj.pk).update(int_field=2)
        metas = list(m.TrackedModelEvent.objects.filter(pgh_obj_id=obj.pk).values_list("pgh_context__metadata", flat=True))
        assert metas == [{"binding": "server"}, {"binding": "server"}]
    finally:
        remove_database("ssb")


# ------------------------------------------------------------------- manual events, revert


def test_create_event_keeps_auto_now_values():
    doc = m.Document.objects.create(title="a")
    stored = m.Document.objects.get(pk=doc.pk)
    time.sleep(0.01)
    event = pghistory.create_event(doc, label="manual")
    assert (event.created_at, event.updated_at, event.title) == (stored.created_at, stored.updated_at, "a")
    assert event.pgh_obj_id == doc.pk and isinstance(doc.pk, uuid.UUID)


def test_custom_db_column_and_uuid_pk_are_mirrored():
    doc = m.Document.objects.create(title="a")
    doc.title = "b"
    doc.save()
    event_model = m.Document.pgh_event_model
    assert event_model._meta.get_field("title").column == "Document Title"
    assert not event_model._meta.get_field("title").unique and not event_model._meta.get_field("id").primary_key
    assert list(doc.events.order_by("pgh_id").values_list("pgh_label", "title")) == [("insert", "a"), ("update", "b")]


def test_event_revert():
    obj = m.TrackedModel.objects.create(int_field=1, char_field="a")
    obj.int_field = 2
    obj.save()
    first = obj.events.order_by("pgh_id").first()
    assert first.can_revert
    reverted = first.revert()
    assert (reverted.int_field, m.TrackedModel.objects.get(pk=obj.pk).int_field) == (1, 1)
    assert not m.FieldsModel.pgh_event_model(int_field=1).can_revert


# ------------------------------------------------------------------ upstream defects absent


def test_pgh_id_is_bigint():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_name = %s AND column_name = 'pgh_id'",
            [m.TrackedModelEvent._meta.db_table],
        )
        assert cursor.fetchone() == ("bigint",)


@override_settings(
    PGHISTORY_OBJ_FIELD=None,
    PGHISTORY_CONTEXT_FIELD=None,
    PGHISTORY_CONTEXT_ID_FIELD=None,
    PGHISTORY_FIELD=None,
    PGHISTORY_RELATED_FIELD=None,
    PGHISTORY_FOREIGN_KEY_FIELD=None,
)
def test_global_field_settings_none():
    event_model = pghistory.create_event_model(m.TrackedModel, model_name="NoneSettingsEvent")
    names = {f.name for f in event_model._meta.fields}
    assert "pgh_obj" not in names and "pgh_context" not in names
    user = event_model._meta.get_field("user")
    assert (user.db_constraint, user.remote_field.on_delete, user.remote_field.related_name) == (False, models.DO_NOTHING, "+")
    assert not event_model._meta.get_field("char_field").db_index


def test_statement_level_primary_key_change_is_recorded():
    for model in (m.Ticket, m.RowTicket):
        model.objects.bulk_create([model(number=1), model(number=2)])
        model.objects.update(number=models.F("number") + 100)
        updates = sorted(model.pgh_event_model.objects.filter(pgh_label="update").values_list("pgh_obj_id", "number"))
        assert updates == [(101, 101), (102, 102)], model


def test_label_with_quotes_and_denormalized_context_without_context_row():
    ticket = m.Ticket.objects.create(number=5)
    with pghistory.context(why="migration"):
        m.Ticket.objects.filter(number=5).update(number=5000)
    events = list(m.TicketEvent.objects.order_by("pgh_id").values_list("pgh_label", "number", "pgh_context"))
    assert events == [
        ("insert", 5, None),
        ("it's \"quoted\"", 5000, {"why": "migration"}),
        ("update", 5000, {"why": "migration"}),
    ]
    # Denormalized mode: the statement-level trigger does not write the shared context row.
    assert not Context.objects.exists()
    assert ticket.number == 5


def test_append_only_event_table():
    m.Ticket.objects.create(number=7)
    with pytest.raises(Exception, match="(?i)cannot|protect|append"):
        with transaction.atomic():
            m.TicketEvent.objects.update(pgh_label="tampered")
