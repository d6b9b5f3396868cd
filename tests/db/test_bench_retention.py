"""The retention benchmark (``python -m benchmarks.retention``) runs end to end.

Layer: tests (database tier). A smoke run (600 events over 4 months, 1 repeat) against a
fresh test database. Asserts what a reader relies on: both files exist; each event table lost
exactly the events of the first two months (the same number from each, so the two
rows of the report compare the same work) and kept the rest; the report has a row for each; the schema is dropped at the end.
Never asserts on timings or WAL (benchmarks are never assertions).
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
from click.testing import CliRunner

from benchmarks.retention import KINDS, main
from benchmarks.workloads import SCHEMA


def test_retention_smoke_run(dsn: str, tmp_path: Path) -> None:
    args = ["--events", "600", "--months", "4", "--repeats", "1", "--dsn", dsn, "--out", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert document["cut_off"] == "2024-03-01T00:00:00+00:00"
    removed = set()
    for kind, _ in KINDS:
        (sample,) = document["results"][kind]
        assert sample["removed"] + sample["left"] == 600 and 250 < sample["removed"] < 350, kind
        assert sample["seconds"] > 0 and sample["wal_bytes"] >= 0, kind
        removed.add(sample["removed"])
    assert len(removed) == 1  # the same events (January and February) went from both tables
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| plain |" in text and "| partitioned |" in text
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT to_regnamespace(%s)", (SCHEMA,)).fetchone() == (None,)
