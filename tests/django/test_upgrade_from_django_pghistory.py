"""Switching a project from django-pghistory 3.9.2 to pghistory_django keeps its data.

Layer: tests (Django tier). The project in ``tests/django/upgrade_project`` (its own
settings and app) is copied to a temporary directory. In a separate virtual environment
with django-pghistory 3.9.2 from PyPI, its migrations are generated and applied and
history is recorded under contexts; then, in this environment, with ``pghistory_django``
in ``INSTALLED_APPS`` (same app label ``pghistory``), ``makemigrations`` must produce
trigger changes only (plus the documented ``pgh_id`` widening), ``migrate`` must succeed,
and the events recorded before the switch must read back through ``Events`` and
``obj.events`` with their context.

The environment is ``$PGHISTORY_UPSTREAM_PYTHON`` if set, else ``.venv-upstream`` at the
repository root, created on first use with ``python -m venv`` and pip. The test is
skipped, saying why, only when pip cannot install django-pghistory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = Path(__file__).resolve().parent / "upgrade_project"
UPSTREAM = "django-pghistory==3.9.2"
REQUIREMENTS = [UPSTREAM, "Django>=4.2,<6", "psycopg[binary]"]

#: Operations a switch may produce: pgtrigger's, and widening ``pgh_id`` to bigint.
TRIGGER_OPS = {"AddTrigger", "RemoveTrigger"}


def _has_upstream(python: Path) -> bool:
    probe = "import importlib.metadata as m; print(m.version('django-pghistory'))"
    result = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
    return result.returncode == 0 and result.stdout.strip() == "3.9.2"


@pytest.fixture(scope="session")
def upstream_python() -> Path:
    configured = os.environ.get("PGHISTORY_UPSTREAM_PYTHON")
    if configured:
        python = Path(configured)
        if not _has_upstream(python):
            pytest.fail(f"PGHISTORY_UPSTREAM_PYTHON={configured} has no {UPSTREAM}")
        return python
    venv = ROOT / ".venv-upstream"
    python = venv / "bin" / "python"
    if python.exists() and _has_upstream(python):
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *REQUIREMENTS], capture_output=True, text=True
    )
    if install.returncode != 0 or not _has_upstream(python):
        pytest.skip(f"pip could not install {UPSTREAM} into {venv}: {install.stderr.strip()[-500:]}")
    return python


def _run(python: Path | str, step: str, project: Path, dsn: str) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "PYTHON", "PGH_"))
    }
    env.update({"PGH_UPGRADE_DSN": dsn, "PYTHONPATH": str(project)})
    result = subprocess.run(
        [str(python), "steps.py", step], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"step {step} failed:\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_switch_from_django_pghistory(upstream_python, dsn, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("__pycache__", "0*.py"))

    before = _run(upstream_python, "upstream", project, dsn)
    # The one edit besides imports and INSTALLED_APPS (docs/django.md): migrations of
    # event models with ContextJSONField name django-pghistory's JSONField class.
    for migration in (project / "shop" / "migrations").glob("0*.py"):
        text = migration.read_text()
        text = text.replace("import pghistory.utils\n", "").replace("pghistory.utils.JSONField", "models.JSONField")
        migration.write_text(text)
    after = _run(sys.executable, "switch", project, dsn)

    # makemigrations: trigger changes, and pgh_id widened to bigint; nothing else.
    ops = after["operations"]
    assert ops, after
    assert {op["op"] for op in ops} <= TRIGGER_OPS | {"AlterField"}, ops
    altered = [(op["model"], op["field"]) for op in ops if op["op"] == "AlterField"]
    assert all(field == "pgh_id" for _, field in altered), altered
    assert not any(op["op"] in {"CreateModel", "DeleteModel", "RemoveField", "AddField"} for op in ops)
    assert {op["model"] for op in ops if op["op"] == "AddTrigger"} == {"product", "order", "tag"}
    assert after["clean_after"], after["check_output"]
    # The app kept django-pghistory's migration names; ours ran on top.
    assert {"0007_auto_20250421_0444", "0002_context_functions", "0008_merge_django_pghistory_names"} <= set(
        after["applied_pghistory"]
    )

    # The history recorded before the switch reads back the same, with its context.
    for name in ("product", "order", "tag"):
        old = before["events"][name]
        assert after["events"][name][: len(old)] == old, name
    product_events = after["events"]["product"]
    assert [e["label"] for e in product_events] == ["insert", "update", "update", "update"]
    assert product_events[0]["context"] == {"user": None, "url": "/import/"}
    assert product_events[1]["diff"] == {"price": ["1.50", "2.00"]} or product_events[1]["diff"] == {"price": [1.5, 2.0]}
    assert after["events"]["tag"][1]["context"] == {"url": "/tags/"}
    # Recorded after the switch but before migrate, by django-pghistory's triggers: the
    # context reached them (the adapter saw they cannot read the comment).
    assert product_events[2]["diff"] == {"name": ["pen", "pen 1b"]}
    assert product_events[2]["context"] == {"url": "/before-migrate/"}
    # Recorded after migrate, by the new triggers, under the new context.
    assert product_events[3]["diff"] == {"name": ["pen 1b", "pen 2"]}
    assert product_events[3]["context"] == {"url": "/after/"}
    assert after["obj_events"] == ["insert", "update", "update", "update"]
    assert after["obj_event_context"] == [
        {"user": None, "url": "/import/"}, None, {"url": "/before-migrate/"}, {"url": "/after/"}
    ]
