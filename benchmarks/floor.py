"""The floor of tracked bulk writes: what writing the event rows costs, with no trigger at all.

Layer: benchmarks. ``python -m benchmarks.floor [--rows N] [--repeats R] [--dsn DSN] [--out DIR]``.

A tracked bulk write costs the untracked write, plus the trigger (reading the transition
tables, pairing rows, the context), plus writing one event row per row. This measures the
last part alone: one ``INSERT INTO <event table> (...) SELECT now(), 'update', id,
<constant uuid>, <the 8 columns> FROM <a filled copy of the benchmark table>``, in one
transaction (``BEGIN``, the statement, ``COMMIT``, as the suite times a bulk write), into
five event tables that differ only in what they carry:

1. heap only: ``pgh_id`` a plain ``bigint`` column (a constant default, so every table stores
   the same 8 bytes per row and the next step adds the sequence alone), no index;
2. + identity on ``pgh_id``;
3. + primary key on ``pgh_id``;
4. + index on ``pgh_obj_id``;
5. + index on ``pgh_context_id``: exactly the event table the core generates for FK context.

Every table is created from the core's own DDL (:func:`pghistory_core.render.event_table` of
the tracking :meth:`benchmarks.workloads.BenchDatabase.tracking` builds for the default level
with FK context), then the steps below 5 drop what they do not carry (indexes by the names
the core gives them, the primary key by the name the catalog gives it, the identity); what
each table carries is read back from the catalog and checked. No trigger is installed.

For reference, the untracked statements of the suite (bulk INSERT, UPDATE of every row,
DELETE: :func:`benchmarks.workloads.bulk_statement`) run on an untracked copy at the same
size, measured exactly as the suite measures them. All eight measurements are interleaved
in every repeat (order rotated per repeat) after an unrecorded warm-up round at full size, so
every table's files have grown to *rows* rows before the first recorded repeat. Tables are
emptied with ``DELETE`` + ``VACUUM`` and created with autovacuum off and
``vacuum_truncate = false`` (see :mod:`benchmarks.workloads`). The session runs with
``synchronous_commit = off``, like the suite.

The derived floor for workload W and event table T is ``(untracked W + event write T) /
untracked W``: the ratio a trigger writing into T could reach if the trigger itself cost
nothing. The floor reads its rows from a heap table where a statement-level trigger reads a
transition table, and it writes no context row: it is a bound, not a prediction.

Writes ``results.json`` and ``report.md`` to ``benchmarks/results/floor-<UTC timestamp>/``
(or ``--out``). Never asserted anywhere.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/floor.py`: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import click
import psycopg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

import pghistory_core as ph
from benchmarks import report
from benchmarks.peers.harness import WARMUP, rotation
from benchmarks.run import RESULTS_DIR, _server, _tune_embedded
from benchmarks.workloads import (
    BULK_WORKLOADS,
    UNTRACKED,
    BenchDatabase,
    Sample,
    Variant,
    Workload,
    _ident,
)
from pghistory_core import render, sql
from pghistory_core.spec import DEFAULT_LEVEL

__all__ = ["REFERENCES", "STEPS", "FloorDatabase", "Step", "event_write_statement", "main", "run_floor"]

Connection = psycopg.Connection[tuple[object, ...]]
Document = dict[str, object]

#: The context id every event row carries: one bulk statement runs in one context.
CONTEXT_ID = uuid.UUID("6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f")
#: The value of ``pgh_id`` in the heap-only table (no identity): same width as an id.
_HEAP_PGH_ID = 0


@dataclasses.dataclass(frozen=True)
class Step:
    """An event table carrying the core's columns and some of its keys: the identity on
    ``pgh_id``, the primary key on it, and the core's indexes on the columns in *indexed*."""

    name: str
    title: str
    identity: bool
    primary_key: bool
    indexed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.primary_key and not self.identity:
            # Without the identity the INSERT leaves pgh_id at its constant default.
            raise ValueError(f"step {self.name!r}: a primary key on pgh_id needs the identity")

    @property
    def variant(self) -> Variant:
        """The suite's variant whose tracking and event-table names this step uses."""
        return Variant("floor_" + self.name, DEFAULT_LEVEL, ph.FK)


@dataclasses.dataclass(frozen=True)
class Carries:
    """What an event table carries, as read from the catalog: identity and primary key on
    ``pgh_id``, the names of its other indexes (sorted)."""

    identity: bool
    primary_key: bool
    indexes: tuple[str, ...]


