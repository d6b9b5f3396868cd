"""Contract tier, SQLAlchemy driver: every scenario through SQLAlchemy models and sessions.

Layer: tests. Each scenario's tables become declarative classes, its trackings
``pghistory_sqlalchemy.track`` decorators, and ``metadata.create_all`` installs everything.
Operations run through the ORM: creates, updates and deletes are session flushes, bulk
updates and deletes are ``session.execute(update(...)/delete(...))``, manual events are
``pghistory_sqlalchemy.create_event``, contexts are ``ph.context`` sent by
``pghistory_sqlalchemy.instrument``. Event rows are read back through the generated event
classes (and their ``pgh_context`` relationship), and must equal both the scenario's
expected rows and the rows the core driver produces on another database.
"""

from __future__ import annotations

from collections.abc import Mapping

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import orm

import pghistory_core as ph
import pghistory_sqlalchemy as pgh
from tests.contract.scenarios import (
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
from tests.contract.test_core import run_scenario
from tests.pg import fresh_database
from tests.sqlalchemy.helpers import sa_url

_TYPES: Mapping[str, type[sa.types.TypeEngine[object]]] = {
    "pk": sa.Integer,
    "int": sa.Integer,
    "text": sa.Text,
    "decimal": sa.Numeric,
    "fk": sa.Integer,
}


def build_models(scenario: Scenario) -> tuple[sa.MetaData, dict[str, type]]:
    """Declarative classes for the scenario's tables, tracked as the scenario says."""

    class Base(orm.DeclarativeBase):
        pass

    models: dict[str, type] = {}
    for table in scenario.tables:
        attrs: dict[str, object] = {"__tablename__": table.name}
        for name, kind in table.columns:
            attrs[name] = orm.mapped_column(_TYPES[kind](), primary_key=name in table.primary_key, autoincrement=False)
        models[table.name] = type("".join(p.capitalize() for p in table.name.split("_")), (Base,), attrs)
    for track in scenario.tracks:
        pgh.track(
            *track.trackers,
            fields=track.fields,
            exclude=track.exclude,
            obj_field=track.obj_ref,
            table_name=track.event_table,
        )(models[track.table])
    return Base.metadata, models


def _run(session: orm.Session, metadata: sa.MetaData, models: dict[str, type], operation: object) -> None:
    if isinstance(operation, InContext):
        with ph.context(**operation.metadata):
            for inner in operation.operations:
                _run(session, metadata, models, inner)
        return
    if isinstance(operation, Create):
        session.add(models[operation.table](**operation.values))
    elif isinstance(operation, Update):
        obj = session.get_one(models[operation.table], operation.pk)
        for key, value in operation.values.items():
            setattr(obj, key, value)
    elif isinstance(operation, BulkUpdate):
        session.execute(sa.update(models[operation.table]).values(**operation.values))
    elif isinstance(operation, Delete):
        session.delete(session.get_one(models[operation.table], operation.pk))
    elif isinstance(operation, DeleteWhere):
        model = models[operation.table]
        session.execute(sa.delete(model).where(*(getattr(model, k) == v for k, v in operation.where.items())))
    elif isinstance(operation, Manual):
        entry = next(e for e in pgh.tracked_tables(metadata) if e.tracking.event_table_name == operation.event_table)
        assert entry.model is not None
        pgh.create_event(session, session.get_one(entry.model, operation.pk), label=operation.label)
    else:  # pragma: no cover - a scenario uses an operation this driver lacks
        raise TypeError(f"unknown operation {operation!r}")
    session.flush()


def _event_dict(entry: pgh.TrackedTable, event: object) -> dict[str, object]:
    row: dict[str, object] = {}
    for column in entry.event_table.columns:
        if column.name in ("pgh_id", "pgh_created_at", "pgh_context_id"):
            continue
        row[column.name] = getattr(event, column.key)
    context = getattr(event, "pgh_context", None)
    row["pgh_context"] = context.metadata if context is not None else None
    return row


def run_sqlalchemy(engine: sa.Engine, scenario: Scenario) -> dict[str, list[dict[str, object]]]:
    metadata, models = build_models(scenario)
    metadata.create_all(engine)
    pgh.check(engine, metadata)
    for operation in scenario.operations:
        # One transaction per top-level operation, as an application commits per request.
        with orm.Session(engine) as session, session.begin():
            _run(session, metadata, models, operation)
    result: dict[str, list[dict[str, object]]] = {}
    with orm.Session(engine) as session:
        for entry in pgh.tracked_tables(metadata):
            if entry.tracking.event_table_name not in scenario.expected:
                continue
            events = session.scalars(sa.select(entry.event_model).order_by(entry.event_table.c.pgh_id))
            result[entry.tracking.event_table_name] = [_event_dict(entry, e) for e in events]
    return result



@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_through_sqlalchemy(dsn, pg_server, scenario):
    engine = sa.create_engine(sa_url(dsn))
    pgh.instrument(engine)
    try:
        got = run_sqlalchemy(engine, scenario)
    finally:
        engine.dispose()
    assert_expected(scenario, got)
    # The same scenario through the core driver, on another database: identical event rows.
    with fresh_database(pg_server) as other, psycopg.connect(other, autocommit=True) as conn:
        core = run_scenario(conn, scenario)
    assert {t: normalised(r) for t, r in got.items()} == {t: normalised(r) for t, r in core.items()}
