"""What every ORM runner shares: options, the interleaved schedule, resets, event counts, JSON.

Layer: benchmarks (ORM runners). Imported by the runner scripts of this package, which run in
the interpreter of the library they measure (a peer's own venv, or this project's), and by
:mod:`benchmarks.run`. Needs only psycopg, :mod:`pghistory_core.sql` (standard library only)
and :mod:`benchmarks.workloads`, so it also imports in a venv that holds a peer library and
nothing of this project.

A runner declares :class:`Variant` objects: a table, the untracked variant its ratio is taken
against, the table whose rows count as the events it recorded, and ``prepare``, which builds
the objects a workload needs (before the clock) and returns the timed body. The harness
resets the table between measurements over its own psycopg connection (the fill is the suite's
own ``INSERT ... SELECT``, whatever it records is then deleted), times the body, counts the
events and prints one JSON document on stdout. Progress lines go to stderr.

A single-row body is a generator function that writes one row per step: the harness runs the
loops of all variants of a round interleaved, ``SINGLE_CHUNK`` writes of one variant at a
time, the order rotated per chunk (:func:`benchmarks.workloads.interleave`, which the raw
variants use too), so a slow second of the machine lands on every variant alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

import psycopg

from benchmarks.workloads import BULK_WORKLOADS, SINGLE_WORKLOADS, Workload, bulk_statement, interleave
from pghistory_core import sql

__all__ = ["Options", "Variant", "WARMUP", "rotation", "options", "connect_kwargs", "run", "fail"]

#: Repeat number of the unrecorded warm-up round each workload starts with.
WARMUP = -1
#: Marks a progress line on stderr: ``PROGRESS <done> <total> <label>``.
PROGRESS = "PROGRESS"

#: The timed part of a measurement. Bulk: one call does the write. Single-row: a generator
#: function, one write per step (see the module docstring).
Body = Callable[[], object]
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Options:
    dsn: str
    schema: str
    sizes: tuple[int, ...]
    loops: int
    repeats: int
    workloads: frozenset[str]
    #: Largest bulk size for variants that write one object at a time (None: no limit).
    per_object_max_rows: int | None = None


@dataclasses.dataclass(frozen=True)
class Variant:
    """One way a runner writes: ``baseline`` is None for an untracked variant; ``records``
    is the table whose rows are the events it recorded; ``clear`` other tables emptied
    between measurements (context, transaction log; ``schema.table`` outside the runner's
    schema). ``prepare(workload, size)`` runs after
    the reset and returns the timed body (for single-row workloads, a generator function
    writing one row per step, *size* steps).
    ``per_object`` marks a path that handles one object at a time in Python (a unit of work,
    per-object signals): its bulk sizes stop at ``--per-object-max-rows``; mark its untracked
    baseline too, so both stop at the same size. A ``probe`` writes an untracked copy with
    the library's context on (what the context transport alone costs): single-row loops
    only, no events expected."""

    name: str
    description: str
    table: str
    prepare: Callable[[Workload, int], Body]
    baseline: str | None = None
    records: str | None = None
    clear: tuple[str, ...] = ()
    per_object: bool = False
    probe: bool = False

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "description": self.description, "baseline": self.baseline,
                "per_object": self.per_object, "probe": self.probe}


def rotation(variants: Sequence[T], sizes: Sequence[int], repeats: int) -> Iterator[tuple[int, int, T]]:
    """(size, repeat, variant): a warm-up round at the smallest size (capped at 100), then
    every variant once per repeat in an order rotated per repeat, so drift (caches,
    checkpoints, a noisy neighbour) affects all variants alike. The first call of a trigger
    function in a session compiles it; whichever variant ran first would otherwise pay."""
    for variant in variants:
        yield min(sizes[0], 100), WARMUP, variant
    for size in sizes:
        for repeat in range(repeats):
            shift = repeat % len(variants)
            for variant in [*variants[shift:], *variants[:shift]]:
                yield size, repeat, variant


def options(description: str, argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--schema", required=True, help="created (dropped first) and dropped at the end")
    parser.add_argument("--sizes", default="10", help="bulk sizes, comma-separated")
    parser.add_argument("--loops", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--workloads", default=",".join(w.name for w in (*BULK_WORKLOADS, *SINGLE_WORKLOADS)))
    parser.add_argument("--per-object-max-rows", type=int, default=None,
                        help="largest bulk size for variants that write one object at a time")
    args = parser.parse_args(argv)
    return Options(
        dsn=args.dsn,
        schema=args.schema,
        sizes=tuple(int(s) for s in args.sizes.split(",") if s),
        loops=args.loops,
        repeats=args.repeats,
        workloads=frozenset(w for w in args.workloads.split(",") if w),
        per_object_max_rows=args.per_object_max_rows,
    )


def connect_kwargs(opts: Options) -> dict[str, str]:
    """libpq parameters of the DSN plus ``options`` putting the runner's schema first on the
    search_path, so every table a library creates (its context or transaction tables too)
    lands in that schema and is dropped with it."""
    params = {k: str(v) for k, v in psycopg.conninfo.conninfo_to_dict(opts.dsn).items()}
    # A schema name is an identifier in a libpq option: quoted like any other identifier.
    params["options"] = "-c search_path=" + sql.render(sql.Identifier(opts.schema)) + ",public"
    return params


def _progress(done: int, total: int, label: str) -> None:
    print(PROGRESS, done, total, label, file=sys.stderr, flush=True)


def fail(message: str) -> None:
    """Report a runner that could not run: a JSON document with the reason, exit status 0
    (the suite shows the reason instead of figures)."""
    print(json.dumps({"status": message, "variants": [], "measurements": []}))


class _Database:
    """The harness's own connection: schema, resets and event counts (autocommit)."""

    def __init__(self, opts: Options) -> None:
        self.schema = opts.schema
        self.conn = psycopg.connect(**connect_kwargs(opts), autocommit=True)  # type: ignore[arg-type]

    def ident(self, table: str) -> sql.Identifier:
        """*table* in the runner's schema, or ``schema.table`` elsewhere (a context table
        a library always keeps in ``public``)."""
        schema, _, name = table.rpartition(".")
        return sql.Identifier(schema or self.schema, name)

    def run(self, statement: sql.Composable | str) -> None:
        self.conn.execute(statement if isinstance(statement, str) else sql.render(statement))

    def create_schema(self) -> None:
        schema = sql.Identifier(self.schema)
        self.run(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
        self.run(sql.SQL("CREATE SCHEMA {}").format(schema))

    def drop_schema(self) -> None:
        self.run(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))

    def reset(self, variant: Variant, rows: int) -> None:
        """Empty the table, fill *rows* rows, then empty what recorded the fill; vacuum."""
        table = self.ident(variant.table)
        emptied = [self.ident(t) for t in (variant.records, *variant.clear) if t]
        with self.conn.transaction():
            self.run(sql.SQL("DELETE FROM {}").format(table))
            if rows:
                self.run(bulk_statement(BULK_WORKLOADS[0], table, rows))
            for other in emptied:
                self.run(sql.SQL("DELETE FROM {}").format(other))
        self.run(sql.SQL("VACUUM (ANALYZE) {}").format(sql.join(", ", [table, *emptied])))

    def events(self, variant: Variant) -> int:
        if variant.records is None:
            return 0
        row = self.conn.execute(sql.render(sql.SQL("SELECT count(*) FROM {}").format(self.ident(variant.records)))).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.conn.close()