STEPS = (
    Step("heap", "heap only", identity=False, primary_key=False),
    Step("identity", "+ identity on pgh_id", identity=True, primary_key=False),
    Step("primary_key", "+ primary key on pgh_id", identity=True, primary_key=True),
    Step("obj_id_index", "+ index on pgh_obj_id", identity=True, primary_key=True, indexed=("pgh_obj_id",)),
    Step("context_id_index", "+ index on pgh_context_id (the core's event table, FK context)",
         identity=True, primary_key=True, indexed=("pgh_obj_id", "pgh_context_id")),
)
#: The untracked statements every floor is a ratio to.
REFERENCES: tuple[Workload, ...] = tuple(w for w in BULK_WORKLOADS if w.name in ("bulk_insert", "bulk_update", "bulk_delete"))
#: The filled copy the event rows are read from.
SOURCE = Variant("floor_source")

Item = Step | Workload


def _name(item: Item) -> str:
    return item.name if isinstance(item, Step) else "untracked_" + item.name


def event_write_statement(tracking: ph.Tracking, source: sql.Identifier) -> sql.Composed:
    """``INSERT INTO <event table> (<every event column but pgh_id>) SELECT now(), 'update',
    <key>, <context id>, <the tracked columns> FROM source``: the rows an update trigger of
    *tracking* writes for every row of *source*."""
    values: dict[str, sql.Composable] = {
        "pgh_created_at": sql.SQL("now()"),
        "pgh_label": sql.Literal(ph.UpdateEvent().label),
        "pgh_obj_id": sql.Identifier(tracking.table.primary_key[0]),
        "pgh_context_id": sql.Literal(CONTEXT_ID),
    }
    values.update((column.name, sql.Identifier(column.name)) for column in tracking.mirrored_columns)
    columns = [name for name, _ in render.event_columns(tracking) if name != "pgh_id"]
    missing = [name for name in columns if name not in values]
    if missing:
        raise RuntimeError(f"the core's event table {tracking.event_table_name!r} has columns the floor does not fill: {missing}")
    return sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
        render.event_table_ident(tracking),
        sql.join(", ", [sql.Identifier(name) for name in columns]),
        sql.join(", ", [values[name] for name in columns]),
        source,
    )


