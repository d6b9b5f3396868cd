"""Django adapter: the ``PGHISTORY_*`` settings not covered elsewhere, upstream defects that
must stay absent (subtransactions, ``search_path``, label injection) and the psycopg2 path.

Layer: tests (Django tier). Models that a setting shapes are defined inside the test, in an
app label of their own (registered for the test, their tables and triggers created on the
session database, all of it removed after the test), as ``tests/contract/test_django.py``
does. Assertions are on what a user sees: event rows, columns, context metadata.
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, connections, models, transaction
from django.test import override_settings
from pgtrigger import registry as pgtrigger_registry

import pghistory_django as pghistory
from pghistory_core import sql
from pghistory_django.models import Context, Event
from pghistory_django.triggers import HistoryTrigger
from tests.django.cleanup import truncate_all
from tests.django.harness import database_settings
from tests.django.testapp import models as m

_apps = itertools.count()


@pytest.fixture(autouse=True)
def _db(django_db):
    yield
    truncate_all()


# --------------------------------------------------------------- models made in a test


class Dynamic:
    """Models of one test, in their own app label, with tables and triggers installed."""

    def __init__(self, app_label: str) -> None:
        self.app_label = app_label
        self.installed: list[type[models.Model]] = []

    def model(self, name: str, **fields: models.Field) -> type[models.Model]:
        attrs: dict[str, object] = {"__module__": __name__, "Meta": type("Meta", (), {"app_label": self.app_label})}
        attrs.update(fields)
        return type(name, (models.Model,), attrs)

    def install(self, *tracked: type[models.Model]) -> None:
        with connection.schema_editor() as editor:
            for model in tracked:
                editor.create_model(model)
                self.installed.append(model)
                for event_model in {id(e): e for e in (getattr(model, "pgh_event_models", None) or {}).values()}.values():
                    editor.create_model(event_model)
                    self.installed.append(event_model)
        for model in tracked:
            for trigger in getattr(model._meta, "triggers", []):
                trigger.install(model)

    def remove(self) -> None:
        functions = []
        for uri, (model, trigger) in list(pgtrigger_registry._registry.items()):
            if model._meta.app_label == self.app_label:
                functions.append(trigger.get_pgid(model))
                del pgtrigger_registry._registry[uri]
        with connection.schema_editor() as editor:
            for model in reversed(self.installed):
                editor.delete_model(model)
        with connection.cursor() as cursor:
            for pgid in functions:
                cursor.execute(f'DROP FUNCTION IF EXISTS "public"."{pgid}"() CASCADE')
        apps.all_models.pop(self.app_label, None)
        # Lazy references of models that failed half-way (a rejected setting) would make
        # every later `check` report them.
        for key in [k for k in apps._pending_operations if k[0] == self.app_label]:
            del apps._pending_operations[key]
        apps.clear_cache()


@pytest.fixture
def dynamic() -> Iterator[Dynamic]:
    made = Dynamic(f"settingsdyn{next(_apps)}")
    try:
        yield made
    finally:
        made.remove()


def _events(event_model: type[models.Model], *fields: str) -> list[tuple[object, ...]]:
    return list(event_model.objects.order_by("pgh_id").values_list(*fields))


# ------------------------------------------------------------------------ 1. settings


def test_default_trackers_setting_is_used_by_track_without_trackers(dynamic):
    with override_settings(PGHISTORY_DEFAULT_TRACKERS=[pghistory.InsertEvent(), pghistory.DeleteEvent()]):
        Widget = pghistory.track()(dynamic.model("Widget", n=models.IntegerField()))
        # Explicit trackers win over the setting.
        Gadget = pghistory.track(pghistory.UpdateEvent())(dynamic.model("Gadget", n=models.IntegerField()))
    dynamic.install(Widget, Gadget)
    assert set(Widget.pgh_event_models) == {"insert", "delete"}
    assert set(Gadget.pgh_event_models) == {"update"}

    for model in (Widget, Gadget):
        obj = model.objects.create(n=1)
        obj.n = 2
        obj.save()
        obj.delete()
    assert _events(Widget.pgh_event_model, "pgh_label", "n") == [("insert", 1), ("delete", 2)]
    assert _events(Gadget.pgh_event_model, "pgh_label", "n") == [("update", 2)]


def test_default_trackers_setting_rejects_non_trackers(dynamic):
    with override_settings(PGHISTORY_DEFAULT_TRACKERS=["insert"]), pytest.raises(ImproperlyConfigured, match="DEFAULT_TRACKERS"):
        pghistory.create_event_model(dynamic.model("Bad", n=models.IntegerField()))


class NotedEvent(Event):
    """A custom base for every event model (``PGHISTORY_BASE_MODEL``)."""

    note = models.TextField(null=True)

    class Meta:
        abstract = True

    def shout(self) -> str:
        return self.pgh_label.upper()


def test_base_model_setting_is_the_base_of_event_models(dynamic):
    with override_settings(PGHISTORY_BASE_MODEL=f"{__name__}.NotedEvent"):
        Widget = pghistory.track()(dynamic.model("Widget", n=models.IntegerField()))
    with override_settings(PGHISTORY_BASE_MODEL=NotedEvent):  # the class itself works too
        Plain = dynamic.model("Plain", n=models.IntegerField())
        PlainEvent = pghistory.create_event_model(Plain, model_name="PlainEvent", abstract=False)
    dynamic.install(Widget, Plain)
    assert issubclass(Widget.pgh_event_model, NotedEvent) and issubclass(PlainEvent, NotedEvent)
    assert {f.name for f in Widget.pgh_event_model._meta.fields} == {
        "pgh_id", "pgh_created_at", "pgh_label", "pgh_obj", "pgh_context", "note", "id", "n",
    }
    obj = Widget.objects.create(n=1)
    event = obj.events.get()
    assert (event.n, event.note, event.shout()) == (1, None, "INSERT")
    Plain.objects.create(n=3)
    assert _events(PlainEvent, "pgh_label", "n", "note") == [("insert", 3, None)]


def test_base_model_setting_must_be_an_event_subclass(dynamic):
    with override_settings(PGHISTORY_BASE_MODEL="django.db.models.Model"), pytest.raises(ImproperlyConfigured, match="BASE_MODEL"):
        pghistory.create_event_model(dynamic.model("Bad", n=models.IntegerField()))


def _collations(table: str) -> dict[str, str | None]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, collation_name FROM information_schema.columns WHERE table_name = %s", [table]
        )
        return dict(cursor.fetchall())


@pytest.mark.parametrize("key", [models.CharField, "django.db.models.CharField"], ids=["class", "path"])
def test_exclude_field_kwargs_setting_drops_kwargs_of_mirrored_fields(dynamic, key):
    def fields():
        return {
            "code": models.CharField(max_length=8, db_collation="C", help_text="the code"),
            "email": models.EmailField(db_collation="C"),  # a CharField subclass
            "body": models.TextField(db_collation="C"),  # not a CharField: untouched
        }

    Kept = pghistory.track()(dynamic.model("Kept", **fields()))
    with override_settings(PGHISTORY_EXCLUDE_FIELD_KWARGS={key: ["db_collation", "help_text"]}):
        Dropped = pghistory.track()(dynamic.model("Dropped", **fields()))
    dynamic.install(Kept, Dropped)

    kept, dropped = Kept.pgh_event_model, Dropped.pgh_event_model
    assert (kept._meta.get_field("code").db_collation, kept._meta.get_field("code").help_text) == ("C", "the code")
    assert (dropped._meta.get_field("code").db_collation, dropped._meta.get_field("code").help_text) == (None, "")
    kept_columns = _collations(kept._meta.db_table)
    assert (kept_columns["code"], kept_columns["email"], kept_columns["body"]) == ("C", "C", "C")
    dropped_columns = _collations(dropped._meta.db_table)
    assert (dropped_columns["code"], dropped_columns["email"], dropped_columns["body"]) == (None, None, "C")
    # Events are still recorded with the excluded kwargs.
    Dropped.objects.create(code="ab", email="a@b.c", body="x")
    assert _events(dropped, "pgh_label", "code", "email", "body") == [("insert", "ab", "a@b.c", "x")]


def _now_and_events(*writes) -> dt.datetime:
    """Run *writes* in one transaction; return its ``now()`` (its start time)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT now()")
            now = cursor.fetchone()[0]
        for write in writes:
            write()
    return now