def _plans(opts: Options) -> list[tuple[Workload, tuple[int, ...]]]:
    plans = [(w, opts.sizes) for w in BULK_WORKLOADS] + [(w, (opts.loops,)) for w in SINGLE_WORKLOADS]
    return [(w, sizes) for w, sizes in plans if w.name in opts.workloads and sizes]


def _runs(opts: Options, workload: Workload, size: int, variant: Variant) -> bool:
    if workload.bulk and variant.probe:
        return False
    limit = opts.per_object_max_rows
    return not (workload.bulk and variant.per_object and limit is not None and size > limit)


def _interleavable(variants: list[Variant]) -> list[list[Variant]]:
    """*variants* in groups whose loops can run interleaved: no two in a group write the same
    table (each empties and refills its table). A variant stays in the group of its untracked
    baseline when the tables allow it (a family: the baseline and the variants measured
    against it), so each ratio compares loops that ran side by side."""
    families: dict[str, list[Variant]] = {}
    for variant in variants:
        families.setdefault(variant.baseline or variant.name, []).append(variant)
    groups: list[list[Variant]] = []
    for family in families.values():
        tables = {v.table for v in family}
        if len(tables) < len(family):  # the family shares a table with itself: one at a time
            groups.extend([v] for v in family)
            continue
        for group in groups:
            if not tables & {v.table for v in group}:
                group.extend(family)
                break
        else:
            groups.append(list(family))
    return groups