class FloorDatabase:
    """The floor's tables in the suite's schema, on one connection: the untracked copy and
    the filled source (through :class:`BenchDatabase`), one event table per step."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.bench = BenchDatabase(conn, (UNTRACKED, SOURCE))
        self.trackings = {step: self.bench.tracking(step.variant) for step in STEPS}
        self.statements = {
            step: sql.render(event_write_statement(tracking, _ident(SOURCE.table)))
            for step, tracking in self.trackings.items()
        }
        #: Per step: the core's DDL and the statements that strip it down to the step.
        self.ddl: dict[Step, list[str]] = {}

    def create(self, rows: int) -> None:
        """Create the schema, the copies and the event tables (no trigger); fill the source."""
        self.bench.create()
        for step, tracking in self.trackings.items():
            create = render.event_table(tracking).create
            with self.conn.transaction():
                self.conn.execute(sql.render(create))
                changes = [
                    *self._strip(step, tracking),
                    sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = false, vacuum_truncate = false)").format(
                        render.event_table_ident(tracking)
                    ),
                ]
                for statement in changes:
                    self.conn.execute(sql.render(statement))
            self.ddl[step] = [sql.render(s) for s in (create, *changes)]
            self._check(step, tracking)
        self.bench.reset(SOURCE, rows)

    def _strip(self, step: Step, tracking: ph.Tracking) -> list[sql.Composable]:
        """What to drop from the core's event table so it carries only what *step* does."""
        table = render.event_table_ident(tracking)
        core_indexed = [column for _, column in render.event_indexes(tracking)]
        unknown = sorted(set(step.indexed) - set(core_indexed))
        if unknown:
            raise RuntimeError(f"step {step.name!r}: the core does not index {unknown} (it indexes {core_indexed})")
        out: list[sql.Composable] = [
            sql.SQL("DROP INDEX {}").format(sql.Identifier(tracking.event_schema_name, index))
            for index, column in render.event_indexes(tracking)
            if column not in step.indexed
        ]
        if not step.primary_key:
            query = sql.SQL("SELECT conname FROM pg_constraint WHERE conrelid = {}::regclass AND contype = 'p'").format(
                sql.Literal(sql.render(table))
            )
            row = self.conn.execute(sql.render(query)).fetchone()
            if row is None:
                raise RuntimeError(f"the core's event table {sql.render(table)} has no primary key to drop")
            out.append(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(table, sql.Identifier(str(row[0]))))
        if not step.identity:
            out.append(
                sql.SQL("ALTER TABLE {} ALTER COLUMN {} DROP IDENTITY, ALTER COLUMN {} SET DEFAULT {}").format(
                    table, sql.Identifier("pgh_id"), sql.Identifier("pgh_id"), sql.Literal(_HEAP_PGH_ID)
                )
            )
        return out

    def carries(self, step: Step) -> Carries:
        """What the step's event table carries, read from the catalog."""
        table = sql.Literal(sql.render(render.event_table_ident(self.trackings[step])))
        query = sql.SQL(
            "SELECT a.attidentity <> '', "
            "EXISTS (SELECT FROM pg_constraint WHERE conrelid = {0}::regclass AND contype = 'p'), "
            "ARRAY(SELECT c.relname::text FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
            "WHERE x.indrelid = {0}::regclass AND NOT x.indisprimary ORDER BY 1) "
            "FROM pg_attribute a WHERE a.attrelid = {0}::regclass AND a.attname = 'pgh_id'"
        ).format(table)
        row = self.conn.execute(sql.render(query)).fetchone()
        if row is None:
            raise RuntimeError(f"step {step.name!r}: no pgh_id column in {table}")
        identity, primary_key, indexes = row
        return Carries(bool(identity), bool(primary_key), tuple(str(i) for i in indexes))  # type: ignore[attr-defined]

    def _check(self, step: Step, tracking: ph.Tracking) -> None:
        expected = Carries(
            step.identity, step.primary_key,
            tuple(sorted(name for name, column in render.event_indexes(tracking) if column in step.indexed)),
        )
        found = self.carries(step)
        if found != expected:
            raise RuntimeError(f"step {step.name!r}: the event table carries {found}, expected {expected}")

    def _empty(self, step: Step) -> None:
        table = render.event_table_ident(self.trackings[step])
        self.conn.execute(sql.render(sql.SQL("DELETE FROM {}").format(table)))
        self.conn.execute(sql.render(sql.SQL("VACUUM {}").format(table)))

    def measure_event_write(self, step: Step) -> Sample:
        """Empty the step's event table, then time one transaction writing an event per source row."""
        self._empty(step)
        statement = self.statements[step]
        conn = self.conn

        def body() -> float:
            start = time.perf_counter()
            with conn.transaction():
                conn.execute(statement)
            return time.perf_counter() - start

        return self.bench._timed(step.variant, body)

    def measure(self, item: Item, rows: int) -> Sample:
        if isinstance(item, Step):
            return self.measure_event_write(item)
        return self.bench.measure_bulk(item, UNTRACKED, rows)

    def drop(self) -> None:
        self.bench.drop()


# ------------------------------------------------------------------------------- build


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# The document is JSON: read back from results.json, its entries are plain dicts and lists.
Entry = dict[str, Any]


def _entry(name: str, samples: list[Sample], rows: int) -> Entry:
    median = _median([s.seconds for s in samples])
    events = _median([s.events for s in samples])
    return {
        "variant": name,
        "samples": {
            "seconds": [s.seconds for s in samples],
            "wal_bytes": [s.wal_bytes for s in samples],
            "events": [s.events for s in samples],
            "event_table_bytes": [s.event_table_bytes for s in samples],
        },
        "median_seconds": median,
        "us_per_row": median / rows * 1e6,
        "wal_bytes_per_row": _median([s.wal_bytes for s in samples]) / rows,
        "events_median": events,
        "event_bytes_per_event": _median([s.event_table_bytes for s in samples]) / events if events else None,
    }


def _limits() -> dict[str, float]:
    """The suite's bulk targets (set at 100k rows) by workload."""
    return {t.workload: t.limit for t in report.TARGETS if t.workload.startswith("bulk")}


