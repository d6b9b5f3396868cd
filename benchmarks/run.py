"""Run the benchmark suite: ``python -m benchmarks``, ``python benchmarks/run.py`` or ``pghistory bench``.

Layer: benchmarks. Picks the mode (sizes, repeats, loop length), starts the embedded server
unless ``--dsn`` is given, creates one copy of the table per variant, and runs the schedule:
for every workload and size, each repeat measures every variant once, in an order rotated
per repeat, so drift (caches, checkpoints, a noisy neighbour) affects all variants alike
(single-row loops: all variants of a repeat interleaved in chunks of 50 writes).
Then the ORM runners (:mod:`benchmarks.orm`: peers from their own venv, this project's
adapters), and :mod:`benchmarks.report` writes ``results.json``, ``report.md`` and the plots.

Then the reads (:mod:`benchmarks.reads`: one object's history and pages of the cross-table
events query, on 1k/100k/1M events in smoke/quick/full mode).

Modes: ``--quick`` (1/100/10k rows, 3 repeats, loops of 100; under two minutes, a smoke run
for CI that checks the suite works, never its numbers), full (1 row to 1M rows, 5 repeats,
loops of 2,000) and ``--smoke`` (10 rows, 1 repeat, loops of 20; for the test suite).
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/run.py`: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import click
import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from benchmarks import orm, pairing, reads, report
from benchmarks.peers.harness import WARMUP, rotation
from benchmarks.workloads import (
    BULK_WORKLOADS,
    SINGLE_WORKLOADS,
    VARIANTS,
    BenchDatabase,
    Sample,
    Variant,
    Workload,
    render_cost,
)

__all__ = ["Mode", "MODES", "run_suite", "main"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"


#: ORM bulk workloads above this many rows are skipped by default (full mode).
ORM_MAX_ROWS = 100_000
#: ... and above this many for the paths that write one object at a time in Python (a unit of
#: work, per-object signals: simple-history's delete, the SQLAlchemy Session of Continuum and
#: of this project). At 100k rows Continuum's unit of work alone would take about 2.5 hours
#: of a full run here (6 rounds of 4 workloads, about 6 minutes each).
PER_OBJECT_MAX_ROWS = 10_000


@dataclasses.dataclass(frozen=True)
class Mode:
    name: str
    sizes: tuple[int, ...]
    repeats: int
    loops: int
    #: Largest bulk size for peers and ORM adapters (see ORM_MAX_ROWS), and for their
    #: one-object-at-a-time paths (see PER_OBJECT_MAX_ROWS).
    orm_max_rows: int = ORM_MAX_ROWS
    per_object_max_rows: int = PER_OBJECT_MAX_ROWS
    #: Events in the two event tables the reads are measured on (:mod:`benchmarks.reads`).
    read_events: int = 1_000_000
    read_repeats: int = 10

    def limited(self, max_rows: int | None, repeats: int | None, loops: int | None) -> Mode:
        sizes = tuple(s for s in self.sizes if max_rows is None or s <= max_rows) or self.sizes[:1]
        read_events = self.read_events if max_rows is None else max(1_000, min(self.read_events, max_rows))
        return dataclasses.replace(
            self, sizes=sizes, repeats=repeats or self.repeats, loops=loops or self.loops, read_events=read_events
        )


MODES = {
    "full": Mode("full", (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000), 5, 2_000),
    "quick": Mode("quick", (1, 100, 10_000), 3, 100, orm_max_rows=100, per_object_max_rows=100, read_events=100_000,
                  read_repeats=7),
    "smoke": Mode("smoke", (10,), 1, 20, read_events=1_000, read_repeats=3),
}

Results = dict[tuple[str, int, str], list[Sample]]


@contextmanager
def _server(dsn: str | None, console: Console) -> Iterator[tuple[str, bool]]:
    if dsn is not None:
        yield dsn, False
        return
    from pghistory_cli.embedded import start_embedded

    console.print("[dim]starting the embedded Postgres server...[/dim]")
    server = start_embedded()
    try:
        yield server.dsn, True
    finally:
        server.stop()


def _tune_embedded(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    # A throwaway server only: a larger max_wal_size keeps checkpoints (and the full-page
    # writes after them) from landing in the middle of one variant's 1M-row measurement.
    conn.execute("ALTER SYSTEM SET max_wal_size = '8GB'")
    conn.execute("SELECT pg_reload_conf()")


class _Lines:
    """Progress as plain lines when the console is not a terminal (a CI log, a file):
    rich draws its bars only at the end there, and a full run would print nothing for
    hours. One line each time *key* changes (a workload, size and round; not every
    variant), with the time elapsed."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._start = time.monotonic()
        self._last: object = None

    def note(self, key: object, text: str) -> None:
        if self._console.is_terminal or key == self._last:
            return
        self._last = key
        elapsed = int(time.monotonic() - self._start)
        self._console.print(f"[{elapsed // 60}m{elapsed % 60:02d}s] {text}", markup=False, highlight=False)


