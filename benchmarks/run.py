"""Run the benchmark suite: ``python -m benchmarks``, ``python benchmarks/run.py`` or ``pghistory bench``.

Layer: benchmarks. Picks the mode (sizes, repeats, loop length), starts the embedded server
unless ``--dsn`` is given, creates one copy of the table per variant, and runs the schedule:
for every workload and size, each repeat measures every variant once, in an order rotated
per repeat, so drift (caches, checkpoints, a noisy neighbour) affects all variants alike.
Then :mod:`benchmarks.report` writes ``results.json``, ``report.md`` and the plots.

Modes: ``--quick`` (1/100/10k rows, 3 repeats, loops of 100; under two minutes, a smoke run
for CI that checks the suite works, never its numbers), full (1 row to 1M rows, 5 repeats,
loops of 2,000) and ``--smoke`` (10 rows, 1 repeat, loops of 20; for the test suite).
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/run.py`: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import click
import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from benchmarks import pairing, report
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

__all__ = ["Mode", "MODES", "PEERS", "run_suite", "main"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclasses.dataclass(frozen=True)
class Mode:
    name: str
    sizes: tuple[int, ...]
    repeats: int
    loops: int

    def limited(self, max_rows: int | None, repeats: int | None, loops: int | None) -> Mode:
        sizes = tuple(s for s in self.sizes if max_rows is None or s <= max_rows) or self.sizes[:1]
        return dataclasses.replace(
            self, sizes=sizes, repeats=repeats or self.repeats, loops=loops or self.loops
        )


MODES = {
    "full": Mode("full", (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000), 5, 2_000),
    "quick": Mode("quick", (1, 100, 10_000), 3, 100),
    "smoke": Mode("smoke", (10,), 1, 20),
}

#: Peer libraries (import name, package, what would be measured). Optional extras: a peer
#: that is not installed is reported as skipped, never as fast.
PEERS = (
    ("pghistory", "django-pghistory", "row level (its default) and its statement level"),
    ("simple_history", "django-simple-history", "its recommended configuration"),
    ("sqlalchemy_continuum", "SQLAlchemy-Continuum", "its recommended configuration"),
)

Results = dict[tuple[str, int, str], list[Sample]]


def _peers() -> list[dict[str, str]]:
    found = []
    for module, package, config in PEERS:
        # `pghistory` is also the name of this project's distribution, but the importable
        # django-pghistory package is `pghistory` with a Django app inside.
        present = importlib.util.find_spec(module) is not None and (
            module != "pghistory" or importlib.util.find_spec("pghistory.models") is not None
        )
        status = "not run: adapter benchmarks for peers are not written yet" if present else "not installed"
        found.append({"package": package, "configuration": config, "status": status})
    return found


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


#: Repeat number of the unrecorded warm-up round each workload starts with.
WARMUP = -1


def _schedule(
    mode: Mode, variants: tuple[Variant, ...], only: frozenset[str] | None = None
) -> Iterator[tuple[Workload, int, int, Variant]]:
    plans: list[tuple[Workload, tuple[int, ...]]] = [(w, mode.sizes) for w in BULK_WORKLOADS]
    plans += [(w, (mode.loops,)) for w in SINGLE_WORKLOADS]
    plans = [(w, sizes) for w, sizes in plans if only is None or w.name in only]
    for workload, sizes in plans:
        chosen = [v for v in variants if workload.runs(v)]
        # Warm-up at the smallest size: the first call of a trigger function in a session
        # compiles it, and the first write to a table loads its catalog entries; whichever
        # variant ran first would otherwise pay for that.
        for variant in chosen:
            yield workload, min(sizes[0], 100), WARMUP, variant
        for size in sizes:
            for repeat in range(mode.repeats):
                shift = repeat % len(chosen)
                for variant in chosen[shift:] + chosen[:shift]:
                    yield workload, size, repeat, variant


def run_suite(
    mode: Mode,
    dsn: str | None = None,
    out: Path | None = None,
    console: Console | None = None,
    pairings: bool = True,
    sync_commit: bool = False,
    only: frozenset[str] | None = None,
) -> Path:
    """Run *mode* against *dsn* (the embedded server when None); write the results to *out*
    (default ``benchmarks/results/<timestamp>``) and return that folder.

    Unless *sync_commit*, the session runs with ``synchronous_commit = off``: with it on, every
    commit waits for a disk flush (milliseconds on many disks) that costs the same with or
    without tracking, and would dilute every small-write ratio towards 1.0. Off measures
    the database work tracking adds; WAL volume is reported separately."""
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
                    for workload, size, repeat, variant in steps:
                        label = f"{workload.name} {size:>7} rows" if workload.bulk else f"{workload.name} x{size}"
                        round_ = "warm-up" if repeat == WARMUP else f"r{repeat + 1}/{mode.repeats}"
                        progress.update(task, description=f"{label} {round_:>7} {variant.name:<18}")
                        sample = database.measure(workload, variant, size)
                        if repeat != WARMUP:
                            results.setdefault((workload.name, size, variant.name), []).append(sample)
                        progress.advance(task)
            finally:
                database.drop()
    finished = datetime.datetime.now(datetime.timezone.utc)
    meta.update(started=started.isoformat(), finished=finished.isoformat(), mode=dataclasses.asdict(mode),
                synchronous_commit_off=not sync_commit, client_context_cost=render_cost())
    document = report.build(meta, mode.name, variants, results, _peers())
    report.write(document, out)
    console.print(f"results written to [bold]{out}[/bold]")
    return out


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
              help="Run only these workloads (" + ", ".join(w.name for w in (*BULK_WORKLOADS, *SINGLE_WORKLOADS)) + ").")
@click.option("--sync-commit", is_flag=True,
              help="Keep the server's synchronous_commit (default: off for the session; see the report).")
def main(
    mode_name: str, dsn: str | None, out: Path | None, max_rows: int | None, repeats: int | None,
    loops: int | None, no_pairing: bool, only: str | None, sync_commit: bool,
) -> None:
    """Benchmark tracked writes against untracked ones: row vs statement level, each context mode.

    Writes results.json, report.md and PNG plots. Ratios are medians over repeats, all
    variants interleaved; they are never asserted anywhere.
    """
    mode = MODES[mode_name].limited(max_rows, repeats, loops)
    # SIGTERM (e.g. `kill` on a background run) unwinds like Ctrl-C, so the embedded server
    # is stopped and its data directory removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    names = {w.name for w in (*BULK_WORKLOADS, *SINGLE_WORKLOADS)}
    chosen = frozenset(x.strip() for x in only.split(",")) if only else None
    if chosen is not None and not chosen <= names:
        raise click.BadParameter(f"unknown workload(s) {sorted(chosen - names)}; choose from {sorted(names)}", param_hint="--only")
    run_suite(mode, dsn=dsn, out=out, pairings=not no_pairing, sync_commit=sync_commit, only=chosen)


if __name__ == "__main__":
    main()