def build(meta: dict[str, object], rows: int, repeats: int, database: FloorDatabase, results: dict[str, list[Sample]]) -> Document:
    """The JSON document: every repeat's samples, medians, increments, each step's DDL and
    what its table carries, and the floors."""
    steps: list[Entry] = []
    for step in STEPS:
        entry = _entry(step.name, results[step.name], rows)
        previous = steps[-1] if steps else None
        entry.update(
            title=step.title,
            ddl=database.ddl[step],
            carries=dataclasses.asdict(database.carries(step)),
            increment_seconds=entry["median_seconds"] - previous["median_seconds"] if previous else None,
            increment_wal_bytes_per_row=entry["wal_bytes_per_row"] - previous["wal_bytes_per_row"] if previous else None,
        )
        steps.append(entry)
    references: list[Entry] = []
    for workload in REFERENCES:
        entry = _entry(_name(workload), results[_name(workload)], rows)
        entry.update(workload=workload.name, title=workload.title)
        references.append(entry)
    limits = _limits()
    floors = []
    for step_entry in steps:
        for reference in references:
            untracked = reference["median_seconds"]
            ratio = (untracked + step_entry["median_seconds"]) / untracked
            limit = limits.get(reference["workload"])
            floors.append({"step": step_entry["variant"], "workload": reference["workload"], "ratio": ratio,
                           "limit": limit, "within_limit": None if limit is None else ratio <= limit})
    return {
        "format": 1,
        "kind": "floor",
        "meta": meta,
        "rows": rows,
        "repeats": repeats,
        "statement": database.statements[STEPS[-1]],
        "measurements": [*steps, *references],
        "steps": [s["variant"] for s in steps],
        "references": [r["variant"] for r in references],
        "floors": floors,
    }


# ------------------------------------------------------------------------------- write


def _header(doc: Entry) -> list[str]:
    """The run's environment, stated as the suite's report states it (:mod:`benchmarks.report`)."""
    return [
        *report.environment(doc["meta"]),
        f"- {doc['rows']:,} rows, {doc['repeats']} repeat(s) (medians), all measurements interleaved; "
        + "session synchronous_commit=off",
        "",
    ]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _spread(entry: Entry) -> str:
    """Fastest and slowest repeat, in ms: how far to trust the median and the increments."""
    seconds = entry["samples"]["seconds"]
    return f"{_ms(min(seconds))}-{_ms(max(seconds))}"


def _signed(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:+.{digits}f}"


def markdown(document: Document) -> str:
    doc: Entry = document
    rows: int = doc["rows"]
    size = report._rows(rows)
    by_name = {m["variant"]: m for m in doc["measurements"]}
    steps = [by_name[name] for name in doc["steps"]]
    references = [by_name[name] for name in doc["references"]]
    lines = [f"# pghistory benchmarks: the event-write floor ({size} rows)", "", *_header(doc)]
    lines += [
        f"## Writing {size} event rows, no trigger",
        "",
        (
            "One transaction running the statement below, into event tables that differ only in what they "
            "carry; each row adds one thing to the row above it (the `+` columns: the difference to the row "
            "above). Every table is the core's event table for FK context (`pghistory_core.render.event_table`), "
            "the first four with parts dropped; without the identity, `pgh_id` has a constant default (same row width). "
            "`ms` is the median over the repeats; an increment smaller than the spread of the two rows it "
            "separates is noise."
        ),
        "",
    ]
    lines += report._table(
        ("event table", "ms", "min-max ms", "us/row", "WAL bytes/row", "+ms", "+us/row", "+WAL bytes/row", "table bytes/event", "events"),
        (
            (
                f"{number}. {e['title']}", _ms(e["median_seconds"]), _spread(e), f"{e['us_per_row']:.2f}", f"{e['wal_bytes_per_row']:.0f}",
                _signed(e["increment_seconds"] and e["increment_seconds"] * 1000, 1),
                _signed(e["increment_seconds"] and e["increment_seconds"] / rows * 1e6, 2),
                _signed(e["increment_wal_bytes_per_row"], 0),
                f"{e['event_bytes_per_event']:.0f}" if e["event_bytes_per_event"] else "-",
                f"{e['events_median']:.0f}",
            )
            for number, e in enumerate(steps, 1)
        ),
    )
    lines += ["```sql", doc["statement"], "```", ""]
    lines += [
        f"## Untracked statements at {size} rows",
        "",
        "The suite's bulk statements on an untracked copy, measured as the suite measures them (`BEGIN`, the statement, `COMMIT`).",
        "",
    ]
    lines += report._table(
        ("statement", "ms", "min-max ms", "us/row", "WAL bytes/row"),
        ((r["title"], _ms(r["median_seconds"]), _spread(r), f"{r['us_per_row']:.2f}", f"{r['wal_bytes_per_row']:.0f}") for r in references),
    )
    floors = {(f["step"], f["workload"]): f for f in doc["floors"]}
    lines += [
        "## The floor: the lowest ratio a trigger could reach",
        "",
        (
            f"`(untracked + event write) / untracked` at {size} rows: what a tracked write would cost if the "
            "trigger itself were free and wrote its events into the cheapest event table that keeps the listed "
            "keys and indexes. A bound, not a prediction: a trigger also reads its transition tables and records "
            "a context. Ratios over the suite's target are in bold"
            + ("" if rows == 100_000 else " (the targets are set at 100k rows)") + "."
        ),
        "",
    ]
    header = ["event table"]
    for r in references:
        limit = floors[(steps[0]["variant"], r["workload"])]["limit"]
        header.append(r["workload"] + ("" if limit is None else f" (target <= {limit:.1f}x)"))
    table = []
    for number, e in enumerate(steps, 1):
        cells = [f"{number}. {e['title']}"]
        for r in references:
            floor = floors[(e["variant"], r["workload"])]
            text = report._ratio(floor["ratio"])
            cells.append(f"**{text}**" if floor["within_limit"] is False else text)
        table.append(cells)
    lines += report._table(header, table)
    return "\n".join(lines)