def test_created_at_function_setting_sets_pgh_created_at(dynamic):
    with override_settings(PGHISTORY_CREATED_AT_FUNCTION="clock_timestamp()"):
        Stmt = pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.ManualEvent("snap"))(
            dynamic.model("Stmt", n=models.IntegerField())
        )
        Row = pghistory.track(pghistory.InsertEvent(), level=pghistory.Row)(dynamic.model("Row", n=models.IntegerField()))
    Default = pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), level=pghistory.Row)(
        dynamic.model("Default", n=models.IntegerField())
    )
    dynamic.install(Stmt, Row, Default)

    # clock_timestamp(): the time of each write, even inside one transaction.
    now = _now_and_events(
        lambda: Stmt.objects.create(n=1),
        lambda: Stmt.objects.update(n=2),
        lambda: pghistory.create_event(Stmt.objects.get(), label="snap"),
        lambda: Row.objects.bulk_create([Row(n=1), Row(n=2)]),
    )
    stmt = [t for (t,) in _events(Stmt.pgh_event_model, "pgh_created_at")]
    row = [t for (t,) in _events(Row.pgh_event_model, "pgh_created_at")]
    assert len(stmt) == 3 and now < stmt[0] < stmt[1] < stmt[2]
    assert len(row) == 2 and stmt[2] < row[0] < row[1]  # per row at row level
    # Without the setting: now(), the transaction's start time, for every event.
    now = _now_and_events(lambda: Default.objects.bulk_create([Default(n=1), Default(n=2)]), lambda: Default.objects.update(n=3))
    assert _events(Default.pgh_event_model, "pgh_created_at") == [(now,)] * 4