def _timed_bulk(workload: Workload, size: int, variant: Variant) -> list[float]:
    body = variant.prepare(workload, size)
    start = time.perf_counter()
    body()
    return [time.perf_counter() - start]


def _timed_loops(workload: Workload, size: int, variants: list[Variant]) -> list[float]:
    """Seconds per statement for each variant's loop of *size* writes, run interleaved."""
    loops: list[Iterator[object]] = []
    for variant in variants:
        loop = variant.prepare(workload, size)()
        if not isinstance(loop, Iterator):
            raise TypeError(f"{variant.name}: a single-row body must be a generator function (one write per step)")
        loops.append(loop)
    return interleave(loops, size, [v.name for v in variants])


def run(
    opts: Options,
    setup: Callable[[Options], Iterable[Variant]],
    package: dict[str, str],
    teardown: Callable[[], None] | None = None,
) -> None:
    """Create the schema, let *setup* create its tables and return its variants, measure
    every planned workload, print the JSON document, drop the schema."""
    database = _Database(opts)
    database.create_schema()
    try:
        variants = list(setup(opts))
        measurements: dict[tuple[str, int, str], dict[str, list[float]]] = {}
        steps = [
            (w, size, repeat, v)
            for w, sizes in _plans(opts)
            for size, repeat, v in rotation(variants, sizes, opts.repeats)
            if _runs(opts, w, size, v)
        ]
        done = 0
        for (workload, size, repeat), group in itertools.groupby(steps, key=lambda step: step[:3]):
            chosen = [step[3] for step in group]
            rounds = [[v] for v in chosen] if workload.bulk else _interleavable(chosen)
            for measured in rounds:
                _progress(done, len(steps), f"{workload.name} {size} {measured[0].name if len(measured) == 1 else 'interleaved'}")
                for variant in measured:
                    database.reset(variant, size if workload.prefill else 0)
                times = _timed_bulk(workload, size, measured[0]) if workload.bulk else _timed_loops(workload, size, measured)
                for variant, seconds in zip(measured, times):
                    events = database.events(variant)
                    if repeat != WARMUP:
                        entry = measurements.setdefault((workload.name, size, variant.name), {"seconds": [], "events": []})
                        entry["seconds"].append(seconds)
                        entry["events"].append(events)
                done += len(measured)
        _progress(len(steps), len(steps), "done")
        document = {
            "status": "ok",
            "package": package,
            "variants": [v.describe() for v in variants],
            "measurements": [
                {"workload": w, "size": size, "variant": v, "samples": samples}
                for (w, size, v), samples in measurements.items()
            ],
        }
        print(json.dumps(document))
    finally:
        if teardown is not None:
            teardown()
        database.drop_schema()
        database.close()
