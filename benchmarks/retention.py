"""Retention: deleting old history from a plain event table and from a partitioned one.

Layer: benchmarks. ``python -m benchmarks.retention [--events N] [--months M] [--repeats R]
[--dsn DSN] [--out DIR]``.

Two event tables of the suite's benchmark table (the default tracking: statement level, FK
context, :meth:`benchmarks.workloads.BenchDatabase.tracking`), one plain and one partitioned
by month (``partition="month"``), each filled with *events* events spread evenly over *months*
months of 2024 (one ``INSERT ... SELECT``, no trigger: only the event tables matter here).
Then :func:`pghistory_core.delete_events` removes the first half of the months, as a nightly
retention job would: the plain table deletes the rows in batches of 10,000 (keyset on
``pgh_id``), the partitioned one drops the half of its partitions that lie before the
cut-off and has nothing left to delete. Measured: the time of the call, the WAL it wrote
(``pg_current_wal_insert_lsn`` before and after) and the events removed; the two tables
alternate, first one then the other, per repeat; each repeat refills both. The plain table
also needs a ``VACUUM`` afterwards to make its space reusable (not timed here), the
partitioned one does not. Never asserted anywhere.

Writes ``results.json`` and ``report.md`` to ``benchmarks/results/retention-<UTC timestamp>/``
(or ``--out``).
"""

from __future__ import annotations