def test_created_at_function_setting_rejects_other_sql(dynamic):
    with override_settings(PGHISTORY_CREATED_AT_FUNCTION="'2001-02-03'::timestamptz"):
        with pytest.raises(Exception, match="created_at must be one of now\\(\\), clock_timestamp\\(\\)"):
            pghistory.track()(dynamic.model("Bad", n=models.IntegerField()))


class SetEncoder(DjangoJSONEncoder):
    """Encodes sets as sorted lists (json cannot)."""

    def default(self, o):
        if isinstance(o, (set, frozenset)):
            return sorted(o)
        return super().default(o)


def _last_context(obj: models.Model) -> dict[str, object]:
    return obj.events.order_by("-pgh_id").first().pgh_context.metadata


def test_json_encoder_default_is_django_json_encoder():
    ref = uuid.UUID("12345678-1234-5678-1234-567812345678")
    with pghistory.context(ref=ref, when=dt.date(2024, 1, 2), amount=decimal.Decimal("1.50")):
        obj = m.TrackedModel.objects.create(int_field=1, char_field="a")
    assert _last_context(obj) == {"ref": str(ref), "when": "2024-01-02", "amount": "1.50"}


def test_json_native_metadata_is_stored_as_given():
    # Strings, numbers, booleans and None skip the encoder round trip (the encoder would not
    # change them); mixed with a value that needs the encoder, everything goes through it.
    native = {"user": 7, "name": "Zoë \"q\"", "ratio": 0.1, "ok": True, "none": None, "big": 2**70}
    with pghistory.context(**native):
        obj = m.TrackedModel.objects.create(int_field=1, char_field="a")
    assert _last_context(obj) == native
    with pghistory.context(**native, when=dt.date(2024, 1, 2)):
        obj = m.TrackedModel.objects.create(int_field=2, char_field="b")
    assert _last_context(obj) == {**native, "when": "2024-01-02"}


@pytest.mark.parametrize("encoder", [f"{__name__}.SetEncoder", SetEncoder], ids=["path", "class"])
def test_json_encoder_setting_encodes_context_metadata(encoder):
    with pytest.raises(TypeError, match="set"):
        pghistory.context(tags={"b", "a"})  # the default encoder cannot
    with override_settings(PGHISTORY_JSON_ENCODER=encoder):
        with pghistory.context(tags={"b", "a"}, when=dt.date(2024, 1, 2)):
            obj = m.TrackedModel.objects.create(int_field=1, char_field="a")
    assert _last_context(obj) == {"tags": ["a", "b"], "when": "2024-01-02"}


# ------------------------------------------------------------- 2. upstream defects absent


def _history_trigger_pgids() -> list[str]:
    return sorted(
        trigger.get_pgid(model)
        for model, trigger in pgtrigger_registry._registry.values()
        if isinstance(trigger, HistoryTrigger) and model._meta.app_label == "testapp"
    )


#: A call of a schema-qualified function (not ``INSERT INTO "public"."t" (columns)``).
_CALL = re.compile(r'(?<!INTO )"public"\."(\w+)"\s*\(')


