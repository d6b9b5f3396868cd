"""Database tier: backfill, one event per row a table held before tracking started.

Layer: tests (real Postgres). Asserts what a user sees in the event table: one event per
existing row with its values, batches that cover every row exactly once (keyset order, any
key type, composite keys), the active context attached, re-runs that skip rows already
recorded, the caller's transaction respected, and clear errors for what cannot work.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import psycopg
import pytest

import pghistory_core as ph
from pghistory_core import history, sql
from pghistory_core.backfill import backfill_lock_sql, backfill_range_sql, backfill_write_sql
from tests.db.helpers import events, run_until_it_waits, track


@pytest.fixture
def cash(conn: psycopg.Connection) -> ph.Table:
    conn.execute("CREATE TABLE cash (id serial PRIMARY KEY, dollars numeric NOT NULL, note text)")
    conn.execute("INSERT INTO cash (dollars, note) SELECT g, 'n' || g FROM generate_series(1, 25) g")
    # "serial" as a user would describe the column: the batches cast keys to its integer type.
    return ph.Table("cash", (ph.Column("id", "serial"), ph.Column("dollars", "numeric"), ph.Column("note", "text")))


def _tracking(table: ph.Table, **options: object) -> ph.Tracking:
    return ph.Tracking(table, (ph.InsertEvent(), ph.UpdateEvent(), ph.ManualEvent("backfill")), **options)  # type: ignore[arg-type]


def test_every_existing_row_gets_one_event_in_batches(conn, cash):
    tracking = _tracking(cash)
    track(conn, tracking)
    calls: list[tuple[int, int]] = []
    result = ph.backfill(conn, tracking, "backfill", batch_size=10, progress=lambda done, total: calls.append((done, total)))
    assert (result.rows, result.events, result.skipped) == (25, 25, 0)
    assert calls == [(10, 25), (20, 25), (25, 25)]
    rows = events(conn, "cash_event", ["id", "dollars", "note"])
    assert rows == [
        {"pgh_label": "backfill", "pgh_obj_id": i, "id": i, "dollars": Decimal(i), "note": f"n{i}"} for i in range(1, 26)
    ]
    # Tracking goes on as usual afterwards.
    conn.execute("UPDATE cash SET dollars = 100 WHERE id = 3")
    assert events(conn, "cash_event", ["dollars"])[-1] == {"pgh_label": "update", "pgh_obj_id": 3, "dollars": Decimal(100)}


def test_a_rerun_skips_rows_that_already_have_events(conn, cash):
    tracking = _tracking(cash)
    track(conn, tracking)
    conn.execute("UPDATE cash SET dollars = dollars + 1 WHERE id IN (2, 4)")  # these two have history already
    conn.execute("INSERT INTO cash (dollars) VALUES (99)")  # and so has this new row (id 26)
    first = ph.backfill(conn, tracking, "backfill", batch_size=7)
    assert (first.rows, first.events, first.skipped) == (26, 23, 3)
    again = ph.backfill(conn, tracking, "backfill")
    assert (again.rows, again.events, again.skipped) == (26, 0, 26)
    everything = ph.backfill(conn, tracking, "backfill", skip_existing=False)
    assert everything.events == 26
    counts = conn.execute("SELECT pgh_label, count(*) FROM cash_event GROUP BY 1 ORDER BY 1").fetchall()
    assert counts == [("backfill", 23 + 26), ("insert", 1), ("update", 2)]


def test_the_active_context_is_attached_once(conn, cash):
    tracking = _tracking(cash)
    track(conn, tracking)
    with ph.context(job="backfill", by="ops") as active:
        ph.backfill(conn, tracking, "backfill", batch_size=10)
    assert conn.execute("SELECT DISTINCT pgh_context_id FROM cash_event").fetchall() == [(active.id,)]
    assert conn.execute("SELECT id, metadata FROM pghistory_context").fetchall() == [
        (active.id, {"job": "backfill", "by": "ops"})
    ]


def test_denormalized_context_is_copied_into_each_event(conn, cash):
    tracking = _tracking(cash, context=ph.DENORMALIZED)
    track(conn, tracking)
    with ph.context(job="import") as active:
        ph.backfill(conn, tracking, "backfill")
    assert conn.execute("SELECT DISTINCT pgh_context_id, pgh_context FROM cash_event").fetchall() == [
        (active.id, {"job": "import"})
    ]


def test_composite_and_unusual_keys_are_covered_exactly_once(conn):
    # A composite key of a uuid, a timestamp and text with quotes: batches continue after
    # the last key of the previous batch, whatever its type.
    conn.execute(
        'CREATE TABLE "Odd ""Keys""" (tenant uuid, at timestamptz, code text, qty integer, PRIMARY KEY (tenant, at, code))'
    )
    tenants = [uuid.UUID(int=i) for i in (3, 1, 2)]
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    with conn.cursor() as cur:
        cur.executemany(
            'INSERT INTO "Odd ""Keys""" VALUES (%s, %s, %s, %s)',
            [(t, start + dt.timedelta(microseconds=m), code, m) for t in tenants for m in (1, 2) for code in ("a'b", "a b")],
        )
    table = ph.Table(
        'Odd "Keys"',
        (ph.Column("tenant", "uuid"), ph.Column("at", "timestamp with time zone"), ph.Column("code", "text"), ph.Column("qty", "integer")),
        ("tenant", "at", "code"),
    )
    tracking = ph.Tracking(table, (ph.ManualEvent("backfill"),), obj_ref=False, event_table="odd_event")
    track(conn, tracking)
    with pytest.raises(ph.ConfigurationError, match="obj_ref=False; pass skip_existing=False"):
        ph.backfill(conn, tracking, "backfill")
    result = ph.backfill(conn, tracking, "backfill", batch_size=5, skip_existing=False)
    assert (result.rows, result.events) == (12, 12)
    recorded = conn.execute("SELECT tenant, at, code FROM odd_event ORDER BY pgh_id").fetchall()
    source = conn.execute('SELECT tenant, at, code FROM "Odd ""Keys""" ORDER BY tenant, at, code').fetchall()
    assert recorded == source and len(set(recorded)) == 12


