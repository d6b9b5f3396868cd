"""Contract tier, Peewee driver: every scenario through Peewee models and pghistory_peewee.

Layer: tests (contract tier). Each scenario's tables become Peewee models (field names are
the scenario's column names), its trackings ``@pghistory_peewee.track(...)`` decorators,
and its operations Peewee calls: ``create()``, ``save()``, ``Model.update().execute()``,
``delete_instance()``, ``delete().where().execute()``, ``create_event()``; a context block
runs in autocommit (the adapter's database carries it). The event rows must match the
same expected rows as the core driver (``test_core.py``), on both drivers.
"""

from __future__ import annotations

from collections.abc import Mapping

import peewee
import pytest

import pghistory_peewee as pgh
from tests.contract.scenarios import (
    SCENARIOS,
    BulkUpdate,
    Create,
    Delete,
    DeleteWhere,
    InContext,
    Manual,
    Scenario,
    TableDef,
    Update,
    assert_expected,
    event_rows_sql,
)
from tests.peewee.conftest import DRIVERS, make_database


class NumericField(peewee.DecimalField):
    """``numeric`` without precision, like the scenarios' ``decimal`` kind."""

    def get_modifiers(self) -> None:
        return None


def _field(kind: str, is_pk: bool) -> peewee.Field:
    if is_pk:
        return peewee.IntegerField(primary_key=True)
    return {
        "int": lambda: peewee.IntegerField(null=True),
        "fk": lambda: peewee.IntegerField(null=True),
        "text": lambda: peewee.TextField(null=True),
        "decimal": lambda: NumericField(null=True, auto_round=False),
    }[kind]()


def build_models(db: peewee.Database, scenario: Scenario) -> dict[str, type[peewee.Model]]:
    result: dict[str, type[peewee.Model]] = {}
    for table in scenario.tables:
        result[table.name] = _model(db, scenario, table)
    return result


def _model(db: peewee.Database, scenario: Scenario, table: TableDef) -> type[peewee.Model]:
    meta = type("Meta", (), {"database": db, "table_name": table.name})
    attrs: dict[str, object] = {"Meta": meta, "__module__": __name__}
    for name, kind in table.columns:
        attrs[name] = _field(kind, name in table.primary_key)
    model = type(f"M_{table.name}", (peewee.Model,), attrs)
    for n, track in enumerate(t for t in scenario.tracks if t.table == table.name):
        model = pgh.track(
            *track.trackers,
            fields=track.fields,
            exclude=track.exclude,
            obj_field=track.obj_ref or None,
            table_name=track.event_table,
            model_name=f"{model.__name__}Event{n}",
        )(model)
    return model


def _run(db: peewee.Database, models: Mapping[str, type[peewee.Model]], operation: object) -> None:
    if isinstance(operation, InContext):
        with pgh.context(**operation.metadata):
            for inner in operation.operations:
                _run(db, models, inner)
    elif isinstance(operation, Create):
        models[operation.table].create(**operation.values)
    elif isinstance(operation, Update):
        obj = models[operation.table].get_by_id(operation.pk)
        for key, value in operation.values.items():
            setattr(obj, key, value)
        obj.save()
    elif isinstance(operation, BulkUpdate):
        models[operation.table].update(**operation.values).execute()
    elif isinstance(operation, Delete):
        models[operation.table].get_by_id(operation.pk).delete_instance()
    elif isinstance(operation, DeleteWhere):
        model = models[operation.table]
        query = model.delete()
        for key, value in operation.where.items():
            query = query.where(getattr(model, key) == value)
        query.execute()
    elif isinstance(operation, Manual):
        model = next(
            m
            for m in models.values()
            for e in pgh.event_models(m)
            if e.pgh_tracking.event_table_name == operation.event_table
        )
        pgh.create_event(model.get_by_id(operation.pk), label=operation.label)
    else:  # pragma: no cover - a scenario uses an operation this driver lacks
        raise TypeError(f"unknown operation {operation!r}")


def run_scenario(db: peewee.Database, scenario: Scenario) -> dict[str, list[dict[str, object]]]:
    models = build_models(db, scenario)
    pgh.create_tables(db, list(models.values()))
    for operation in scenario.operations:
        _run(db, models, operation)
    result: dict[str, list[dict[str, object]]] = {}
    for event_table in scenario.expected:
        cursor = db.execute_sql(event_rows_sql(event_table))
        result[event_table] = [row[0] for row in cursor.fetchall()]
    return result



@pytest.mark.parametrize("driver", sorted(DRIVERS))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_through_peewee(dsn, scenario, driver):
    db = make_database(DRIVERS[driver], dsn)
    try:
        got = run_scenario(db, scenario)
    finally:
        db.close()
    assert_expected(scenario, got)