def write(document: Document, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    (out / "report.md").write_text(markdown(document), encoding="utf-8")


# --------------------------------------------------------------------------------- run


def run_floor(rows: int, repeats: int, dsn: str | None = None, out: Path | None = None, console: Console | None = None) -> Path:
    """Measure the floor at *rows* rows over *repeats* repeats on *dsn* (the embedded server
    when None); write the results to *out* (default ``benchmarks/results/floor-<timestamp>``)
    and return that folder."""
    console = console or Console(stderr=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    out = out or RESULTS_DIR / ("floor-" + started.strftime("%Y%m%dT%H%M%SZ"))
    items: list[Item] = [*STEPS, *REFERENCES]
    results: dict[str, list[Sample]] = {}
    with _server(dsn, console) as (server_dsn, embedded), psycopg.connect(server_dsn, autocommit=True) as conn:
        if embedded:
            _tune_embedded(conn)
        # As in the suite (benchmarks.run.run_suite): commit flush latency is the disk's.
        conn.execute("SET synchronous_commit = off")
        meta = report.collect_meta(conn, embedded)
        database = FloorDatabase(conn)
        try:
            database.create(rows)
            schedule = list(rotation(items, (rows,), repeats))
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=console, transient=False) as progress:
                task = progress.add_task("floor", total=len(schedule))
                for _, repeat, item in schedule:
                    round_ = "warm-up" if repeat == WARMUP else f"r{repeat + 1}/{repeats}"
                    progress.update(task, description=f"floor {rows} rows {round_:>7} {_name(item):<24}")
                    # The warm-up runs at full size too (rotation's is at most 100 rows):
                    # every table's files then hold *rows* rows of pages, which DELETE +
                    # VACUUM keep for the recorded repeats.
                    sample = database.measure(item, rows)
                    if repeat != WARMUP:
                        results.setdefault(_name(item), []).append(sample)
                    progress.advance(task)
            finished = datetime.datetime.now(datetime.timezone.utc)
            meta.update(started=started.isoformat(), finished=finished.isoformat(), synchronous_commit_off=True)
            document = build(meta, rows, repeats, database, results)
        finally:
            database.drop()
    write(document, out)
    console.print(f"results written to [bold]{out}[/bold]")
    return out


@click.command("floor")
@click.option("--rows", type=click.IntRange(min=1), default=100_000, show_default=True, help="Event rows per measurement.")
@click.option("--repeats", type=click.IntRange(min=1), default=5, show_default=True, help="Recorded repeats (medians).")
@click.option("--dsn", metavar="DSN", default=None, help="Database to run on (default: a throwaway embedded server).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Results folder (default: benchmarks/results/floor-<timestamp>).")
def main(rows: int, repeats: int, dsn: str | None, out: Path | None) -> None:
    """Measure what writing N event rows costs with no trigger, per event-table key and index,
    next to the untracked bulk statements; derive the lowest ratio a trigger could reach."""
    # SIGTERM unwinds like Ctrl-C, so the embedded server is stopped (as benchmarks.run does).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    run_floor(rows, repeats, dsn=dsn, out=out)


if __name__ == "__main__":
    main()