def test_inside_the_callers_transaction_a_rollback_undoes_the_backfill(conn, cash):
    tracking = _tracking(cash)
    track(conn, tracking)
    with pytest.raises(RuntimeError), conn.transaction():
        ph.backfill(conn, tracking, "backfill", batch_size=10)
        assert conn.execute("SELECT count(*) FROM cash_event").fetchone() == (25,)
        raise RuntimeError("changed my mind")
    assert conn.execute("SELECT count(*) FROM cash_event").fetchone() == (0,)


def test_bad_arguments_are_rejected_by_name(conn, cash):
    tracking = _tracking(cash)
    track(conn, tracking)
    with pytest.raises(ph.ConfigurationError, match="no tracker labelled 'snapshot'"):
        ph.backfill(conn, tracking, "snapshot")
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ph.ConfigurationError, match="batch_size must be a positive integer"):
            ph.backfill(conn, tracking, "backfill", batch_size=bad)  # type: ignore[arg-type]
    keyless = ph.Table("keyless", (ph.Column("v", "integer"),), ())
    conn.execute("CREATE TABLE keyless (v integer)")
    with pytest.raises(ph.ConfigurationError, match="has no primary key"):
        ph.backfill(conn, ph.Tracking(keyless, (ph.ManualEvent("backfill"),), obj_ref=False), "backfill", skip_existing=False)
    assert conn.execute("SELECT count(*) FROM cash_event").fetchone() == (0,)


# --------------------------------------------------------------------- pghistory backfill

SHOP = ph.Table("shop", (ph.Column("id", "integer"), ph.Column("name", "text")))
#: Two event tables for one table; only the first has a "backfill" tracker.
TRACKINGS = [
    ph.Tracking(SHOP, (ph.InsertEvent(), ph.ManualEvent("backfill"))),
    ph.Tracking(SHOP, (ph.UpdateEvent("renamed", condition=ph.AnyChange("name")),), event_table="shop_names"),
]
SPEC = "tests.db.test_backfill:TRACKINGS"


def _cli(dsn: str, *args: str):
    from click.testing import CliRunner

    from pghistory_cli.main import cli

    return CliRunner().invoke(cli, ["backfill", "--dsn", dsn, "--spec", SPEC, *args],
                              env={"COLUMNS": "200", "NO_COLOR": "1", "DATABASE_URL": None, "PGHISTORY_SPEC": None})


