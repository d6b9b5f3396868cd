"""Contract tier, core driver: every scenario through pghistory_core with raw SQL.

Each adapter's driver runs the same scenarios through its ORM and must produce the same
rows (see ``scenarios.py``). ``run_scenario`` returns the event rows so drivers can be
compared with each other, not only with the expected subset.
"""

from __future__ import annotations

from collections.abc import Mapping

import psycopg
import pytest

import pghistory_core as ph
from pghistory_core import sql, transport
from tests.contract.scenarios import (
    KINDS,
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
    event_rows_sql,
)


def _assignments(values: Mapping[str, object]) -> sql.Composable:
    return sql.join(", ", [sql.SQL("{} = {}").format(sql.Identifier(k), sql.Literal(v)) for k, v in values.items()])  # type: ignore[arg-type]


def _run(conn: psycopg.Connection, scenario: Scenario, trackings: list[ph.Tracking], operation: object) -> None:
    if isinstance(operation, InContext):
        with conn.transaction(), ph.context(**operation.metadata):
            transport.apply(conn)
            for inner in operation.operations:
                _run(conn, scenario, trackings, inner)
        return
    if isinstance(operation, Create):
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(operation.table),
            sql.join(", ", [sql.Identifier(k) for k in operation.values]),
            sql.join(", ", [sql.Literal(v) for v in operation.values.values()]),  # type: ignore[arg-type]
        )
    elif isinstance(operation, Update):
        query = sql.SQL("UPDATE {} SET {} WHERE id = {}").format(
            sql.Identifier(operation.table), _assignments(operation.values), sql.Literal(operation.pk)  # type: ignore[arg-type]
        )
    elif isinstance(operation, BulkUpdate):
        query = sql.SQL("UPDATE {} SET {}").format(sql.Identifier(operation.table), _assignments(operation.values))
    elif isinstance(operation, Delete):
        query = sql.SQL("DELETE FROM {} WHERE id = {}").format(sql.Identifier(operation.table), sql.Literal(operation.pk))  # type: ignore[arg-type]
    elif isinstance(operation, DeleteWhere):
        condition = sql.join(
            " AND ", [sql.SQL("{} = {}").format(sql.Identifier(k), sql.Literal(v)) for k, v in operation.where.items()]  # type: ignore[arg-type]
        )
        query = sql.SQL("DELETE FROM {} WHERE {}").format(sql.Identifier(operation.table), condition)
    elif isinstance(operation, Manual):
        tracking = next(t for t in trackings if t.event_table_name == operation.event_table)
        ph.create_event(conn, tracking, operation.label, operation.pk)  # type: ignore[arg-type]
        return
    else:  # pragma: no cover - a scenario uses an operation this driver lacks
        raise TypeError(f"unknown operation {operation!r}")
    conn.execute(sql.render(query))


def run_scenario(conn: psycopg.Connection, scenario: Scenario) -> dict[str, list[dict[str, object]]]:
    for table in scenario.tables:
        columns = [
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(KINDS[kind])) for name, kind in table.columns
        ]
        conn.execute(
            sql.render(
                sql.SQL("CREATE TABLE {} ({}, PRIMARY KEY ({}))").format(
                    sql.Identifier(table.name),
                    sql.join(", ", columns),
                    sql.join(", ", [sql.Identifier(k) for k in table.primary_key]),
                )
            )
        )
    trackings = scenario.trackings()
    ph.install(conn, trackings)
    for operation in scenario.operations:
        _run(conn, scenario, trackings, operation)
    result: dict[str, list[dict[str, object]]] = {}
    for event_table in scenario.expected:
        cur = conn.execute(event_rows_sql(event_table))
        result[event_table] = [row[0] for row in cur.fetchall()]
    return result



@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_through_core(conn, scenario):
    got = run_scenario(conn, scenario)
    assert_expected(scenario, got)
