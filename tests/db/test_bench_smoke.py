"""The benchmark suite runs end to end and reports every workload and variant.

Layer: tests (database tier). Runs ``--smoke`` (10 rows, 1 repeat, loops of 20) against a
fresh test database, through ``pghistory bench``. Asserts what a user of the report relies
on: the files exist, every workload/variant is present, tracked variants recorded events,
the reads section holds its four measurements and their index-use flags;
without a peer venv the peers are reported as not installed (never as fast) and the peer
targets as not measured; this project's ORM adapters, when installed, recorded every event.
Never asserts on timings (benchmarks are never assertions).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import psycopg
from click.testing import CliRunner

import pytest

import pghistory_core as ph
from benchmarks import workloads
from benchmarks.orm import PEERS_PYTHON_ENV, RUNNERS, run_all, run_runner
from benchmarks.peers import harness
from benchmarks.reads import READS
from benchmarks.report import headline
from benchmarks.run import MODES, _schedule
from benchmarks.workloads import BULK_WORKLOADS, SCHEMA, SINGLE_WORKLOADS, VARIANTS, BenchDatabase, single_statement
from pghistory_cli.main import cli
from pghistory_core import sql, transport


def test_smoke_run_writes_every_workload_and_variant(dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PEERS_PYTHON_ENV, raising=False)  # CI has no peer venv: peers are skipped
    out = tmp_path / "results"
    result = CliRunner().invoke(cli, ["bench", "--smoke", "--dsn", dsn, "--out", str(out)])
    assert result.exit_code == 0, result.output
    # Not a terminal here: progress comes as plain lines while it runs, not only at the end.
    assert re.search(r"^\[0m\d\ds\] bulk_insert +10 rows warm-up \(step 1 of \d+\)$", result.output, re.M), result.output

    for name in ("results.json", "report.md", "bulk_insert.png", "bulk_update.png"):
        assert (out / name).is_file(), name
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert document["mode"] == "smoke"
    assert document["meta"]["postgres"]["version"]
    assert {"version"} <= set(document["meta"]["python"])
    assert document["meta"]["machine"]["cpu_count"]

    found = {(m["workload"], m["variant"]): m for m in document["measurements"]}
    for workload in (*BULK_WORKLOADS, *SINGLE_WORKLOADS):
        for variant in VARIANTS:
            if not workload.runs(variant):
                continue
            entry = found.get((workload.name, variant.name))
            assert entry is not None, (workload.name, variant.name)
            assert len(entry["samples"]["seconds"]) == 1
            if variant.tracked:
                expected = int(workload.events_per_row * entry["size"])
                assert entry["events_median"] == expected, (workload.name, variant.name, entry["events_median"])
                assert entry["event_bytes_per_event"] > 0
            else:
                assert entry["events_median"] == 0

    report = (out / "report.md").read_text(encoding="utf-8")
    for workload in BULK_WORKLOADS:
        assert workload.title in report
    assert "## Targets" in report and "not measured at this size" in report
    # The README's tables, rendered from the same document.
    readme = headline(document)
    assert "| 10 rows, ratio to untracked | row level, FK context | statement level, FK context (default) |" in readme
    for workload in (*BULK_WORKLOADS, *SINGLE_WORKLOADS):
        assert workload.title in readme
    assert readme.count("| bulk INSERT, 100k rows, FK context | ") == 1 and "| target | measured | status |" in readme

    # Peers: skipped with a note, in the JSON, the report and the peer targets.
    runners = {r["name"]: r for r in document["orm"]}
    assert set(runners) == {r.name for r in RUNNERS}
    for runner in RUNNERS:
        entry = runners[runner.name]
        if runner.peer:
            assert entry["status"].startswith("not installed"), entry["status"]
            assert entry["measurements"] == []
            assert f"| {runner.name} |" in report
        elif entry["status"] == "measured":
            # This project's adapters (installed in CI): every tracked variant recorded every event,
            # and each appears in the report's tables.
            for m in entry["measurements"]:
                assert m["events_median"] == m["events_expected"], (runner.name, m["workload"], m["variant"])
            for variant in entry["variants"]:
                if variant["baseline"] and not variant["probe"]:
                    assert f"{runner.name} {variant['name']}" in report, (runner.name, variant["name"])
        else:
            assert entry["status"].startswith(("not installed", "not run")), entry["status"]
    assert "## Peers and adapters" in report and "not installed: no peer venv given" in report
    peer_targets = [t for t in document["targets"] if "django-pghistory" in t["target"]]
    assert len(peer_targets) == 2
    assert all(t["status"] == "not measured: django-pghistory not installed: no peer venv given "
               f"(--peers-python or {PEERS_PYTHON_ENV}; see benchmarks/peers/requirements.txt)" for t in peer_targets)
    # Reads: the four measurements, each with its index-use flag (recorded, never asserted true).
    reads = document["reads"]
    assert reads["events"] == 1_000
    assert [m["read"] for m in reads["measurements"]] == [name for name, _ in READS]
    for m in reads["measurements"]:
        assert m["median_ms"] > 0 and len(m["samples_seconds"]) == reads["repeats"]
        assert isinstance(m["index_only"], bool)
    assert "## Reading history" in report

    # The Django adapter's runner measures both paths of the single-row target (the target
    # itself needs the peer too).
    django = runners["pghistory-django"]
    if django["status"] == "measured":
        measured = {(m["workload"], m["variant"]) for m in django["measurements"]}
        assert {("single_update", "sql"), ("single_update", "sql_untracked"), ("bulk_update", "orm")} <= measured
        assert "Single-row UPDATE on Django's cursor" in report
        # Its context-transport probe (untracked copy, context on) runs the single-row loops
        # only, expects no events, and is reported in that table, not as a tracked column.
        probes = [m for m in django["measurements"] if m["variant"] == "sql_ctx"]
        assert {m["workload"] for m in probes} == {"single_insert", "single_update", "single_delete"}
        assert all(m["events_expected"] == 0 == m["events_median"] and m["ratio"] > 0 for m in probes)
        assert "pghistory-django sql_ctx" not in report
        fair = report.split("Single-row UPDATE on Django's cursor", 1)[1]
        update = next(m for m in probes if m["workload"] == "single_update")
        assert f"{update['median_seconds'] * 1e6:.0f} us (" in fair
    # Each adapter is also measured at row level through its statement path (and recorded
    # every event, checked above).
    row_level = {"pghistory-django": {"orm_row", "sql_row"}, "pghistory-sqlalchemy": {"core_row"},
                 "pghistory-peewee": {"tracked_row"}}
    for name, variants in row_level.items():
        if runners[name]["status"] == "measured":
            assert variants <= {v["name"] for v in runners[name]["variants"]}, name
            assert variants <= {m["variant"] for m in runners[name]["measurements"]}, name

    # The suite drops its schemas (its own and each ORM runner's, everything in them) and
    # creates no database.
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE %s", (SCHEMA + "%",)).fetchone()
        assert row == (0,)
        row = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s", (SCHEMA + "%",)).fetchone()
        assert row == (0,)
        # The Django adapter's runner kept everything in its schema: nothing left in public.
        row = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relname LIKE 'pghistory%'"
        ).fetchone()
        assert row == (0,)


def test_paths_writing_one_object_at_a_time_stop_at_their_own_size(dsn: str) -> None:
    """``--per-object-max-rows``: the SQLAlchemy Session (a unit of work) and its untracked
    baseline stop there; Core statements (one statement for all rows) go on to every size."""
    pytest.importorskip("pghistory_sqlalchemy")
    runner = next(r for r in RUNNERS if r.name == "pghistory-sqlalchemy")
    per_row = {w.name: w.events_per_row for w in (*BULK_WORKLOADS, *SINGLE_WORKLOADS)}
    result = run_runner(runner, sys.executable, dsn, [10, 30], 5, 1, ["bulk_update"], per_row, per_object_max_rows=10)
    assert result["status"] == "measured", result["status"]
    sizes = {(m["variant"], m["size"]) for m in result["measurements"]}
    assert sizes == {("session", 10), ("session_untracked", 10), ("core", 10), ("core", 30), ("core_row", 10),
                     ("core_row", 30), ("core_untracked", 10), ("core_untracked", 30)}
    per_object = {v["name"]: v["per_object"] for v in result["variants"]}
    assert per_object == {"session": True, "session_untracked": True, "core": False, "core_row": False,
                          "core_untracked": False}
    # What was measured is still complete: every event of every measured write.
    for m in result["measurements"]:
        assert m["events_median"] == m["events_expected"], m


def test_runners_alternate_their_single_row_repeats(dsn: str) -> None:
    """Bulk workloads run once per runner; single-row loops run one repeat per run of a
    runner's script, alternating between runners, and the samples of those runs are merged:
    every variant has one sample per repeat and every event recorded."""
    pytest.importorskip("pghistory_sqlalchemy")
    pytest.importorskip("pghistory_peewee")
    chosen = [r for r in RUNNERS if r.name in ("pghistory-sqlalchemy", "pghistory-peewee")]
    workloads = ["bulk_insert", "single_update"]
    per_row = {w.name: w.events_per_row for w in (*BULK_WORKLOADS, *SINGLE_WORKLOADS)}
    order: list[str] = []

    def progress(name: str, done: int, total: int, label: str) -> None:
        assert 0 <= done <= total, (name, done, total)
        if not order or order[-1] != name:
            order.append(name)

    results = run_all(None, dsn, [10], 60, 2, workloads, per_row, progress, runners=chosen)
    assert order == ["pghistory-sqlalchemy", "pghistory-peewee"] * 3  # bulk, then two single-row rounds
    assert [r["name"] for r in results] == [r.name for r in chosen]
    for result in results:
        assert result["status"] == "measured", result["status"]
        assert {m["workload"] for m in result["measurements"]} == set(workloads)
        for m in result["measurements"]:
            assert len(m["samples"]["seconds"]) == 2, (result["name"], m["workload"], m["variant"])
            assert m["events_median"] == m["events_expected"], (result["name"], m)


def test_runners_option_selects_peers_and_adapters_by_name(dsn: str, tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = CliRunner().invoke(cli, ["bench", "--smoke", "--dsn", dsn, "--out", str(out), "--only", "bulk_update",
                                      "--runners", "pghistory-peewee", "--orm-max-rows", "10"])
    assert result.exit_code == 0, result.output
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert [r["name"] for r in document["orm"]] == ["pghistory-peewee"]
    # The results record the ORM size limit the run used, not the mode's default.
    assert document["meta"]["mode"]["orm_max_rows"] == 10 != MODES["smoke"].orm_max_rows
    # The peer targets say why they were not measured.
    assert {t["status"] for t in document["targets"] if "django-pghistory" in t["target"]} == {
        "not measured: django-pghistory not run"
    }

    bad = CliRunner().invoke(cli, ["bench", "--smoke", "--dsn", dsn, "--runners", "django-pghistory,nope"])
    assert bad.exit_code == 2
    assert "unknown runner(s) ['nope']" in bad.output and "django-pghistory" in bad.output


def test_full_mode_stops_the_pairing_experiments_at_100k_rows() -> None:
    """The experimental key-join UPDATE functions can be planned as a nested loop once a
    generic plan is cached; the full schedule runs them to 100k rows, everything else to 1M."""
    largest: dict[tuple[str, str], int] = {}
    repeats: dict[tuple[str, str, int], int] = {}
    for workload, size, repeat, variant in _schedule(MODES["full"], VARIANTS):
        key = (workload.name, variant.name)
        largest[key] = max(largest.get(key, 0), size)
        if repeat >= 0:
            repeats[(*key, size)] = repeats.get((*key, size), 0) + 1
    assert largest[("bulk_update", "stmt_fk_pkjoin")] == largest[("bulk_update", "stmt_fk_noguard")] == 100_000
    assert largest[("bulk_update", "stmt_fk")] == largest[("bulk_delete", "row_fk")] == 1_000_000
    assert repeats[("bulk_update", "stmt_fk_pkjoin", 100_000)] == repeats[("bulk_update", "stmt_fk", 1_000_000)] == 5
    assert ("bulk_insert", "stmt_fk_pkjoin") not in largest  # the experiments are UPDATE-only


def test_single_row_loops_interleave_every_variant_in_chunks(dsn: str) -> None:
    """One round of the single-row loop runs every key on every copy, chunk by chunk, and
    gives each variant the WAL its own chunks wrote (a tracked copy writes its events too)."""
    chosen = tuple(v for v in VARIANTS if v.name in ("untracked", "untracked_ctx", "untracked_ctx_stmt", "untracked_ctx_flush", "row_fk", "stmt_fk", "stmt_off"))
    insert = next(w for w in SINGLE_WORKLOADS if w.name == "single_insert")
    update = next(w for w in SINGLE_WORKLOADS if w.name == "single_update")
    with psycopg.connect(dsn, autocommit=True) as conn:
        database = BenchDatabase(conn, chosen)
        database.create()
        try:
            # 120 keys in chunks of 50: two full chunks and a partial one.
            samples = dict(zip([v.name for v in chosen], database.measure_single_round(insert, chosen, 120, chunk=50)))
            for variant in chosen:
                table = sql.Identifier(SCHEMA, variant.table)
                rows = conn.execute(sql.render(sql.SQL("SELECT count(*), max(id) FROM {}").format(table))).fetchone()
                assert rows == (120, 120), variant.name
                assert samples[variant.name].events == (120 if variant.tracked else 0), variant.name
                assert samples[variant.name].seconds > 0
            assert 0 < samples["untracked"].wal_bytes < samples["stmt_off"].wal_bytes
            assert samples["stmt_off"].wal_bytes < samples["stmt_fk"].wal_bytes  # the context rows
            # Each write carried a fresh context in its comment: 120 events, 120 contexts.
            for name in ("row_fk", "stmt_fk"):
                event_table = sql.Identifier(SCHEMA, next(v for v in chosen if v.name == name).event_table)
                query = sql.SQL("SELECT count(DISTINCT pgh_context_id), count(*) FILTER (WHERE pgh_context_id IS NULL) FROM {}")
                assert conn.execute(sql.render(query.format(event_table))).fetchone() == (120, 0), name

            samples = dict(zip([v.name for v in chosen], database.measure_single_round(update, chosen, 120, chunk=50)))
            for variant in chosen:
                query = sql.SQL("SELECT count(*) FROM {} WHERE qty = mod(id, 1000) + 1").format(sql.Identifier(SCHEMA, variant.table))
                changed = conn.execute(sql.render(query)).fetchone()
                assert changed == (120,), variant.name
                assert samples[variant.name].events == (120 if variant.tracked else 0), variant.name
        finally:
            database.drop()


def test_one_flush_probe_sends_context_and_write_in_one_implicit_transaction(dsn: str) -> None:
    """The libpq pipeline of the one-flush probe: the write sees the context (its event
    carries the context id and a context row exists), nothing stays set afterwards, and a
    failing write raises with the server's message and leaves the connection usable."""
    stmt_fk = next(v for v in VARIANTS if v.name == "stmt_fk")
    insert = next(w for w in SINGLE_WORKLOADS if w.name == "single_insert")
    ident = sql.Identifier(SCHEMA, stmt_fk.table)
    with psycopg.connect(dsn, autocommit=True) as conn:
        database = BenchDatabase(conn, (stmt_fk,))
        database.create()
        try:
            with ph.context(source="one-flush") as active:
                statement = transport.context_statement(active)
            workloads._prepare(conn.pgconn, b"one_flush_insert", single_statement(insert, ident, "$1").encode())
            workloads._one_flush(conn.pgconn, statement.encode(), b"one_flush_insert", b"7")
            events = sql.SQL("SELECT id, pgh_context_id FROM {}").format(sql.Identifier(SCHEMA, stmt_fk.event_table))
            assert conn.execute(sql.render(events)).fetchall() == [(7, active.id)]
            contexts = sql.SQL("SELECT metadata FROM {} WHERE id = %s").format(sql.Identifier(SCHEMA, "pghistory_context"))
            metadata = conn.execute(sql.render(contexts), (active.id,)).fetchone()
            assert metadata == ({"source": "one-flush"},)
            assert conn.execute("SELECT current_setting('pghistory.context_id', true)").fetchone() in {("",), (None,)}
            with pytest.raises(RuntimeError, match="duplicate key value"):
                workloads._one_flush(conn.pgconn, statement.encode(), b"one_flush_insert", b"7")
            assert conn.execute(sql.render(sql.SQL("SELECT count(*) FROM {}").format(ident))).fetchone() == (1,)
        finally:
            database.drop()