def test_cli_backfills_the_event_tables_that_have_the_label(dsn, conn):
    conn.execute("CREATE TABLE shop (id integer PRIMARY KEY, name text)")
    conn.execute("INSERT INTO shop SELECT g, 'shop ' || g FROM generate_series(1, 12) g")
    ph.install(conn, TRACKINGS)
    result = _cli(dsn, "--table", "shop", "--label", "backfill", "--batch-size", "5")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "public.shop_event: 12 rows read, 12 events written, 0 skipped"
    assert events(conn, "shop_event", ["name"])[0] == {"pgh_label": "backfill", "pgh_obj_id": 1, "name": "shop 1"}
    assert conn.execute("SELECT count(*) FROM shop_names").fetchone() == (0,)

    again = _cli(dsn, "--table", "public.shop", "--label", "backfill")
    assert again.stdout.strip() == "public.shop_event: 12 rows read, 0 events written, 12 skipped"
    every = _cli(dsn, "--table", "shop", "--label", "backfill", "--all-rows")
    assert every.stdout.strip() == "public.shop_event: 12 rows read, 12 events written, 0 skipped"

    unknown = _cli(dsn, "--table", "shop", "--label", "snapshot")
    assert unknown.exit_code == 2
    assert "no tracking of shop has a tracker labelled 'snapshot'; its labels: backfill, insert, renamed" in unknown.output
    missing = _cli(dsn, "--table", "nowhere", "--label", "backfill")
    assert missing.exit_code == 2 and "no tracking of table nowhere" in missing.output
    assert conn.execute("SELECT count(*) FROM shop_event").fetchone() == (24,)


def test_rows_changed_while_a_batch_passes_are_recorded_as_they_became(conn, dsn):
    conn.execute("CREATE TABLE acct (id int PRIMARY KEY, bal int NOT NULL)")
    conn.execute("INSERT INTO acct SELECT g, g FROM generate_series(1, 10) g")
    table = ph.Table("acct", (ph.Column("id", "integer"), ph.Column("bal", "integer")))
    tracking = ph.Tracking(table, (ph.InsertEvent(), ph.UpdateEvent(), ph.DeleteEvent(), ph.ManualEvent("backfill")))
    track(conn, tracking)
    with psycopg.connect(dsn) as writer:  # not autocommit: its changes stay uncommitted
        writer.execute("UPDATE acct SET bal = 500 WHERE id = 5")
        writer.execute("DELETE FROM acct WHERE id = 6")
        writer.execute("UPDATE acct SET id = 100 WHERE id = 7")
        backfilling = run_until_it_waits(conn, dsn, lambda c: ph.backfill(c, tracking, "backfill", batch_size=3))
        writer.commit()
    result = backfilling.result()
    # Rows read: the nine still there (7 is read again as 100, the last key); 5 and 100
    # are skipped, their update events record them.
    assert isinstance(result, ph.BackfillResult) and (result.rows, result.events, result.skipped) == (9, 7, 2)
    # Each row has exactly one event holding its current values; the deleted row has only
    # its delete, and reads as gone.
    assert events(conn, "acct_event", ["id", "bal"]) == [
        {"pgh_label": "update", "pgh_obj_id": 5, "id": 5, "bal": 500},
        {"pgh_label": "delete", "pgh_obj_id": 6, "id": 6, "bal": 6},
        {"pgh_label": "update", "pgh_obj_id": 100, "id": 100, "bal": 7},
        *({"pgh_label": "backfill", "pgh_obj_id": i, "id": i, "bal": i} for i in (1, 2, 3, 4, 8, 9, 10)),
    ]
    now = conn.execute("SELECT clock_timestamp()").fetchone()[0]
    as_of = [(v.values["id"], v.values["bal"]) for v in history.table_as_of(conn, [tracking], "acct", now)]
    assert as_of == conn.execute("SELECT id, bal FROM acct ORDER BY id").fetchall()


def test_each_batch_reads_only_its_key_range_through_the_primary_key(conn):
    # A batch must cost the same at the end of a large table as at its start: every
    # statement of a batch reads the batch's key range through the index, never the table.
    conn.execute("CREATE TABLE big (id integer PRIMARY KEY, v text)")
    conn.execute("INSERT INTO big SELECT g, 'x' FROM generate_series(1, 300000) g")
    conn.execute("ANALYZE big")
    tracking = _tracking(ph.Table("big", (ph.Column("id", "integer"), ph.Column("v", "text"))))
    track(conn, tracking)
    statements = [
        backfill_range_sql(tracking, ("150000",), 10_000),
        backfill_lock_sql(tracking, ("150000",), ("160000",)),
        backfill_write_sql(tracking, "backfill", [[str(i) for i in range(150_001, 160_001)]]),
    ]
    for statement in statements:
        with conn.transaction():
            plan = "\n".join(row[0] for row in conn.execute(sql.render(sql.SQL("EXPLAIN ") + statement)).fetchall())
            assert "Seq Scan on big " not in plan, plan  # the tracked table (its event table is empty)
            assert "big_pkey on big" in plan, plan
