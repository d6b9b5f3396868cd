"""Database tier: ``pghistory log``, ``as-of`` and ``revert`` through click's CliRunner.

The spec is :data:`TRACKINGS` in this module (``--spec tests.db.test_history_cli:TRACKINGS``).
"""

from __future__ import annotations

import json

import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg.conninfo import make_conninfo

import pghistory_core as ph
from pghistory_cli.main import cli
from pghistory_core import transport

ITEMS = ph.Table("items", (ph.Column("id", "integer"), ph.Column("name", "text"), ph.Column("price", "numeric")))
TRACKINGS = [
    ph.Tracking(ITEMS, (ph.InsertEvent(), ph.UpdateEvent(), ph.DeleteEvent())),
    ph.Tracking(ITEMS, (ph.UpdateEvent("renamed", condition=ph.AnyChange("name")),), fields=("id", "name"), event_table="item_names"),
]
PARTIAL = TRACKINGS[1:]
SPEC = "tests.db.test_history_cli:TRACKINGS"
ENV: dict[str, str | None] = {"COLUMNS": "200", "NO_COLOR": "1", "DATABASE_URL": None, "PGHISTORY_SPEC": None}


def run(dsn: str, *args: str, exit_code: int = 0, spec: str = SPEC) -> Result:
    result = CliRunner().invoke(cli, [args[0], "--dsn", dsn, "--spec", spec, *args[1:]], env=ENV)
    assert result.exit_code == exit_code, (result.output, result.exception)
    return result


@pytest.fixture
def items(conn: psycopg.Connection) -> None:
    conn.execute("SET TIME ZONE 'UTC'")
    conn.execute("CREATE TABLE items (id integer PRIMARY KEY, name text, price numeric)")
    ph.install(conn, TRACKINGS)
    conn.execute("INSERT INTO items VALUES (1, 'apple', 1.50), (2, 'pear', 2)")
    conn.execute("UPDATE items SET price = 1.75, name = 'green apple' WHERE id = 1")


def test_log_of_one_row(dsn, conn, items):
    out = run(dsn, "log", "--table", "items", "--pk", "1").output
    assert "price: 1.50 → 1.75" in out  # numeric as the column holds it
    assert 'name: "apple" → "green apple"' in out
    assert "public.item_names" in out and "public.items_event" in out
    events = json.loads(run(dsn, "log", "--table", "public.items", "--pk", "1", "--json", "--oldest-first").stdout)
    assert [(e["pgh_model"], e["pgh_label"], e["pgh_diff"]) for e in events if e["pgh_model"] == "public.items_event"] == [
        ("public.items_event", "insert", None),
        ("public.items_event", "update", {"name": ["apple", "green apple"], "price": ["1.50", "1.75"]}),
    ]
    assert events[0]["pgh_data"]["name"] == "apple"
    conn.execute("DELETE FROM items WHERE id = 1")
    assert "row deleted" in run(dsn, "log", "--table", "items", "--pk", "1").output


def test_log_pages_with_a_cursor(dsn, conn, items):
    first = run(dsn, "log", "--table", "items", "--limit", "2")
    assert "More events may follow: add --after" in first.stderr
    cursor = first.stderr.split("--after '")[1].split("'")[0]
    rest = json.loads(run(dsn, "log", "--table", "items", "--after", cursor, "--json").stdout)
    everything = json.loads(run(dsn, "log", "--table", "items", "--json").stdout)
    assert len(everything) == 4 and len(rest) == 2
    assert [e["pgh_id"] for e in everything[2:]] == [e["pgh_id"] for e in rest]
    assert json.loads(run(dsn, "log", "--label", "renamed", "--json").stdout)[0]["pgh_diff"] is None
    assert "No events." in run(dsn, "log", "--table", "items", "--pk", "99").output


def test_as_of(dsn, conn, items):
    at = conn.execute("SELECT clock_timestamp()").fetchone()[0].isoformat()
    conn.execute("DELETE FROM items WHERE id = 2")
    conn.execute("UPDATE items SET price = 9 WHERE id = 1")
    out = run(dsn, "as-of", "--table", "items", "--at", at).output
    assert "│ 2  │ pear        │ 2     │ insert" in out and "1.75" in out and "2 rows." in out
    rows = json.loads(run(dsn, "as-of", "--table", "items", "--at", at, "--json").stdout)
    assert [r["values"] for r in rows] == [
        {"id": 1, "name": "green apple", "price": "1.75"},
        {"id": 2, "name": "pear", "price": "2"},
    ]
    one = json.loads(run(dsn, "as-of", "--table", "items", "--at", at, "--pk", "2", "--json").stdout)
    assert one["values"]["name"] == "pear"
    assert json.loads(run(dsn, "as-of", "--table", "items", "--at", "2000-01-01T00:00:00+00:00", "--pk", "2", "--json").stdout) is None
    error = run(dsn, "as-of", "--table", "items", "--at", at, exit_code=2, spec="tests.db.test_history_cli:PARTIAL")
    assert "columns not tracked: price" in error.output and "deletes not tracked" in error.output
    assert "invalid timestamp 'yesterday'" in run(dsn, "as-of", "--table", "items", "--at", "yesterday", exit_code=2).output


