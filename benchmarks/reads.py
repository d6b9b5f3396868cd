"""Reading history: the cost of one object's history and of the cross-table events query.

Layer: benchmarks. In its own schema (``pghistory_bench_reads``, dropped afterwards), one
table of the benchmark's columns is tracked into two event tables (the default level, FK
context): ``item_event`` (insert/update/delete, every column) and ``item_price_event``
(price updates, two columns), holding *events* events in all (nine in ten in the first)
over ``events / 100`` objects (at most 10k: 1M events, 10k objects), so an object's history is
about 100 events at every size; one event in ten has a context, about ten events per context
(nine in the first table, one in the second).

The events are written straight into the event tables with ``INSERT ... SELECT
generate_series`` (no triggers; the tables are unlogged while filling and their secondary
indexes are rebuilt afterwards by re-running the library's own event-table DDL, as in
``tests/db/test_history_explain.py``), then ``VACUUM (ANALYZE)``. Event times interleave
the two tables, so a cross-table page mixes both.

Four reads, each through the public API (``history.object_history`` / ``history.events``,
so the figure includes building the ``Event`` objects), interleaved in every repeat after
one warm-up round; the figure is the median latency:

- ``object_history``: every event of one object (a different object each repeat);
- ``events_page``: the newest 50 events across both event tables;
- ``events_context``: the newest 50 events of one context (a different one each repeat);
- ``events_next_page``: the page after ``events_page``, through the keyset cursor ``after=``.

Each read's plan is recorded (``EXPLAIN``, not timed): ``index_only`` is true when no node
reads an event table with a ``Seq Scan``. Never asserted: a benchmark reports. At small
sizes (the smoke run's 1k events) the planner rightly prefers scanning tiny tables.
"""

from __future__ import annotations

import hashlib
import json
import random
import statistics
import time
import uuid
from collections.abc import Callable

import psycopg

import pghistory_core as ph
from pghistory_core import history, render, sql
from pghistory_core.render import event_table_ident

from benchmarks.workloads import COLUMNS

__all__ = ["SCHEMA", "PAGE", "READS", "run"]

SCHEMA = "pghistory_bench_reads"
PAGE = 50
#: One event in this many has a context.
CONTEXT_EVERY = 10
#: Events per context (both tables together).
EVENTS_PER_CONTEXT = 10
MAX_OBJECTS = 10_000

READS = (
    ("object_history", "one object's history (`object_history`)"),
    ("events_page", f"newest {PAGE} events across both event tables (`events(limit={PAGE}, newest_first=True)`)"),
    ("events_context", f"newest {PAGE} events of one context (`events(context_id=..., limit={PAGE})`)"),
    ("events_next_page", f"the next page (`events(after=<last event of the first page>, limit={PAGE})`)"),
)

Connection = psycopg.Connection[tuple[object, ...]]
Progress = Callable[[int, int, str], None]

# Mirrored columns for event g of object o (the benchmark table's row for key o, varied by g).
_VALUES = {
    "id": "o",
    "category_id": "1 + mod(o, 10)::integer",
    "qty": "mod(g, 1000)::integer",
    "stock": "mod(g, 37)::integer",
    "name": "'item ' || o",
    "price": "mod(g, 10000) / 100.0",
    "updated_at": "timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'",
    "active": "mod(g, 2) = 0",
}


def trackings() -> tuple[ph.Tracking, ph.Tracking]:
    table = ph.Table("item", COLUMNS, schema=SCHEMA)
    main = ph.Tracking(
        table, (ph.InsertEvent(), ph.UpdateEvent(), ph.DeleteEvent()),
        context=ph.FK, event_table="item_event", context_schema=SCHEMA,
    )
    price = ph.Tracking(
        table, (ph.UpdateEvent("price_changed"),), fields=("id", "price"),
        context=ph.FK, event_table="item_price_event", context_schema=SCHEMA,
    )
    return main, price


def _create(conn: Connection) -> None:
    schema = sql.Identifier(SCHEMA)
    conn.execute(sql.render(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema)))
    conn.execute(sql.render(sql.SQL("CREATE SCHEMA {}").format(schema)))
    conn.execute(sql.render(sql.SQL(
        "CREATE TABLE {} (id bigint PRIMARY KEY, category_id integer NOT NULL, qty integer NOT NULL, "
        "stock integer NOT NULL, name text NOT NULL, price numeric(12,2) NOT NULL, "
        "updated_at timestamp with time zone NOT NULL, active boolean NOT NULL)"
    ).format(sql.Identifier(SCHEMA, "item"))))
    ph.install(conn, list(trackings()))


