"""Contract tier, Django driver: every scenario through Django models and querysets.

Layer: tests. Each scenario's tables become Django models (in an app label of their own,
registered for the test and removed after it), its trackings ``pghistory_django.track``
decorators; the tables are created with Django's schema editor and the triggers installed
by django-pgtrigger. Operations run through the ORM on a database alias pointing at the
test's fresh database: creates are ``objects.create``, updates ``save()``, bulk updates
``update()``, deletes ``delete()``, manual events ``pghistory_django.create_event``, and
contexts ``pghistory_django.context`` around an ``atomic`` block (the other operations run
in Django's autocommit mode, so both transport paths are used). Event rows are read back
through the generated event models and must equal both the scenario's expected rows and
the rows the core driver produces on another database.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import pytest

from tests.django.harness import setup

setup()

from django.apps import apps  # noqa: E402
from django.db import connections, models, transaction  # noqa: E402
from pgtrigger import registry as pgtrigger_registry  # noqa: E402

import pghistory_django as pghistory  # noqa: E402
from pghistory_django.context_sql import install_context_functions  # noqa: E402
from pghistory_django.models import Context  # noqa: E402
from tests.contract.scenarios import (  # noqa: E402
    SCENARIOS,
    BulkUpdate,
    Create,
    Delete,
    DeleteWhere,
    InContext,
    Manual,
    Scenario,
    Update,
    assert_expected,
    normalised,
)
from tests.contract.test_core import run_scenario  # noqa: E402
from tests.django.harness import configure_database, remove_database  # noqa: E402
from tests.pg import fresh_database  # noqa: E402

ALIAS = "contract"


def _field(kind: str, primary_key: bool) -> models.Field:
    if primary_key:
        return models.IntegerField(primary_key=True)
    if kind == "text":
        return models.TextField(null=True)
    if kind == "decimal":
        return models.DecimalField(max_digits=20, decimal_places=2, null=True)
    return models.IntegerField(null=True)  # int, fk (plain integer columns in the scenarios)


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]", name) if part)


def build_models(scenario: Scenario, app_label: str) -> dict[str, type[models.Model]]:
    result: dict[str, type[models.Model]] = {}
    for table in scenario.tables:
        attrs: dict[str, object] = {
            "__module__": __name__,
            "Meta": type("Meta", (), {"app_label": app_label, "db_table": table.name}),
        }
        for name, kind in table.columns:
            attrs[name] = _field(kind, name in table.primary_key)
        result[table.name] = type(_camel(table.name), (models.Model,), attrs)
    for track in scenario.tracks:
        event_table = track.event_table or f"{track.table}_event"
        options: dict[str, object] = {"model_name": _camel(event_table), "meta": {"db_table": event_table}}
        if not track.obj_ref:
            options["obj_field"] = None
        pghistory.track(*track.trackers, fields=track.fields, exclude=track.exclude or None, **options)(result[track.table])
    return result


def _event_models(tracked: dict[str, type[models.Model]]) -> dict[str, type[models.Model]]:
    found: dict[str, type[models.Model]] = {}
    for model in tracked.values():
        for event_model in (getattr(model, "pgh_event_models", None) or {}).values():
            found[event_model._meta.db_table] = event_model
    return found


def _run(tracked: dict[str, type[models.Model]], operation: object) -> None:
    if isinstance(operation, InContext):
        with pghistory.context(**operation.metadata), transaction.atomic(using=ALIAS):
            for inner in operation.operations:
                _run(tracked, inner)
        return
    if isinstance(operation, Create):
        tracked[operation.table].objects.using(ALIAS).create(**operation.values)
    elif isinstance(operation, Update):
        obj = tracked[operation.table].objects.using(ALIAS).get(pk=operation.pk)
        for key, value in operation.values.items():
            setattr(obj, key, value)
        obj.save()
    elif isinstance(operation, BulkUpdate):
        tracked[operation.table].objects.using(ALIAS).update(**operation.values)
    elif isinstance(operation, Delete):
        tracked[operation.table].objects.using(ALIAS).get(pk=operation.pk).delete()
    elif isinstance(operation, DeleteWhere):
        tracked[operation.table].objects.using(ALIAS).filter(**operation.where).delete()
    elif isinstance(operation, Manual):
        model = next(m for m in tracked.values() if operation.event_table in {e._meta.db_table for e in (getattr(m, "pgh_event_models", None) or {}).values()})
        pghistory.create_event(model.objects.using(ALIAS).get(pk=operation.pk), label=operation.label)
    else:  # pragma: no cover - a scenario uses an operation this driver lacks
        raise TypeError(f"unknown operation {operation!r}")


def _event_dict(event: models.Model) -> dict[str, object]:
    row: dict[str, object] = {}
    for field in event._meta.concrete_fields:
        if field.column in ("pgh_id", "pgh_created_at", "pgh_context_id"):
            continue
        row[field.column] = getattr(event, field.attname)
    context = event.pgh_context if getattr(event, "pgh_context_id", None) else None
    row["pgh_context"] = context.metadata if context is not None else None
    return row


def run_django(scenario: Scenario, app_label: str) -> dict[str, list[dict[str, object]]]:
    tracked = build_models(scenario, app_label)
    events = _event_models(tracked)
    with connections[ALIAS].schema_editor() as editor:
        editor.create_model(Context)
        for model in [*tracked.values(), *events.values()]:
            editor.create_model(model)
    install_context_functions(ALIAS)
    for model in tracked.values():
        for trigger in getattr(model._meta, "triggers", []):
            trigger.install(model, database=ALIAS)
    for operation in scenario.operations:
        _run(tracked, operation)
    return {
        table: [_event_dict(e) for e in model.objects.using(ALIAS).order_by("pgh_id")]
        for table, model in events.items()
        if table in scenario.expected
    }


@pytest.fixture
def django_alias(dsn: str) -> Iterator[str]:
    configure_database(ALIAS, dsn)
    try:
        yield ALIAS
    finally:
        remove_database(ALIAS)


@pytest.fixture
def app_label(request: pytest.FixtureRequest) -> Iterator[str]:
    label = "contract_" + re.sub(r"[^a-z0-9]", "_", request.node.callspec.id.lower())
    try:
        yield label
    finally:
        # Unregister the scenario's models and triggers: the next scenario reuses table names.
        for uri, (model, trigger) in list(pgtrigger_registry._registry.items()):
            if model._meta.app_label == label:
                del pgtrigger_registry._registry[uri]
        apps.all_models.pop(label, None)
        apps.clear_cache()



@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_through_django(pg_server, django_alias, app_label, scenario):
    got = run_django(scenario, app_label)
    assert_expected(scenario, got)
    # The same scenario through the core driver, on another database: identical event rows.
    with fresh_database(pg_server) as other, psycopg.connect(other, autocommit=True) as conn:
        core = run_scenario(conn, scenario)
    assert {t: normalised(r) for t, r in got.items()} == {t: normalised(r) for t, r in core.items()}