def test_history_trigger_functions_have_no_exception_block():
    """No subtransaction per call: no ``BEGIN ... EXCEPTION`` in a trigger function or in
    any function it calls, and no call of pgtrigger's ``_pgtrigger_should_ignore``."""
    pgids = _history_trigger_pgids()
    assert len(pgids) > 20
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.tgname, p.proname, p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
            " WHERE NOT t.tgisinternal AND t.tgname = ANY(%s)",
            [pgids],
        )
        rows = cursor.fetchall()
        assert sorted(r[0] for r in rows) == pgids  # every history trigger is installed
        sources = {proname: src for _, proname, src in rows}
        pending = {name for src in sources.values() for name in _CALL.findall(src)} - set(sources)
        assert "pghistory_context_id" in pending
        while pending:  # the functions the triggers call, and theirs
            cursor.execute(
                "SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE n.nspname = 'public' AND p.proname = ANY(%s)",
                [sorted(pending)],
            )
            found = dict(cursor.fetchall())
            assert set(found) == pending, pending
            sources.update(found)
            pending = {name for src in found.values() for name in _CALL.findall(src)} - set(sources)
    for name, src in sources.items():
        assert "_pgtrigger_should_ignore" not in src, name
        without_raise = re.sub(r"\bRAISE\s+EXCEPTION\b", "", src, flags=re.IGNORECASE)
        assert not re.search(r"\bEXCEPTION\b", without_raise, re.IGNORECASE), (name, src)


@pytest.mark.parametrize("in_atomic", [False, True], ids=["autocommit", "atomic"])
def test_nothing_depends_on_search_path(in_atomic):
    tables = {
        "": sql.Identifier("public", "testapp_trackedmodel"),
        "Row": sql.Identifier("public", "testapp_rowtrackedmodel"),
    }
    ids: dict[str, int] = {}
    with connection.cursor() as cursor:
        cursor.execute("SET search_path = pg_catalog")
        try:
            with pghistory.context(job="no search_path"):
                with transaction.atomic() if in_atomic else _nothing():
                    for prefix, table in tables.items():
                        insert = sql.SQL("INSERT INTO {} (int_field, char_field) VALUES (1, 'a') RETURNING id")
                        cursor.execute(sql.render(insert.format(table)))
                        ids[prefix] = cursor.fetchone()[0]
                        update = sql.SQL("UPDATE {} SET int_field = 2 WHERE id = %s")
                        cursor.execute(sql.render(update.format(table)), [ids[prefix]])
                    cursor.execute("INSERT INTO public.testapp_ticket (number, status) VALUES (5, 'open')")
                    cursor.execute("UPDATE public.testapp_ticket SET number = 5001 WHERE number = 5")
            cursor.execute("SHOW search_path")
            assert cursor.fetchone() == ("pg_catalog",)
        finally:
            cursor.execute("RESET search_path")
    for prefix, pk in ids.items():
        event_model = getattr(m, prefix + "TrackedModelEvent")
        rows = list(event_model.objects.filter(pgh_obj_id=pk).order_by("pgh_id").values_list("pgh_label", "int_field", "pgh_context__metadata"))
        assert rows == [("insert", 1, {"job": "no search_path"}), ("update", 2, {"job": "no search_path"})], prefix
    assert _events(m.TicketEvent, "pgh_label", "number", "pgh_context") == [
        ("insert", 5, {"job": "no search_path"}),
        ("it's \"quoted\"", 5001, {"job": "no search_path"}),
        ("update", 5001, {"job": "no search_path"}),
    ]
    assert list(Context.objects.values_list("metadata", flat=True)) == [{"job": "no search_path"}]


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


INJECTION = "x'); DROP TABLE settings_victim; -- \"q\" $pgh$ \\ end"


@pytest.mark.parametrize(
    "label",
    [INJECTION, INJECTION.replace("--", "#")],
    ids=["with_sql_comment", "without_hyphen"],
)
def test_label_with_quotes_and_sql_is_stored_verbatim(dynamic, label):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE settings_victim (id int)")
    try:
        Stmt = pghistory.track(
            pghistory.InsertEvent(label),
            pghistory.UpdateEvent(label + " upd", condition=pghistory.AnyChange()),
            pghistory.ManualEvent(label + " manual"),
        )(dynamic.model("Stmt", n=models.IntegerField()))
        Row = pghistory.track(pghistory.InsertEvent(label), level=pghistory.Row)(dynamic.model("Row", n=models.IntegerField()))
        dynamic.install(Stmt, Row)
        obj = Stmt.objects.create(n=1)
        Stmt.objects.update(n=2)
        pghistory.create_event(obj, label=label + " manual")
        Row.objects.create(n=1)
        assert _events(Stmt.pgh_event_model, "pgh_label", "n") == [
            (label, 1), (label + " upd", 2), (label + " manual", 2),
        ]
        assert _events(Row.pgh_event_model, "pgh_label") == [(label,)]
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('public.settings_victim') IS NOT NULL")
            assert cursor.fetchone() == (True,)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS settings_victim")