def test_runner_single_row_loops_run_interleaved_across_chunks(dsn: str) -> None:
    """An ORM runner's single-row loops run interleaved in chunks (120 writes: three chunks).
    The SQLAlchemy runner's Session and Core paths write the same untracked table, so they
    take turns; every write of every loop is still made and recorded once."""
    pytest.importorskip("pghistory_sqlalchemy")
    runner = next(r for r in RUNNERS if r.name == "pghistory-sqlalchemy")
    names = ["single_insert", "single_update", "single_delete"]
    per_row = {w.name: w.events_per_row for w in SINGLE_WORKLOADS}
    result = run_runner(runner, sys.executable, dsn, [10], 120, 1, names, per_row)
    assert result["status"] == "measured", result["status"]
    measured = {(m["workload"], m["variant"]) for m in result["measurements"]}
    variants = {"session", "session_untracked", "core", "core_row", "core_untracked"}
    assert measured == {(w, v) for w in names for v in variants}
    for m in result["measurements"]:
        assert m["size"] == 120
        assert m["events_median"] == m["events_expected"], m


def test_interleaved_groups_never_share_a_table() -> None:
    """Variants writing the same table take turns; a tracked variant stays with its baseline."""
    def variant(name: str, table: str, baseline: str | None = None) -> harness.Variant:
        return harness.Variant(name, name, table, lambda workload, size: lambda: None, baseline)

    chosen = [
        variant("core_untracked", "item_plain"),
        variant("session", "item_tracked", "session_untracked"),
        variant("core", "item_core", "core_untracked"),
        variant("session_untracked", "item_plain"),
        variant("core_row", "item_core_row", "core_untracked"),
        variant("self", "item_same"),
        variant("self_tracked", "item_same", "self"),
    ]
    groups = [[v.name for v in group] for group in harness._interleavable(chosen)]
    assert groups == [["core_untracked", "core", "core_row"], ["session", "session_untracked"], ["self"], ["self_tracked"]]
