"""Django adapter: ``migrate`` and ``pgtrigger install`` refuse a tracker condition that
cannot run on its table, before the trigger is installed.

Layer: tests (Django tier). At statement level (the default) Postgres parses a trigger's
query only when a write first fires it, so ``Q(new__amount="lots")`` on a numeric column
would install fine and then make every write to the table fail. End to end in
subprocesses, as a user runs ``manage.py`` (settings are read once, at start): a project
app written into a temporary directory, ``makemigrations`` and ``migrate`` on a fresh
database, the condition chosen by an environment variable. Asserts what a user sees: the
command fails with the core's message naming the tracker, the migration is not applied,
and writes to the table keep working and keep being recorded by the trigger already there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.django.harness import database_settings

ROOT = Path(__file__).resolve().parents[2]

_MODELS = '''
import os

from django.db import models

import pghistory_django as pghistory

CONDITIONS = {
    "good": pghistory.Q(new__amount__gt=100),
    "bad": pghistory.Q(new__amount="lots"),  # numeric column: cannot run
}


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent("big", condition=CONDITIONS[os.environ["PGH_CONDITION"]]),
)
class Invoice(models.Model):
    amount = models.DecimalField(max_digits=10, decimal_places=2)
'''

_SCRIPT = r"""
import json, os, sys
import django
from django.conf import settings

settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", **json.loads(os.environ["PGH_TEST_DB"])}},
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "pgtrigger", "pghistory_django", "condapp"],
    USE_TZ=True,
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    SECRET_KEY="condition-check",
)
django.setup()
from django.core.management import call_command

call_command(*sys.argv[1:])
"""

MESSAGE = "tracker 'big' on public.condapp_invoice: its condition cannot run on this table"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    app = tmp_path / "condapp"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "migrations" / "__init__.py").write_text("")
    (app / "models.py").write_text(_MODELS)
    return tmp_path


def _manage(project: Path, dsn: str, condition: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PGH_TEST_DB": json.dumps(database_settings(dsn)),
        "PGH_CONDITION": condition,
        "PYTHONPATH": os.pathsep.join([str(project), str(ROOT)]),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "-c", _SCRIPT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def _ok(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stderr


def _applied(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT name FROM django_migrations WHERE app = 'condapp' ORDER BY name").fetchall()
    return [name for (name,) in rows]


def test_migrate_refuses_a_changed_condition_and_writes_keep_working(project: Path, dsn: str) -> None:
    _ok(_manage(project, dsn, "good", "makemigrations", "condapp"))
    _ok(_manage(project, dsn, "good", "migrate"))
    # The condition is changed to one that cannot run on the numeric column.
    _ok(_manage(project, dsn, "bad", "makemigrations", "condapp", "--name", "bad_condition"))

    failed = _manage(project, dsn, "bad", "migrate")
    assert failed.returncode != 0
    assert MESSAGE in failed.stderr, failed.stderr
    assert "nothing was installed" in failed.stderr
    assert _applied(dsn) == ["0001_initial"]  # the migration rolled back

    failed = _manage(project, dsn, "bad", "pgtrigger", "install")
    assert failed.returncode != 0
    assert MESSAGE in failed.stderr, failed.stderr

    # Writes work, and are recorded by the triggers still installed (the good condition).
    with psycopg.connect(dsn) as conn:
        (pk,) = conn.execute("INSERT INTO condapp_invoice (amount) VALUES (50) RETURNING id").fetchone()
        conn.execute("UPDATE condapp_invoice SET amount = 150 WHERE id = %s", (pk,))
        conn.execute("UPDATE condapp_invoice SET amount = 10 WHERE id = %s", (pk,))
        events = conn.execute("SELECT pgh_label, amount FROM condapp_invoiceevent ORDER BY pgh_id").fetchall()
    assert [(label, int(amount)) for label, amount in events] == [("insert", 50), ("big", 150)]


def test_migrate_refuses_the_condition_of_a_new_model_before_creating_it(project: Path, dsn: str) -> None:
    _ok(_manage(project, dsn, "bad", "makemigrations", "condapp"))
    failed = _manage(project, dsn, "bad", "migrate")
    assert failed.returncode != 0
    assert MESSAGE in failed.stderr, failed.stderr
    assert _applied(dsn) == []
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT to_regclass('public.condapp_invoice')").fetchone() == (None,)