@pytest.mark.parametrize("level", [pghistory.Statement, pghistory.Row], ids=["statement", "row"])
def test_label_with_hyphen_installs_and_records(dynamic, level):
    """BUG: a ``-`` in a label is kept in the trigger name (pgtrigger allows it), and
    pgtrigger's SQL writes the name unquoted: ``CREATE TRIGGER pgtrigger_email-changed_…``
    is a syntax error (``--`` even comments out the rest of the line)."""
    Account = pghistory.track(pghistory.UpdateEvent("email-changed"), level=level)(
        dynamic.model("Account", email=models.TextField())
    )
    dynamic.install(Account)
    obj = Account.objects.create(email="a@x")
    obj.email = "b@x"
    obj.save()
    assert _events(Account.pgh_event_model, "pgh_label", "email") == [("email-changed", "b@x")]


# ------------------------------------------------------------------- 3. the psycopg2 path

_PSYCOPG2_SCRIPT = r"""
import json, os, sys
sys.modules["psycopg"] = None  # Django's backend picks psycopg 3 when importable: hide it
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.django.settings"
from django.conf import settings
settings.DATABASES["default"].update(json.loads(os.environ["PGH_TEST_DB"]))
import django
django.setup()
from django.db import connection, transaction
import pghistory_django as pghistory
from tests.django.testapp import models as m

connection.ensure_connection()
out = {"driver": type(connection.connection).__module__}
with pghistory.context(via="psycopg2", note="100%"):
    a = m.TrackedModel.objects.create(int_field=1, char_field="a")  # autocommit
    a.int_field = 2
    a.save()
    with transaction.atomic():
        b = m.RowTrackedModel.objects.create(int_field=1, char_field="b")
        m.RowTrackedModel.objects.filter(pk=b.pk).update(int_field=2)
    with connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE testapp_trackedmodel SET int_field = %s WHERE id = %s", [(10, a.pk), (20, a.pk)]
        )
        cursor.execute("UPDATE testapp_trackedmodel SET char_field = 'x%' WHERE id = " + str(int(a.pk)))
m.TrackedModel.objects.filter(pk=a.pk).update(int_field=30)  # after the block: no context
out.update(a=a.pk, b=b.pk)
print(json.dumps(out))
"""


def test_context_through_psycopg2(django_db):
    """Django has no setting to choose the driver (``django.db.backends.postgresql`` imports
    psycopg 3 if it can), so a subprocess hides psycopg 3 and runs the writes on psycopg2."""
    pytest.importorskip("psycopg2")
    env = {**os.environ, "PGH_TEST_DB": json.dumps(database_settings(django_db))}
    done = subprocess.run(
        [sys.executable, "-c", _PSYCOPG2_SCRIPT],
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["driver"].split(".")[0] == "psycopg2"
    ctx = {"via": "psycopg2", "note": "100%"}
    a_rows = list(m.TrackedModelEvent.objects.filter(pgh_obj_id=out["a"]).order_by("pgh_id").values_list("pgh_label", "int_field", "char_field", "pgh_context__metadata"))
    assert a_rows == [
        ("insert", 1, "a", ctx),
        ("update", 2, "a", ctx),
        ("update", 10, "a", ctx),
        ("update", 20, "a", ctx),
        ("update", 20, "x%", ctx),
        ("update", 30, "x%", None),
    ]
    b_rows = list(m.RowTrackedModelEvent.objects.filter(pgh_obj_id=out["b"]).order_by("pgh_id").values_list("pgh_label", "int_field", "pgh_context__metadata"))
    assert b_rows == [("insert", 1, ctx), ("update", 2, ctx)]
    assert Context.objects.count() == 1
    connections["default"].close()


def test_explicit_trigger_name_with_a_hyphen_is_refused():
    from django.core.exceptions import ImproperlyConfigured

    from pghistory_django.triggers import pgtrigger_name

    with pytest.raises(ImproperlyConfigured, match="letters, digits and '_'"):
        pgtrigger_name("email-changed", explicit="email-changed")
    assert pgtrigger_name("email-changed") != pgtrigger_name("email_changed")  # no collision
