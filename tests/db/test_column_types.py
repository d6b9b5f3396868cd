"""Database tier: change conditions on column types whose ``=`` cannot tell a change.

An array of json, a domain over json, a composite holding json or a box have no usable
``=``: compared as they are, every UPDATE of the tracked table failed inside the trigger.
``citext`` has one that ignores case, so a change of case was not recorded. The triggers
compare such columns as text; built-in types keep their own ``=`` (numeric ``1.0`` and
``1.00`` stay one value, as before). A type whose name needs quotes (``"Mood"``) is
accepted as the catalog prints it.
"""

from __future__ import annotations

import psycopg
import pytest

import pghistory_core as ph
from pghistory_core import revert, sql, transport
from tests.db.helpers import events

LEVELS = [pytest.param(ph.Row, id="row"), pytest.param(ph.Statement, id="statement")]

# (column type, value before, changed value): the value's SQL, as written in an UPDATE.
CHANGES = [
    pytest.param("json[]", "ARRAY['{\"a\": 1}'::json]", "ARRAY['{\"a\": 2}'::json]", id="json-array"),
    pytest.param("doc", "'{\"a\": 1}'", "'{\"a\": 2}'", id="domain-over-json"),
    pytest.param("tagged", "ROW(1, '{\"a\": 1}')", "ROW(1, '{\"a\": 2}')", id="composite-with-json"),
    pytest.param("box[]", "ARRAY[box '((0,0),(1,1))']", "ARRAY[box '((5,5),(6,6))']", id="box-array"),
    pytest.param("citext", "'Alice'", "'ALICE'", id="citext-case-change"),
    # An enum whose name needs quotes: the catalog prints it as "Mood".
    pytest.param('"Mood"', "'sad'", "'happy'", id="quoted-enum"),
]


@pytest.fixture
def typed(conn: psycopg.Connection) -> None:
    conn.execute("CREATE EXTENSION IF NOT EXISTS citext")
    conn.execute("CREATE DOMAIN doc AS json")
    conn.execute("CREATE TYPE tagged AS (n integer, body json)")
    conn.execute("""CREATE TYPE "Mood" AS ENUM ('sad', 'happy')""")


def _tracked(
    conn: psycopg.Connection, column_type: str, before: str, level: ph.Level, *trackers: ph.Tracker
) -> ph.Tracking:
    create = sql.SQL("CREATE TABLE thing (id integer PRIMARY KEY, v {}, n numeric)").format(sql.SQL(column_type))
    conn.execute(sql.render(create))
    # The type as the catalog prints it, as the CLI's and adapters' descriptions carry it.
    printed = conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'thing'::regclass AND attname = 'v'"
    ).fetchone()
    assert printed is not None
    table = ph.Table(
        "thing", (ph.Column("id", "integer"), ph.Column("v", printed[0]), ph.Column("n", "numeric")), ("id",)
    )
    tracking = ph.Tracking(table, trackers or (ph.UpdateEvent(),), level=level)
    ph.install(conn, [tracking])
    conn.execute(sql.render(sql.SQL("INSERT INTO thing VALUES (1, {}, 1.0)").format(sql.SQL(before))))
    return tracking


@pytest.mark.usefixtures("typed")
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(("column_type", "before", "after"), CHANGES)
def test_a_changed_value_is_recorded_and_an_unchanged_one_is_not(conn, level, column_type, before, after):
    _tracked(conn, column_type, before, level)

    conn.execute("UPDATE thing SET v = v")  # nothing changes: no event
    conn.execute(sql.render(sql.SQL("UPDATE thing SET v = {}").format(sql.SQL(after))))
    conn.execute("UPDATE thing SET n = 1.00")  # numeric keeps its own "=": the same value

    recorded = events(conn, "thing_event", ["v"])
    current = conn.execute("SELECT v FROM thing").fetchone()
    assert current is not None
    assert recorded == [{"pgh_label": "update", "pgh_obj_id": 1, "v": current[0]}]


@pytest.mark.usefixtures("typed")
@pytest.mark.parametrize("level", LEVELS)
def test_reverting_a_context_compares_such_columns_too(conn, level):
    tracking = _tracked(conn, "json[]", "ARRAY['{\"a\": 1}'::json]", level, ph.InsertEvent(), ph.UpdateEvent())
    with conn.transaction(), ph.context(job="import") as active:
        transport.apply(conn)
        conn.execute("UPDATE thing SET v = ARRAY['{\"a\": 2}'::json]")
    assert [e["pgh_label"] for e in events(conn, "thing_event")] == ["insert", "update"]

    plan = revert.revert_context(conn, [tracking], active.id)

    assert plan.applied and not plan.conflicts
    assert conn.execute("SELECT v::text FROM thing").fetchone() == ('{"{\\"a\\": 1}"}',)