def _fill(conn: Connection, tracking: ph.Tracking, events: int, objects: int, offset: float, step: float) -> None:
    """*events* events, object ``g % objects + 1``; event g at ``2024-01-01 + offset + g * step`` seconds."""
    ident = event_table_ident(tracking)
    conn.execute(sql.render(sql.SQL("ALTER TABLE {} SET UNLOGGED").format(ident)))
    indexes = conn.execute(
        "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass AND NOT indisprimary",
        (sql.render(ident),),
    ).fetchall()
    for (index,) in indexes:
        conn.execute("DROP INDEX " + str(index))  # regclass text is already quoted
    contexts = max(1, events // (CONTEXT_EVERY * EVENTS_PER_CONTEXT))
    values = {
        "pgh_created_at": sql.SQL(
            "timestamptz '2024-01-01 00:00:00+00' + make_interval(secs => {} + g * {})"
        ).format(sql.Literal(offset), sql.Literal(step)),
        "pgh_label": sql.SQL("CASE WHEN g <= {} THEN {} ELSE {} END").format(
            sql.Literal(objects), sql.Literal(tracking.labels[0]), sql.Literal(tracking.labels[min(1, len(tracking.labels) - 1)]),
        ),
        "pgh_obj_id": sql.SQL("o"),
        "pgh_context_id": sql.SQL("CASE WHEN g % {} = 0 THEN md5((g / {} % {} + 1)::text)::uuid END").format(
            sql.Literal(CONTEXT_EVERY), sql.Literal(CONTEXT_EVERY), sql.Literal(contexts)
        ),
        **{name: sql.SQL(expression) for name, expression in _VALUES.items()},
    }
    columns = ["pgh_created_at", "pgh_label", "pgh_obj_id", "pgh_context_id", *tracking.tracked_columns]
    query = sql.SQL(
        "INSERT INTO {} ({}) SELECT {} FROM generate_series(1, {}) AS g, LATERAL (SELECT g % {} + 1 AS o) AS s"
    ).format(
        ident,
        sql.join(", ", [sql.Identifier(c) for c in columns]),
        sql.join(", ", [values[c] for c in columns]),
        sql.Literal(events),
        sql.Literal(objects),
    )
    conn.execute(sql.render(query))
    conn.execute(sql.render(render.tracking_artefacts(tracking)[0].create))  # indexes, IF NOT EXISTS
    conn.execute(sql.render(sql.SQL("ALTER TABLE {} SET LOGGED").format(ident)))
    conn.execute(sql.render(sql.SQL("VACUUM (ANALYZE) {}").format(ident)))


def _plan_nodes(node: dict[str, object]) -> list[dict[str, object]]:
    nodes = [node]
    for child in node.get("Plans", []):  # type: ignore[union-attr,attr-defined]
        nodes.extend(_plan_nodes(child))  # type: ignore[arg-type]
    return nodes


def _plan(conn: Connection, query: str, event_tables: set[str]) -> dict[str, object]:
    row = conn.execute("EXPLAIN (FORMAT JSON) " + query).fetchone()
    assert row is not None  # noqa: S101
    plan: list[dict[str, dict[str, object]]] = json.loads(row[0]) if isinstance(row[0], str) else row[0]  # type: ignore[assignment]
    nodes = _plan_nodes(plan[0]["Plan"])
    # Bitmap Index Scan nodes name their index but not its table: read it from the catalog.
    tables = {
        str(index): str(table)
        for index, table in conn.execute(
            "SELECT indexrelid::regclass::text, indrelid::regclass::text FROM pg_index "
            "WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = %s::regnamespace)",
            (SCHEMA,),
        ).fetchall()
    }
    scans = sorted(
        {
            (str(n["Node Type"]),
             str(n.get("Relation Name") or tables.get(f"{SCHEMA}.{n['Index Name']}", "")).rpartition(".")[2],
             str(n.get("Index Name") or ""))
            for n in nodes
            if n.get("Relation Name") or n.get("Index Name")
        }
    )
    seq = [s for s in scans if s[0] == "Seq Scan" and s[1] in event_tables]
    return {
        "index_only": not seq,
        "scans": [{"node": n, "relation": r, "index": i or None} for n, r, i in scans],
    }


def run(conn: Connection, events: int, repeats: int, progress: Progress | None = None) -> dict[str, object]:
    """Fill the two event tables with *events* events, time the four reads *repeats* times
    (after a warm-up round) and EXPLAIN each; drop the schema. Returns the ``reads`` section."""
    progress = progress or (lambda done, total, label: None)
    objects = max(1, min(MAX_OBJECTS, events // 100))
    main, price = trackings()
    main_events = events - events // 10
    price_events = events - main_events
    total = 2 + (repeats + 1) * len(READS)
    try:
        progress(0, total, f"reads: filling {events:,} events")
        started = time.perf_counter()
        _create(conn)
        contexts = max(1, events // (CONTEXT_EVERY * EVENTS_PER_CONTEXT))
        conn.execute(sql.render(sql.SQL(
            "INSERT INTO {} (id, metadata) SELECT md5(i::text)::uuid, jsonb_build_object('request', i) "
            "FROM generate_series(1, {}) AS i"
        ).format(sql.Identifier(SCHEMA, "pghistory_context"), sql.Literal(contexts))))
        conn.execute(sql.render(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(SCHEMA, "pghistory_context"))))
        # Main events one second apart; price events ten seconds apart, half a second off,
        # so both tables cover the same time span and a page mixes them.
        _fill(conn, main, main_events, objects, 0.0, 1.0)
        progress(1, total, "reads: filling")
        _fill(conn, price, price_events, objects, 0.5, main_events / max(1, price_events))
        fill_seconds = time.perf_counter() - started
        progress(2, total, "reads: measuring")

        both = [main, price]
        rng = random.Random(8)
        pks = [rng.randint(1, objects) for _ in range(repeats + 1)]
        # The ids the fill gave contexts: md5(i::text)::uuid.
        context_ids = [
            uuid.UUID(hashlib.md5(str(rng.randint(1, contexts)).encode()).hexdigest()) for _ in range(repeats + 1)  # noqa: S324
        ]
        first_page = history.events(conn, both, limit=PAGE, newest_first=True)
        after = first_page[-1].cursor if first_page else None
        calls: dict[str, Callable[[int], list[history.Event]]] = {
            "object_history": lambda r: history.object_history(conn, both, main.table, pks[r]),
            "events_page": lambda r: history.events(conn, both, limit=PAGE, newest_first=True),
            "events_context": lambda r: history.events(
                conn, both, context_id=context_ids[r], limit=PAGE, newest_first=True
            ),
            "events_next_page": lambda r: history.events(conn, both, limit=PAGE, newest_first=True, after=after),
        }
        queries = {
            "object_history": history.object_history_sql(both, main.table, pks[0]),
            "events_page": history.events_sql(both, limit=PAGE, newest_first=True),
            "events_context": history.events_sql(both, context_id=context_ids[0], limit=PAGE, newest_first=True),
            "events_next_page": history.events_sql(both, limit=PAGE, newest_first=True, after=after),
        }
        samples: dict[str, list[float]] = {name: [] for name, _ in READS}
        returned: dict[str, list[int]] = {name: [] for name, _ in READS}
        names = [name for name, _ in READS]
        done = 2
        for r in range(repeats + 1):  # round 0 is the warm-up
            order = names[r % len(names):] + names[: r % len(names)]
            for name in order:
                label = "warm-up" if r == 0 else f"r{r}/{repeats}"
                progress(done, total, f"reads {events:>9,} events {label:>7} {name}")
                start = time.perf_counter()
                found = calls[name](r)
                seconds = time.perf_counter() - start
                if r:
                    samples[name].append(seconds)
                    returned[name].append(len(found))
                done += 1
        event_tables = {str(main.event_table), str(price.event_table)}
        measurements = []
        for name, title in READS:
            plan = _plan(conn, sql.render(queries[name]), event_tables)
            measurements.append({
                "read": name,
                "title": title,
                "samples_seconds": samples[name],
                "median_ms": statistics.median(samples[name]) * 1000,
                "events_returned_median": statistics.median(returned[name]),
                "index_only": plan["index_only"],
                "scans": plan["scans"],
            })
        progress(total, total, f"reads {events:>9,} events done")
        return {
            "events": events,
            "event_tables": {main.event_table: main_events, price.event_table: price_events},
            "objects": objects,
            "contexts": contexts,
            "page": PAGE,
            "repeats": repeats,
            "fill_seconds": fill_seconds,
            "measurements": measurements,
        }
    finally:
        conn.execute(sql.render(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA))))