def test_revert(dsn, conn, items):
    with ph.context(job="oops") as active:
        with conn.transaction():
            transport.apply(conn)
            conn.execute("UPDATE items SET price = 0")
            conn.execute("DELETE FROM items WHERE id = 2")
            conn.execute("INSERT INTO items VALUES (3, 'plum', 3)")
    before = conn.execute("SELECT * FROM items ORDER BY id").fetchall()

    dry = run(dsn, "revert", "--context", str(active.id), "--dry-run")
    assert "Dry run: would write 1 to re-insert, 1 to update, 1 to delete" in dry.output
    assert conn.execute("SELECT * FROM items ORDER BY id").fetchall() == before

    conn.execute("UPDATE items SET name = 'apple pie' WHERE id = 1")
    dry = run(dsn, "revert", "--context", str(active.id), "--dry-run")  # a dry run still exits 0
    assert "Not reverted" not in dry.output
    assert (
        "Dry run: 1 row changed after the context, so a run without --force would refuse; with --force it would "
        "write 1 to re-insert, 1 to update, 1 to delete. Nothing was written." in " ".join(dry.output.split())
    )
    refused = run(dsn, "revert", "--context", str(active.id), exit_code=1)
    assert "changed again after the context" in refused.output
    assert "Nothing was written" in refused.stderr
    assert conn.execute("SELECT * FROM items ORDER BY id").fetchall() != before

    result = json.loads(run(dsn, "revert", "--context", str(active.id), "--force", "--json").stdout)
    assert result["applied"] and result["revert_context_id"]
    assert sorted(op["kind"] for op in result["operations"]) == ["delete", "insert", "update"]
    assert [(r[0], r[1], str(r[2])) for r in conn.execute("SELECT * FROM items ORDER BY id").fetchall()] == [
        (1, "green apple", "1.75"),
        (2, "pear", "2"),
    ]
    error = run(dsn, "revert", "--context", "not-a-uuid", exit_code=2)
    assert "a context id must be a UUID, got 'not-a-uuid'" in error.output


def test_usage_errors(dsn, conn, items):
    assert "--pk needs --table" in run(dsn, "log", "--pk", "1", exit_code=2).output
    assert "no tracking of table nope" in run(dsn, "log", "--table", "nope", exit_code=2).output


MONTHLY_ITEMS = [ph.Tracking(ITEMS, (ph.InsertEvent(), ph.UpdateEvent(), ph.DeleteEvent()), partition="month")]
MONTHLY_SPEC = "tests.db.test_history_cli:MONTHLY_ITEMS"


def test_partitions_on_an_unpartitioned_event_table_points_at_convert(dsn, conn, items):
    # items_event was installed unpartitioned; the tracking has just gained partition="month".
    before = conn.execute("SELECT count(*) FROM items_event").fetchone()[0]
    for args in (("partitions",), ("partitions", "--list")):
        error = run(dsn, *args, exit_code=2, spec=MONTHLY_SPEC).output
        assert "public.items_event exists unpartitioned" in error
        assert "rerun with --convert" in error
        assert "Traceback" not in error
    assert conn.execute("SELECT relkind::text FROM pg_class WHERE oid = 'public.items_event'::regclass").fetchone() == ("r",)
    assert conn.execute("SELECT count(*) FROM items_event").fetchone()[0] == before
    converted = CliRunner().invoke(
        cli, ["partitions", "--dsn", dsn, "--spec", MONTHLY_SPEC, "--convert", "--yes"], env=ENV
    )
    assert converted.exit_code == 0, converted.output
    assert conn.execute("SELECT count(*) FROM items_event").fetchone()[0] == before


@pytest.mark.parametrize(
    ("since", "message"),
    [
        ("2026-06-01", "--since '2026-06-01' has no time zone offset: partitions start at midnight UTC"),
        ("june", "--since 'june' is not a timestamp: use ISO 8601 with an offset"),
    ],
)
def test_partitions_since_errors_name_the_option(dsn, conn, since, message):
    error = run(dsn, "partitions", "--since", since, exit_code=2, spec=MONTHLY_SPEC).output
    assert message in error
    assert "deleting history" not in error and "--before" not in error


def test_retention_contexts_refused_before_any_event_is_deleted(dsn, conn, items):
    # --contexts needs READ COMMITTED; under another isolation level the command must stop
    # before it deletes events, not after (it would exit 2 with the events already gone).
    serializable = make_conninfo(dsn, options="-c default_transaction_isolation=serializable")
    before = conn.execute("SELECT count(*) FROM items_event").fetchone()[0]
    assert before > 0
    for extra in ((), ("--dry-run",)):
        error = run(serializable, "retention", "--before", "2999-01-01T00:00:00+00:00", "--contexts", "--yes", *extra,
                    exit_code=2).output
        assert "deleting context rows needs READ COMMITTED" in error
        assert "Traceback" not in error
    assert conn.execute("SELECT count(*) FROM items_event").fetchone()[0] == before