#: The pairing experiments (``stmt_fk_pkjoin``, ``stmt_fk_noguard``) stop at this size. Their
#: key join is an inner join: once PL/pgSQL has cached a generic plan made at the smaller
#: sizes it can run as a nested loop over the transition tables (the quadratic case in the
#: tuning log, which the generated full join cannot hit); at 1M rows one such UPDATE ran for
#: over 18 minutes before it was stopped.
PAIRING_MAX_ROWS = 100_000


def _schedule(
    mode: Mode, variants: tuple[Variant, ...], only: frozenset[str] | None = None
) -> Iterator[tuple[Workload, int, int, Variant]]:
    plans: list[tuple[Workload, tuple[int, ...]]] = [(w, mode.sizes) for w in BULK_WORKLOADS]
    plans += [(w, (mode.loops,)) for w in SINGLE_WORKLOADS]
    plans = [(w, sizes) for w, sizes in plans if only is None or w.name in only]
    for workload, sizes in plans:
        chosen = [v for v in variants if workload.runs(v)]
        for size, repeat, variant in rotation(chosen, sizes, mode.repeats):
            if variant.pairing is None or size <= PAIRING_MAX_ROWS:
                yield workload, size, repeat, variant


def _rounds(
    steps: list[tuple[Workload, int, int, Variant]],
) -> Iterator[tuple[Workload, int, int, tuple[Variant, ...]]]:
    """The schedule as measurements: one per step for bulk workloads; for single-row
    workloads one per round (workload, loop length, repeat) holding every variant in the
    round's rotated order, measured interleaved (``measure_single_round``)."""
    for (workload, size, repeat), group in itertools.groupby(steps, key=lambda step: step[:3]):
        chosen = tuple(step[3] for step in group)
        if workload.bulk:
            for variant in chosen:
                yield workload, size, repeat, (variant,)
        else:
            yield workload, size, repeat, chosen


