"""Django adapter: ``PGHISTORY_SCHEMA``, for projects whose tables are not in ``public``.

Layer: tests (Django tier). A project whose database user has another schema first on
``search_path`` gets its tables there; the triggers name every table and function with
``PGHISTORY_SCHEMA``. End to end in a subprocess (settings are read once, at start): a
fresh database whose ``search_path`` is a schema whose name needs quoting, ``migrate`` of
``tests/django/schemaapp`` (its migration made with the setting, as a user's would be),
then writes through the ORM and raw SQL under a context, one with ``search_path`` emptied. Asserts what a user sees: the
events and the context in that schema, nothing in ``public``; and that ``migrate`` refuses
(check ``pghistory.E002``) when the setting and ``search_path`` disagree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from pghistory_core import sql
from pghistory_django import config
from tests.django.harness import database_settings

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = 'tenant "data"'

_SCRIPT = r"""
import json, os, sys
import django
from django.conf import settings

extra = {"PGHISTORY_SCHEMA": os.environ["PGH_SCHEMA"]} if os.environ.get("PGH_SCHEMA") else {}
settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", **json.loads(os.environ["PGH_TEST_DB"])}},
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "pgtrigger", "pghistory_django",
                    "tests.django.schemaapp"],
    USE_TZ=True,
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    SECRET_KEY="schema-test",
    **extra,
)
django.setup()
from django.core.management import call_command
from django.db import connection, transaction
import pghistory_django as pghistory
from tests.django.schemaapp.models import Gauge

call_command("migrate", verbosity=0, skip_checks=False)  # as manage.py migrate does
with pghistory.context(job="in a schema"):
    a = Gauge.objects.create(reading=1, label="a")  # autocommit
    with transaction.atomic():
        a.reading = 2
        a.save()
        with connection.cursor() as cursor:
            # No search_path at all: the triggers must name everything themselves.
            cursor.execute("SET LOCAL search_path = pg_catalog")
            cursor.execute("INSERT INTO " + os.environ["PGH_QUOTED_TABLE"] + " (reading, label) VALUES (7, 'raw') RETURNING id")
            raw = cursor.fetchone()[0]
print(json.dumps({"a": a.pk, "raw": raw}))
"""


def _run(dsn: str, search_path: sql.Composable, schema: str | None) -> subprocess.CompletedProcess[str]:
    """The script on *dsn* whose database has *search_path* (as ``ALTER ROLE/DATABASE ...
    SET search_path`` does in a deployment), with ``PGHISTORY_SCHEMA`` = *schema* (unset
    when None)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT current_database()").fetchone()
        assert row is not None
        statement = sql.SQL("ALTER DATABASE {} SET search_path = ").format(sql.Identifier(row[0])) + search_path
        conn.execute(sql.render(statement))
    env = {
        **os.environ,
        "PGH_TEST_DB": json.dumps(database_settings(dsn)),
        "PGH_SCHEMA": schema or "",
        "PGH_QUOTED_TABLE": sql.render(sql.Identifier(SCHEMA, "schemaapp_gauge")),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run([sys.executable, "-c", _SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def schema_dsn(dsn: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.render(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA))))
    return dsn


def test_tables_events_and_context_live_in_the_configured_schema(schema_dsn: str) -> None:
    done = _run(schema_dsn, sql.Identifier(SCHEMA), SCHEMA)
    assert done.returncode == 0, done.stderr
    ids = json.loads(done.stdout.strip().splitlines()[-1])

    with psycopg.connect(schema_dsn) as conn:
        events = sql.Identifier(SCHEMA, "schemaapp_gaugeevent")
        contexts = sql.Identifier(SCHEMA, "pghistory_context")
        query = sql.SQL(
            "SELECT e.pgh_obj_id, e.pgh_label, e.reading, c.metadata FROM {} e LEFT JOIN {} c ON c.id = e.pgh_context_id"
            " ORDER BY e.pgh_id"
        ).format(events, contexts)
        rows = conn.execute(sql.render(query)).fetchall()
        assert rows == [
            (ids["a"], "insert", 1, {"job": "in a schema"}),
            (ids["a"], "update", 2, {"job": "in a schema"}),
            (ids["raw"], "insert", 7, {"job": "in a schema"}),
        ]
        # Nothing of the project in public: no tables, no functions.
        found = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relname LIKE ANY (ARRAY['schemaapp%', 'pghistory%', 'django%'])"
        ).fetchone()
        assert found == (0,)
        functions = conn.execute(
            "SELECT n.nspname, count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE p.proname LIKE 'pgtrigger%' OR p.proname LIKE 'pghistory%' GROUP BY 1"
        ).fetchall()
        assert dict(functions).keys() == {SCHEMA}


def test_migrate_refuses_when_search_path_and_the_setting_disagree(schema_dsn: str) -> None:
    # The schema comes first on search_path (Django would create every table there), but
    # PGHISTORY_SCHEMA is left at "public": the triggers would write elsewhere.
    done = _run(schema_dsn, sql.join(", ", [sql.Identifier(SCHEMA), sql.Identifier("public")]), None)
    assert done.returncode != 0
    assert "pghistory.E002" in done.stderr, done.stderr
    assert f"Django creates tables in schema {SCHEMA!r}" in done.stderr
    assert "pghistory's triggers write to schema 'public' (settings.PGHISTORY_SCHEMA)" in done.stderr
    assert f"HINT: set PGHISTORY_SCHEMA = {SCHEMA!r}" in done.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [("", "non-empty schema name"), (None, "non-empty schema name"), (3, "non-empty schema name"),
     ("s" * 64, "at most 63 bytes")],
)
def test_invalid_schema_setting_is_rejected_by_name(value: object, message: str) -> None:
    with override_settings(PGHISTORY_SCHEMA=value), pytest.raises(ImproperlyConfigured, match=message) as raised:
        config.schema()
    assert "PGHISTORY_SCHEMA" in str(raised.value)


def test_schema_defaults_to_public() -> None:
    assert config.schema() == "public"
