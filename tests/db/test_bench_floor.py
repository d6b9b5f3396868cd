"""The floor measurement (``python -m benchmarks.floor``) runs end to end and reports every step.

Layer: tests (database tier). A smoke run (50 rows, 1 repeat) against a fresh test database.
Asserts what a reader of the report relies on: both files exist, every event-table step and
every untracked reference is measured (a positive median, every event written), each step's
table carries what its title says (read back from the catalog), the last step is the core's
own DDL unchanged, the report lists every step and a floor per step and workload, and the
schema is dropped at the end. Never asserts on timings (benchmarks are never assertions).
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
from click.testing import CliRunner

from benchmarks.floor import REFERENCES, STEPS, main
from benchmarks.workloads import SCHEMA

ROWS = 50


def test_floor_smoke_run_reports_every_step(dsn: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--rows", str(ROWS), "--repeats", "1", "--dsn", dsn, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output

    document = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert document["rows"] == ROWS and document["meta"]["postgres"]["version"]
    measured = {m["variant"]: m for m in document["measurements"]}
    assert document["steps"] == [step.name for step in STEPS]
    assert len(document["references"]) == len(REFERENCES)
    assert set(measured) == {*document["steps"], *document["references"]}
    for name, entry in measured.items():
        assert len(entry["samples"]["seconds"]) == 1, name
        assert entry["median_seconds"] > 0, name
    for step in STEPS:
        entry = measured[step.name]
        assert entry["events_median"] == ROWS, step.name
        carries = entry["carries"]
        assert (carries["identity"], carries["primary_key"], len(carries["indexes"])) == (
            step.identity, step.primary_key, len(step.indexed)
        ), step.name
    # The last step is the core's event table as generated: nothing dropped, only the suite's
    # storage settings added.
    assert len(measured[STEPS[-1].name]["ddl"]) == 2
    assert len(document["floors"]) == len(STEPS) * len(REFERENCES)
    assert all(floor["ratio"] > 1 for floor in document["floors"])

    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert f"## Writing {ROWS} event rows, no trigger" in report
    assert "## The floor" in report
    for number, step in enumerate(STEPS, 1):
        # Once in the measurement table, once in the floor table.
        assert report.count(f"| {number}. {step.title} |") == 2, step.title
    for workload in REFERENCES:
        assert workload.title in report and workload.name in report

    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (SCHEMA,)).fetchone()
        assert row == (0,)