def run_suite(
    mode: Mode,
    dsn: str | None = None,
    out: Path | None = None,
    console: Console | None = None,
    pairings: bool = True,
    sync_commit: bool = False,
    only: frozenset[str] | None = None,
    orm_runs: bool = True,
    peers_python: str | None = None,
    orm_max_rows: int = ORM_MAX_ROWS,
    runners: tuple[orm.Runner, ...] = orm.RUNNERS,
) -> Path:
    """Run *mode* against *dsn* (the embedded server when None); write the results to *out*
    (default ``benchmarks/results/<timestamp>``) and return that folder.

    Unless *sync_commit*, the session runs with ``synchronous_commit = off``: with it on, every
    commit waits for a disk flush (milliseconds on many disks) that costs the same with or
    without tracking, and would dilute every small-write ratio towards 1.0. Off measures
    the database work tracking adds; WAL volume is reported separately.

    Then, unless not *orm_runs*, the ORM runners (:mod:`benchmarks.orm`): peers from the
    venv *peers_python* (else ``$PGHISTORY_BENCH_PEERS_PYTHON``; skipped as "not installed"
    without one), this project's adapters when installed (*runners*: all by default); bulk
    sizes up to *orm_max_rows*, and up to ``mode.per_object_max_rows`` for the paths that
    write one object at a time."""
    console = console or Console(stderr=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    out = out or RESULTS_DIR / started.strftime("%Y%m%dT%H%M%SZ")
    variants = tuple(v for v in VARIANTS if v.pairing is None or (pairings and pairing.available()))
    results: Results = {}
    with _server(dsn, console) as (server_dsn, embedded):
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            if embedded:
                _tune_embedded(conn)
            if not sync_commit:
                conn.execute("SET synchronous_commit = off")
            meta = report.collect_meta(conn, embedded)
            database = BenchDatabase(conn, variants)
            database.create()
            try:
                steps = list(_schedule(mode, variants, only))
                columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
                with Progress(*columns, console=console, transient=False) as progress:
                    task = progress.add_task("benchmarks", total=len(steps))
                    lines = _Lines(console)
                    current: Workload | None = None
                    done = 0
                    for workload, size, repeat, chosen in _rounds(steps):
                        if workload is not current:
                            database.truncate()  # fresh files: no empty pages from the last workload
                            current = workload
                        label = f"{workload.name} {size:>7} rows" if workload.bulk else f"{workload.name} x{size}"
                        round_ = "warm-up" if repeat == WARMUP else f"r{repeat + 1}/{mode.repeats}"
                        names = chosen[0].name if len(chosen) == 1 else f"{len(chosen)} variants interleaved"
                        progress.update(task, description=f"{label} {round_:>7} {names:<18}")
                        lines.note((workload.name, size, repeat), f"{label} {round_} (step {done + 1} of {len(steps)})")
                        if workload.bulk:
                            samples = [database.measure_bulk(workload, chosen[0], size)]
                        else:
                            samples = database.measure_single_round(workload, chosen, size)
                        if repeat != WARMUP:
                            for variant, sample in zip(chosen, samples):
                                results.setdefault((workload.name, size, variant.name), []).append(sample)
                        done += len(chosen)
                        progress.advance(task, len(chosen))
            finally:
                database.drop()
            read_results = _reads(mode, conn, console) if only is None or READS_NAME in only else None
        orm_only = None if only is None else only - {READS_NAME}
        orm_results = (
            _orm(mode, server_dsn, console, orm_only, peers_python, orm_max_rows, runners)
            if orm_runs and orm_only != frozenset()
            else []
        )
    finished = datetime.datetime.now(datetime.timezone.utc)
    meta.update(started=started.isoformat(), finished=finished.isoformat(), mode=dataclasses.asdict(mode),
                synchronous_commit_off=not sync_commit, client_context_cost=render_cost())
    document = report.build(meta, mode.name, variants, results, orm_results, read_results)
    report.write(document, out)
    console.print(f"results written to [bold]{out}[/bold]")
    return out


#: The name ``--only`` knows the read measurements by.
READS_NAME = "reads"


def _reads(mode: Mode, conn: psycopg.Connection[tuple[object, ...]], console: Console) -> dict[str, object]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("reads", total=1)
        lines = _Lines(console)

        def step(done: int, total: int, label: str) -> None:
            progress.update(task, completed=done, total=total, description=f"{label:<60}")
            lines.note(label, f"reads: {label} ({done} of {total})")

        return reads.run(conn, mode.read_events, mode.read_repeats, step)


def _orm(
    mode: Mode, dsn: str, console: Console, only: frozenset[str] | None, peers_python: str | None, max_rows: int,
    runners: tuple[orm.Runner, ...],
) -> list[dict[str, object]]:
    workloads = [w for w in (*BULK_WORKLOADS, *SINGLE_WORKLOADS) if only is None or w.name in only]
    sizes = [s for s in mode.sizes if s <= max_rows] or list(mode.sizes[:1])
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        tasks: dict[str, TaskID] = {}
        lines = _Lines(console)

        def step(name: str, done: int, total: int, label: str) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=total)
            progress.update(tasks[name], completed=done, total=total, description=f"{name:<22} {label:<40}")
            lines.note((name, label), f"{name}: {label} ({done} of {total})")

        found = orm.run_all(peers_python, dsn, sizes, mode.loops, mode.repeats, [w.name for w in workloads],
                            {w.name: w.events_per_row for w in workloads}, step, runners=runners,
                            per_object_max_rows=mode.per_object_max_rows)
    for entry in found:
        if entry["status"] != "measured":
            console.print(f"[dim]{entry['name']}: {entry['status']}[/dim]")
    return found