import datetime
import json
import signal
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/retention.py`: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import click
import psycopg
from rich.console import Console

import pghistory_core as ph
from benchmarks import report
from benchmarks.run import RESULTS_DIR, _server, _tune_embedded
from benchmarks.workloads import _ROW_EXPRESSIONS, UNTRACKED, BenchDatabase, Variant
from pghistory_core import render, sql
from pghistory_core.spec import DEFAULT_LEVEL

__all__ = ["KINDS", "main", "run_retention"]

Connection = psycopg.Connection[tuple[object, ...]]
UTC = datetime.timezone.utc
START = datetime.datetime(2024, 1, 1, tzinfo=UTC)
#: The two event tables compared: (name in the report, partition).
KINDS = (("plain", None), ("partitioned", "month"))


def _month(index: int) -> datetime.datetime:
    return START.replace(year=START.year + index // 12, month=index % 12 + 1)


class RetentionDatabase:
    """The benchmark schema holding one untracked copy (the events' source shape) and the
    two event tables."""

    def __init__(self, conn: Connection, months: int) -> None:
        self.conn = conn
        self.months = months
        self.bench = BenchDatabase(conn, (UNTRACKED,))
        self.trackings = {
            kind: self.bench.tracking(Variant(f"retention_{kind}", DEFAULT_LEVEL, ph.FK, partition=partition))
            for kind, partition in KINDS
        }

    def create(self) -> None:
        self.bench.create()  # the schema and the untracked copy
        for tracking in self.trackings.values():
            self.conn.execute(sql.render(render.event_table(tracking).create))
        partitioned = self.trackings["partitioned"]
        ph.create_partitions(self.conn, partitioned, since=START, now=_month(self.months - 1), ahead=0)

    def fill(self, kind: str, events: int) -> None:
        """*events* events spread evenly over the months, in pgh_id order."""
        tracking = self.trackings[kind]
        table = render.event_table_ident(tracking)
        span = _month(self.months) - START
        mirrored = [c.name for c in tracking.mirrored_columns]
        # The suite's row for key g (benchmarks.workloads), as each event's tracked columns.
        query = sql.SQL(
            "INSERT INTO {table} (pgh_created_at, pgh_label, pgh_obj_id, pgh_context_id, {columns}) "
            "SELECT {start} + (g - 1) * {step}, 'update', g, NULL, " + _ROW_EXPRESSIONS + " "
            "FROM generate_series(1, {events}) AS g"
        ).format(
            table=table,
            columns=sql.join(", ", [sql.Identifier(c) for c in mirrored]),
            start=sql.Literal(START),
            step=sql.Literal(span / events),
            events=sql.Literal(events),
        )
        with self.conn.transaction():
            self.conn.execute(sql.render(sql.SQL("DELETE FROM {}").format(table)))
            self.conn.execute(sql.render(query))
        self.conn.execute(sql.render(sql.SQL("VACUUM (ANALYZE) {}").format(table)))

    def cut_off(self) -> datetime.datetime:
        return _month(self.months // 2)

    def measure(self, kind: str) -> dict[str, float]:
        tracking = self.trackings[kind]
        table = render.event_table_ident(tracking)
        before = self.conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
        started = time.perf_counter()
        removed = ph.delete_events(self.conn, tracking, self.cut_off())
        seconds = time.perf_counter() - started
        row = self.conn.execute(
            sql.render(sql.SQL("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), {}::pg_lsn)").format(
                sql.Literal(str(before[0]) if before else "0/0")
            ))
        ).fetchone()
        left = self.conn.execute(sql.render(sql.SQL("SELECT count(*) FROM {}").format(table))).fetchone()
        # Recreate what was dropped, so the next fill finds every month's partition again.
        if tracking.partition is not None:
            ph.create_partitions(self.conn, tracking, since=START, now=_month(self.months - 1), ahead=0)
        return {
            "seconds": seconds,
            "wal_bytes": float(str(row[0])) if row else 0.0,
            "removed": float(sum(removed.values())),
            "left": float(str(left[0])) if left else 0.0,
        }

    def drop(self) -> None:
        self.bench.drop()


def _median(samples: list[dict[str, float]], key: str) -> float:
    return statistics.median(s[key] for s in samples)


def _bytes(value: float) -> str:
    return f"{value / 1e6:,.1f} MB" if value >= 1e6 else f"{value / 1e3:,.0f} kB"


def markdown(document: dict[str, object]) -> str:
    meta = document["meta"]
    assert isinstance(meta, dict)  # noqa: S101 - built below
    results = document["results"]
    assert isinstance(results, dict)  # noqa: S101
    lines = [
        "# Retention: plain vs partitioned event table",
        "",
        *report.environment(meta),
        f"- {document['events']:,} events over {document['months']} months of 2024; "
        f"`ph.delete_events` up to {document['cut_off']} (the first half); {document['repeats']} repeats, medians",
        "",
        "| event table | time | WAL written | events removed | events left |",
        "|---|---|---|---|---|",
    ]
    for kind, _ in KINDS:
        samples = results[kind]
        lines.append(
            f"| {kind} | {_median(samples, 'seconds') * 1000:,.0f} ms | {_bytes(_median(samples, 'wal_bytes'))} "
            f"| {_median(samples, 'removed'):,.0f} | {_median(samples, 'left'):,.0f} |"
        )
    lines += [
        "",
        "The plain table deletes row by row (batches of 10,000 in `pgh_id` order, one transaction "
        "each) and still needs a VACUUM to reuse the space; the partitioned table drops whole "
        "month partitions.",
        "",
    ]
    return "\n".join(lines)


def run_retention(
    events: int, months: int, repeats: int, dsn: str | None = None, out: Path | None = None, console: Console | None = None
) -> Path:
    """Measure retention on both event tables; write the results to *out* (default
    ``benchmarks/results/retention-<timestamp>``) and return that folder."""
    console = console or Console(stderr=True)
    started = datetime.datetime.now(UTC)
    out = out or RESULTS_DIR / ("retention-" + started.strftime("%Y%m%dT%H%M%SZ"))
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind, _ in KINDS}
    with _server(dsn, console) as (server_dsn, embedded), psycopg.connect(server_dsn, autocommit=True) as conn:
        if embedded:
            _tune_embedded(conn)
        conn.execute("SET synchronous_commit = off")
        meta = report.collect_meta(conn, embedded)
        database = RetentionDatabase(conn, months)
        try:
            database.create()
            for repeat in range(repeats):
                order = KINDS if repeat % 2 == 0 else KINDS[::-1]
                for kind, _ in order:
                    console.print(f"retention r{repeat + 1}/{repeats} {kind}: filling {events:,} events", highlight=False)
                    database.fill(kind, events)
                    results[kind].append(database.measure(kind))
            meta.update(started=started.isoformat(), finished=datetime.datetime.now(UTC).isoformat(),
                        synchronous_commit_off=True)
            document: dict[str, object] = {
                "meta": meta,
                "events": events,
                "months": months,
                "repeats": repeats,
                "cut_off": database.cut_off().isoformat(),
                "results": results,
            }
        finally:
            database.drop()
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    (out / "report.md").write_text(markdown(document), encoding="utf-8")
    console.print(f"results written to [bold]{out}[/bold]")
    return out


@click.command("retention")
@click.option("--events", type=click.IntRange(min=2), default=1_000_000, show_default=True, help="Events per table.")
@click.option("--months", type=click.IntRange(min=2, max=120), default=12, show_default=True,
              help="Months the events span; the first half is removed.")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True, help="Recorded repeats (medians).")
@click.option("--dsn", metavar="DSN", default=None, help="Database to run on (default: a throwaway embedded server).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Results folder (default: benchmarks/results/retention-<timestamp>).")
def main(events: int, months: int, repeats: int, dsn: str | None, out: Path | None) -> None:
    """Compare retention (delete_events of the older half) on a plain and a month-partitioned event table."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    run_retention(events, months, repeats, dsn=dsn, out=out)


if __name__ == "__main__":
    main()