@click.command("bench")
@click.option("--quick", "mode_name", flag_value="quick", help="1/100/10k rows, 3 repeats (under two minutes).")
@click.option("--smoke", "mode_name", flag_value="smoke", hidden=True, help="10 rows, 1 repeat (tests).")
@click.option("--full", "mode_name", flag_value="full", default=True, help="1 to 1M rows, 5 repeats (default).")
@click.option("--dsn", metavar="DSN", default=None, help="Database to run on (default: a throwaway embedded server).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Results folder (default: benchmarks/results/<timestamp>).")
@click.option("--max-rows", type=click.IntRange(min=1), default=None, help="Skip bulk sizes above this.")
@click.option("--repeats", type=click.IntRange(min=1), default=None, help="Override the mode's repeat count.")
@click.option("--loops", type=click.IntRange(min=1), default=None, help="Override the single-row loop length.")
@click.option("--no-pairing", is_flag=True, help="Skip the experimental statement-level UPDATE variants.")
@click.option("--only", metavar="WORKLOAD[,...]", default=None,
              help="Run only these workloads (" + ", ".join(w.name for w in (*BULK_WORKLOADS, *SINGLE_WORKLOADS)) + ", reads).")
@click.option("--peers-python", metavar="PATH", default=None,
              help=f"Python of the venv holding the peer libraries (default: ${orm.PEERS_PYTHON_ENV}; "
                   f"install it from {orm.REQUIREMENTS}). Without one, peers are reported as not installed.")
@click.option("--no-orm", is_flag=True, help="Skip peers and this project's ORM adapters.")
@click.option("--runners", metavar="NAME[,...]", default=None,
              help="Run only these peers/adapters (" + ", ".join(r.name for r in orm.RUNNERS) + ").")
@click.option("--orm-max-rows", type=click.IntRange(min=1), default=None,
              help="Skip ORM (peer and adapter) bulk sizes above this (default: 100 in quick mode, "
                   f"{ORM_MAX_ROWS} otherwise).")
@click.option("--per-object-max-rows", type=click.IntRange(min=1), default=None,
              help="Skip bulk sizes above this for ORM paths that write one object at a time in Python "
                   f"(default: 100 in quick mode, {PER_OBJECT_MAX_ROWS} otherwise).")
@click.option("--sync-commit", is_flag=True,
              help="Keep the server's synchronous_commit (default: off for the session; see the report).")
def main(
    mode_name: str, dsn: str | None, out: Path | None, max_rows: int | None, repeats: int | None,
    loops: int | None, no_pairing: bool, only: str | None, sync_commit: bool, peers_python: str | None,
    no_orm: bool, orm_max_rows: int | None, per_object_max_rows: int | None, runners: str | None,
) -> None:
    """Benchmark tracked writes against untracked ones: row vs statement level, each context mode.

    Writes results.json, report.md and PNG plots. Ratios are medians over repeats, all
    variants interleaved; they are never asserted anywhere.
    """
    mode = MODES[mode_name].limited(max_rows, repeats, loops)
    if orm_max_rows is None:
        orm_max_rows = mode.orm_max_rows
    # The mode goes into results.json as run: record the limit that was used, not the default.
    mode = dataclasses.replace(mode, orm_max_rows=orm_max_rows)
    if per_object_max_rows is not None:
        mode = dataclasses.replace(mode, per_object_max_rows=per_object_max_rows)
    # SIGTERM (e.g. `kill` on a background run) unwinds like Ctrl-C, so the embedded server
    # is stopped and its data directory removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    names = {w.name for w in (*BULK_WORKLOADS, *SINGLE_WORKLOADS)} | {READS_NAME}
    chosen = frozenset(x.strip() for x in only.split(",")) if only else None
    if chosen is not None and not chosen <= names:
        raise click.BadParameter(f"unknown workload(s) {sorted(chosen - names)}; choose from {sorted(names)}", param_hint="--only")
    selected = orm.RUNNERS
    if runners is not None:
        wanted = [x.strip() for x in runners.split(",") if x.strip()]
        known = [r.name for r in orm.RUNNERS]
        unknown = [x for x in wanted if x not in known]
        if unknown or not wanted:
            raise click.BadParameter(f"unknown runner(s) {unknown or [runners]}; choose from {known}", param_hint="--runners")
        selected = tuple(r for r in orm.RUNNERS if r.name in wanted)
    run_suite(mode, dsn=dsn, out=out, pairings=not no_pairing, sync_commit=sync_commit, only=chosen,
              orm_runs=not no_orm, peers_python=peers_python, orm_max_rows=orm_max_rows, runners=selected)


if __name__ == "__main__":
    main()
