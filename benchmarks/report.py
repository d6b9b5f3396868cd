"""Benchmark output: ``results.json``, ``report.md``, PNG plots, and the targets.

Layer: benchmarks. :func:`build` turns raw samples into one JSON-ready document (every
repeat's samples kept next to the medians); :func:`write` renders the Markdown report and
the plots from that document alone, so a report can be regenerated from a saved
``results.json`` (``python -m benchmarks.report results.json``); :func:`headline` renders
the tables the project README quotes (``python -m benchmarks.report results.json --headline``),
so its figures are never copied by hand.

Ratios are ``median(variant) / median(untracked)`` for the same workload and size.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from pathlib import Path

import psycopg

from benchmarks.workloads import BULK_WORKLOADS, SINGLE_WORKLOADS, UNTRACKED, Sample, Variant, default_variant_name

__all__ = ["TARGETS", "Target", "collect_meta", "build", "write", "headline"]

Document = dict[str, Any]  # JSON-shaped: its values are read by key, not typed
SETTINGS = (
    "server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_level", "shared_buffers",
    "work_mem", "max_wal_size", "wal_compression",
)


@dataclasses.dataclass(frozen=True)
class Target:
    """A goal from the benchmarks issue: *workload* at *size* on the default variant."""

    text: str
    workload: str
    size: int
    limit: float


TARGETS = (
    Target("bulk UPDATE, 100k rows, default update tracker, FK context", "bulk_update", 100_000, 1.5),
    Target("bulk INSERT, 100k rows, FK context", "bulk_insert", 100_000, 1.3),
    Target("bulk DELETE, 100k rows, FK context", "bulk_delete", 100_000, 1.5),
    Target("single-row UPDATE in autocommit (loop of >= 2,000), FK context", "single_update", 2_000, 1.2),
)
#: The targets against django-pghistory, on its default (row level) with its context active,
#: through the suite's own statements on Django's cursor (``row_sql``).
#:
#: - Single row: the same statement through the same driver path on our side, our Django
#:   adapter's ``sql`` variant (default tracking, FK context, our context active), each a
#:   ratio to the same statement on an untracked copy through Django's cursor. A single-row
#:   write is a few hundred microseconds, so the path (Django's cursor, its execute wrappers,
#:   client-side binding) is a large part of it: only the same path on both sides compares
#:   the libraries. Our raw psycopg figure (the default variant) is reported next to it.
#: - Bulk: ours through raw psycopg (the default variant); at 10k rows and more the path
#:   is noise next to the statement.
PEER = "django-pghistory"
PEER_VARIANT = "row_sql"
OURS_DJANGO = "pghistory-django"
OURS_DJANGO_VARIANT = "sql"
SINGLE_TARGET = ("single-row UPDATE no slower than django-pghistory's default (row level): the same SQL "
                 "on Django's cursor, context on, ours through our Django adapter")
BULK_TARGET = "at least 3x faster than django-pghistory's default on every bulk workload of 10k rows or more"
BULK_FACTOR = 3.0
BULK_MIN_ROWS = 10_000


# --------------------------------------------------------------------------- metadata


def _git_commit() -> dict[str, object]:
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def collect_meta(conn: psycopg.Connection[tuple[object, ...]], embedded: bool) -> dict[str, object]:
    settings = {}
    for name in SETTINGS:
        row = conn.execute("SELECT current_setting(%s, true)", (name,)).fetchone()
        settings[name] = row[0] if row else None
    version = conn.execute("SELECT version()").fetchone()
    memory = None
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "postgres": {"version": version[0] if version else None, "settings": settings, "embedded": embedded},
        "python": {"version": sys.version.split()[0], "implementation": platform.python_implementation(),
                   "psycopg": psycopg.__version__},
        "git": _git_commit(),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "machine": platform.machine(),
                    "processor": platform.processor() or None, "memory_bytes": memory},
    }


# ------------------------------------------------------------------------------ build


def _median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def build(
    meta: dict[str, object],
    mode: str,
    variants: Sequence[Variant],
    results: Mapping[tuple[str, int, str], list[Sample]],
    orm: list[dict[str, object]],
    reads: dict[str, object] | None = None,
) -> Document:
    """The JSON document: metadata, variants, one entry per (workload, size, variant), the
    ORM runners' summaries (:mod:`benchmarks.orm`; ``peers`` lists the peer ones) and the
    read measurements (:mod:`benchmarks.reads`; None when not run)."""
    measurements = []
    for (workload, size, variant), samples in results.items():
        base = results.get((workload, size, UNTRACKED.name))
        seconds = [s.seconds for s in samples]
        median = _median(seconds)
        base_median = _median(s.seconds for s in base) if base else None
        base_wal = _median(s.wal_bytes for s in base) if base else None
        # Bulk sizes are rows per statement; for loops `seconds` is already per statement
        # and WAL is divided by the loop length.
        wal_per_row = _median(s.wal_bytes for s in samples) / size
        events = _median(s.events for s in samples)
        entry: dict[str, object] = {
            "workload": workload,
            "size": size,
            "variant": variant,
            "samples": {
                "seconds": seconds,
                "wal_bytes": [s.wal_bytes for s in samples],
                "events": [s.events for s in samples],
                "event_table_bytes": [s.event_table_bytes for s in samples],
            },
            "median_seconds": median,
            "ratio": median / base_median if base_median else None,
            "wal_bytes_per_row": wal_per_row,
            "extra_wal_bytes_per_row": (wal_per_row - base_wal / size) if base_wal is not None else None,
            "events_median": events,
            "event_bytes_per_event": (_median(s.event_table_bytes for s in samples) / events) if events else None,
        }
        measurements.append(entry)
    document: Document = {
        "format": 1,
        "meta": meta,
        "mode": mode,
        "default_variant": default_variant_name(),
        "variants": [v.describe() for v in variants],
        "workloads": [
            {"name": w.name, "title": w.title, "bulk": w.bulk, "events_per_row": w.events_per_row}
            for w in (*BULK_WORKLOADS, *SINGLE_WORKLOADS)
        ],
        "measurements": measurements,
        "reads": reads,
        "orm": orm,
        "peers": [
            {"package": r["name"], "configuration": r["configuration"], "status": r["status"],
             "versions": r.get("package") or {}}
            for r in orm if r["peer"]
        ],
    }
    document["targets"] = evaluate_targets(document)
    return document


def _find(document: Document, workload: str, size: int | None, variant: str) -> dict[str, Any] | None:
    for entry in document["measurements"]:  # type: ignore[union-attr]
        if entry["workload"] == workload and entry["variant"] == variant and (size is None or entry["size"] == size):
            return entry  # type: ignore[no-any-return]
    return None


def evaluate_targets(document: Document) -> list[dict[str, object]]:
    default = str(document["default_variant"])
    out: list[dict[str, object]] = []
    for target in TARGETS:
        bulk = target.workload.startswith("bulk")
        entry = _find(document, target.workload, target.size if bulk else None, default)
        measured_at = entry["size"] if entry else None
        value = entry["ratio"] if entry else None
        if entry is None or (not bulk and int(entry["size"]) < target.size):  # type: ignore[call-overload]
            status = "not measured at this size"
        else:
            status = "MET" if value is not None and float(value) <= target.limit else "MISSED"  # type: ignore[arg-type]
        out.append({"target": target.text, "limit": target.limit, "variant": default, "workload": target.workload,
                    "size": measured_at, "ratio": value, "status": status})
    out += _peer_targets(document)
    return out


def orm_entry(document: Document, runner: str, workload: str, size: int | None, variant: str) -> dict[str, Any] | None:
    for r in document.get("orm") or []:  # type: ignore[attr-defined]
        if r["name"] != runner:
            continue
        for m in r["measurements"]:
            if m["workload"] == workload and m["variant"] == variant and (size is None or m["size"] == size):
                return m  # type: ignore[no-any-return]
    return None


def _orm_baseline(document: Document, runner: str, workload: str, variant: str) -> dict[str, Any] | None:
    """The untracked measurement *runner*'s *variant* is a ratio to (its declared baseline)."""
    for r in document.get("orm") or []:  # type: ignore[attr-defined]
        if r["name"] == runner:
            baseline = next((v["baseline"] for v in r["variants"] if v["name"] == variant), None)
            return orm_entry(document, runner, workload, None, baseline) if baseline else None
    return None


def _orm_probe(document: Document, runner: str, workload: str, variant: str) -> dict[str, Any] | None:
    """*runner*'s probe (untracked, context on) measured against *variant*'s baseline."""
    for r in document.get("orm") or []:  # type: ignore[attr-defined]
        if r["name"] == runner:
            baseline = next((v["baseline"] for v in r["variants"] if v["name"] == variant), None)
            probe = next((v["name"] for v in r["variants"] if v.get("probe") and v["baseline"] == baseline), None)
            return orm_entry(document, runner, workload, None, probe) if probe else None
    return None


def _runner_status(document: Document, runner: str) -> str | None:
    """None when the ORM runner *runner* was measured, else why not."""
    for r in document.get("orm") or []:  # type: ignore[attr-defined]
        if r["name"] == runner:
            return None if r["status"] == "measured" else f"not measured: {runner} {r['status']}"
    return f"not measured: {runner} not run"


def _us(entry: Mapping[str, object]) -> str:
    return f"{float(entry['median_seconds']) * 1e6:.0f} us"  # type: ignore[arg-type]


def _latency(entry: Mapping[str, object] | None) -> str:
    """``"<us> us (<ratio>)"`` for a single-row measurement, ``-`` when there is none."""
    return f"{_us(entry)} ({_ratio(entry['ratio'])})" if entry else "-"


def _single_target(document: Document) -> dict[str, object]:
    """Our Django adapter's ``sql`` against django-pghistory's ``row_sql``, single-row UPDATE:
    the same statement, driver path and untracked baseline shape on both sides. MET when our
    ratio to untracked is no higher (each ratio is taken against its own untracked copy, in
    the same interleaved runs, so drift between the two runners' runs cancels out); both
    latencies are shown. Our raw psycopg figure is kept for reference."""
    default = str(document["default_variant"])
    single: dict[str, object] = {"target": SINGLE_TARGET, "limit": None, "runner": OURS_DJANGO,
                                 "variant": OURS_DJANGO_VARIANT, "peer_variant": PEER_VARIANT,
                                 "workload": "single_update", "size": None, "ratio": None}
    raw = _find(document, "single_update", None, default)
    reference = []
    if raw:
        single["raw_psycopg"] = {"variant": default, "median_seconds": raw["median_seconds"], "ratio": raw["ratio"]}
        reference.append(f"ours through raw psycopg ({default}, its own baseline): {_us(raw)} ({_ratio(raw['ratio'])})")
    why = _runner_status(document, PEER) or _runner_status(document, OURS_DJANGO)
    ours = orm_entry(document, OURS_DJANGO, "single_update", None, OURS_DJANGO_VARIANT)
    theirs = orm_entry(document, PEER, "single_update", None, PEER_VARIANT)
    if why is not None or not (ours and theirs and ours["ratio"] and theirs["ratio"]):
        single.update(status=why or "not measured", measured="; ".join(reference) or None)
        return single
    bases = [_orm_baseline(document, n, "single_update", v) for n, v in ((OURS_DJANGO, OURS_DJANGO_VARIANT), (PEER, PEER_VARIANT))]
    mine, peer = float(ours["ratio"]), float(theirs["ratio"])  # type: ignore[arg-type]
    compared = [
        f"ours {_us(ours)} ({mine:.2f}x) vs {PEER} {_us(theirs)} ({peer:.2f}x)",
        "untracked on Django's cursor " + " / ".join(_us(b) if b else "-" for b in bases),
    ]
    single.update(
        size=ours["size"], ratio=mine, peer_ratio=peer,
        median_seconds=ours["median_seconds"], peer_median_seconds=theirs["median_seconds"],
        measured="; ".join(compared + reference),
        status="MET" if mine <= peer else "MISSED",
    )
    return single


def _peer_targets(document: Document) -> list[dict[str, object]]:
    default = str(document["default_variant"])
    why = _runner_status(document, PEER)
    bulk: dict[str, object] = {"target": BULK_TARGET, "limit": None, "variant": default, "workload": None,
                               "size": None, "ratio": None, "status": why}
    single = _single_target(document)
    if why is not None:
        return [single, bulk]
    factors = []
    for workload in BULK_WORKLOADS:
        for size in _sizes(document, workload.name):
            if size < BULK_MIN_ROWS:
                continue
            ours, theirs = _find(document, workload.name, size, default), orm_entry(document, PEER, workload.name, size, PEER_VARIANT)
            if ours and theirs and ours["ratio"] and theirs["ratio"]:
                factors.append((float(theirs["ratio"]) / float(ours["ratio"]), workload.name, size))  # type: ignore[arg-type]
    if factors:
        worst = min(factors)
        compared = " and ".join(_rows(n) for n in sorted({n for _, _, n in factors}))
        bulk.update(workload=worst[1], size=worst[2], ratio=worst[0], limit=BULK_FACTOR,
                    measured=f"worst {worst[0]:.2f}x faster ({worst[1]} at {_rows(worst[2])}; compared at {compared})",
                    factors=[{"workload": w, "size": n, "factor": f} for f, w, n in factors],
                    status="MET" if worst[0] >= BULK_FACTOR else "MISSED")
    else:
        bulk["status"] = "not measured at this size"
    return [single, bulk]


# ------------------------------------------------------------------------------ write


def write(document: Document, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    plots = write_plots(document, out)
    (out / "report.md").write_text(markdown(document, plots), encoding="utf-8")


def _variants(document: Document, workload: str) -> list[str]:
    seen = {e["variant"] for e in document["measurements"] if e["workload"] == workload}  # type: ignore[union-attr,index]
    return [v["name"] for v in document["variants"] if v["name"] in seen]  # type: ignore[union-attr,index]


def _bulk_variants(document: Document) -> list[str]:
    """Variants measured in any bulk workload, in document order (probes excluded)."""
    seen = {e["variant"] for e in document["measurements"] if str(e["workload"]).startswith("bulk")}  # type: ignore[union-attr,index]
    return [v["name"] for v in document["variants"] if v["name"] in seen]  # type: ignore[union-attr,index]


def _sizes(document: Document, workload: str) -> list[int]:
    return sorted({int(e["size"]) for e in document["measurements"] if e["workload"] == workload})  # type: ignore[union-attr,index]


def _ratio(value: object) -> str:
    return "-" if value is None else f"{float(value):.2f}x"  # type: ignore[arg-type]


def _rows(size: int) -> str:
    for unit, factor in (("M", 1_000_000), ("k", 1_000)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def environment(meta: Mapping[str, Any]) -> list[str]:
    """The run's environment as the reports state it: server and settings, client, machine."""
    pg, py, git, machine = meta["postgres"], meta["python"], meta["git"], meta["machine"]
    settings = pg["settings"]
    return [
        f"- Postgres {settings['server_version']} ({'embedded' if pg['embedded'] else 'given DSN'}); "
        + ", ".join(f"{k}={settings[k]}" for k in SETTINGS[1:]),
        f"- Python {py['version']}, psycopg {py['psycopg']}; commit {git['commit']}{' (dirty)' if git['dirty'] else ''}",
        f"- {machine['cpu_count']} CPUs, {machine['platform']}; run {meta['started']} to {meta['finished']}",
    ]


def markdown(document: Document, plots: Sequence[str]) -> str:
    meta = document["meta"]
    assert isinstance(meta, dict)  # noqa: S101
    workloads = {w["name"]: w for w in document["workloads"]}  # type: ignore[union-attr,index]
    lines = [
        f"# pghistory benchmarks ({document['mode']} mode)",
        "",
        *environment(meta),
        f"- sizes {meta['mode']['sizes']}, {meta['mode']['repeats']} repeats, single-row loops of {meta['mode']['loops']}; "
        + ("session synchronous_commit=off (commit flush latency excluded; see --sync-commit)"
           if meta.get("synchronous_commit_off") else "server's synchronous_commit"),
        "",
        "Figures are `median(tracked) / median(untracked)` for the same statement on an identical "
        "copy of an 8-column table, all variants interleaved in every repeat. A bulk figure times "
        "`BEGIN`, the context statement (FK/denorm variants), the write and `COMMIT`. Variants: "
        "`row_*`/`stmt_*` = row/statement-level triggers; `*_off` no context, `*_fk` context by "
        "reference, `*_denorm` context copied into each event; `stmt_fk_part` is `stmt_fk` with the "
        "event table partitioned by month (`Tracking(partition=\"month\")`). The default configuration is "
        f"`{document['default_variant']}`.",
        "",
        "## Targets",
        "",
    ]
    lines += _table(
        ("target", "limit", "measured", "status"),
        (
            (str(t["target"]), _ratio(t["limit"]),
             str(t["measured"]) if t.get("measured") else _ratio(t["ratio"]) + (f" at {_rows(int(t['size']))}" if t["size"] else ""),
             f"**{t['status']}**" if t["status"] in ("MET", "MISSED") else str(t["status"]))
            for t in document["targets"]  # type: ignore[union-attr]
        ),
    )
    for workload in BULK_WORKLOADS:
        variants = _variants(document, workload.name)
        if not variants:
            continue
        lines += [f"## {workload.title}", "", "Time ratio to untracked (untracked median in ms)."]
        lines += [""]
        rows = []
        for size in _sizes(document, workload.name):
            base = _find(document, workload.name, size, UNTRACKED.name)
            row = [_rows(size), f"{float(base['median_seconds']) * 1000:.2f}" if base else "-"]  # type: ignore[arg-type]
            row += [_ratio((_find(document, workload.name, size, v) or {}).get("ratio")) for v in variants if v != UNTRACKED.name]
            rows.append(row)
        lines += _table(["rows", "untracked ms", *[v for v in variants if v != UNTRACKED.name]], rows)
        if f"{workload.name}.png" in plots:
            lines += [f"![{workload.title}]({workload.name}.png)", ""]
    single = [w for w in SINGLE_WORKLOADS if _variants(document, w.name)]
    if single:
        lines += ["## Single-row writes in autocommit", "",
                  "Latency per statement in microseconds, and the ratio to untracked. With context "
                  "active each write carries a fresh context as a comment in front of its text, as the "
                  "integrations send it in autocommit (a new text per context, so never a prepared "
                  "statement). The loops of all variants run interleaved, 50 writes of one variant at a time.", ""]
        variants = _variants(document, single[0].name)
        rows = []
        for v in variants:
            row = [v]
            for w in single:
                entry = _find(document, w.name, None, v)
                row.append(_latency(entry))
            rows.append(row)
        lines += _table(["variant", *[w.name for w in single]], rows)
        cost = meta.get("client_context_cost")
        if cost:
            lines += [
                "`untracked_ctx` sends the context comment to the untracked copy: the transport's own cost. "
                "`untracked_ctx_stmt` sends the context statement with the write in one psycopg pipeline "
                "instead (the transport while the database holds triggers that cannot read the comment). "
                "`untracked_ctx_flush` sends those two statements through libpq's pipeline directly, "
                "queued and written to the socket in one go: psycopg's pipeline writes each statement as "
                "it is executed and reads what is ready in between, so the server wakes up for each. "
                "Contexts are rendered before the clock starts; opening a context and rendering its "
                f"statement costs the client {cost['context_and_statement_us']:.0f} us, "
                f"{cost['statement_only_us']:.0f} us of it in `transport.context_statement`"
                + (f"; `transport.context_comment` takes {cost['comment_only_us']:.1f} us." if "comment_only_us" in cost else "."),
                "",
            ]
    lines += _storage_section(document)
    lines += _reads_section(document)
    lines += _events_section(document, workloads)
    lines += _pairing_section(document)
    lines += _orm_section(document, plots)
    return "\n".join(lines)


def _storage_section(document: Document) -> list[str]:
    lines = ["## WAL and event-table size", ""]
    largest = {w.name: _sizes(document, w.name)[-1] for w in BULK_WORKLOADS if _sizes(document, w.name)}
    if not largest:
        return []
    workloads = [w for w in BULK_WORKLOADS if w.name in largest]
    lines.append(
        "WAL bytes per row written by the whole transaction (extra over untracked in parentheses), "
        "and event-table bytes (heap, indexes, TOAST) per event, at the largest size measured."
    )
    lines.append("")
    header = ["variant"] + [f"{w.name} WAL/row @{_rows(largest[w.name])}" for w in workloads] + ["event bytes/event"]
    rows = []
    for v in _bulk_variants(document):
        row = [v]
        for w in workloads:
            entry = _find(document, w.name, largest[w.name], v)
            if entry is None:
                row.append("-")
                continue
            extra = entry["extra_wal_bytes_per_row"]
            row.append(f"{float(entry['wal_bytes_per_row']):.0f}" + (f" (+{float(extra):.0f})" if extra and v != UNTRACKED.name else ""))  # type: ignore[arg-type]
        first = workloads[0].name
        entry = _find(document, first, largest[first], v)
        size = entry.get("event_bytes_per_event") if entry else None
        row.append(f"{float(size):.0f}" if size else "-")  # type: ignore[arg-type]
        rows.append(row)
    return lines + _table(header, rows)


def _reads_section(document: Document) -> list[str]:
    section = document.get("reads")
    if not section:
        return []
    assert isinstance(section, dict)  # noqa: S101
    tables = ", ".join(f"`{name}` {_rows(int(count))}" for name, count in section["event_tables"].items())
    lines = [
        "## Reading history",
        "",
        f"{_rows(int(section['events']))} events in two event tables tracking one table ({tables}), "
        f"{section['objects']:,} objects, {section['contexts']:,} contexts; the default level, FK context. "
        f"Median latency over {section['repeats']} repeats through `pghistory_core.history` (building the "
        "`Event` objects included), all reads interleaved after a warm-up round. *Index only*: the plan "
        "(`EXPLAIN`) reads no event table with a Seq Scan (at small sizes a scan is the planner's right choice).",
        "",
    ]
    lines += _table(
        ("read", "median ms", "events returned", "index only", "event-table scans"),
        (
            (str(m["title"]), f"{float(m['median_ms']):.2f}", f"{float(m['events_returned_median']):g}",
             "yes" if m["index_only"] else "**no**",
             ", ".join(sorted({f"{s['node']} {s['relation']}" + (f" ({s['index']})" if s["index"] else "")
                               for s in m["scans"] if s["relation"] in section["event_tables"]})))
            for m in section["measurements"]
        ),
    )
    return lines


def _events_section(document: Document, workloads: Mapping[str, Mapping[str, object]]) -> list[str]:
    """Events recorded vs expected: a variant that records nothing must not look fast."""
    lines = ["## Events recorded", "", "Median events per measurement / expected, at the largest size.", ""]
    tracked = [v for v in _bulk_variants(document) if v != UNTRACKED.name]
    rows = []
    for name, workload in workloads.items():
        sizes = _sizes(document, name)
        if not sizes:
            continue
        size = sizes[-1]
        expected = int(float(workload["events_per_row"]) * size)  # type: ignore[arg-type]
        cells = [f"{name} @{_rows(size)}"]
        for v in tracked:
            entry = _find(document, name, size, v)
            cells.append(f"{entry['events_median']:.0f}/{expected}" if entry else "-")
        rows.append(cells)
    header = ["workload", *tracked]
    return lines + _table(header, rows)


def _pairing_section(document: Document) -> list[str]:
    experimental = [v["name"] for v in document["variants"] if v["pairing"]]  # type: ignore[union-attr,index]
    if not experimental:
        return []
    compared = [str(document["default_variant"]), *experimental]
    lines = [
        "## Experiment: pairing old and new rows in statement-level UPDATE",
        "",
        "`stmt_fk` is the generated function (old and new rows paired by position in the transition "
        "tables). `stmt_fk_pkjoin` is the earlier generated form: a primary-key join, then an "
        "anti-join guard and a positional statement for rows whose key changed (equivalent). "
        "`stmt_fk_noguard` is the key join alone (NOT equivalent; a lower bound for key joins). "
        "Time ratio to untracked.",
        "",
    ]
    for workload in ("bulk_update", "bulk_update_half"):
        rows = []
        for size in _sizes(document, workload):
            rows.append([_rows(size), *[_ratio((_find(document, workload, size, v) or {}).get("ratio")) for v in compared]])
        lines += [f"{workload}:", ""] + _table(["rows", *compared], rows)
    return lines


def _orm_columns(document: Document) -> list[tuple[str, str]]:
    """(runner, variant) of every tracked ORM variant measured, in runner order."""
    return [
        (str(r["name"]), str(v["name"]))
        for r in document.get("orm") or []  # type: ignore[attr-defined]
        if r["status"] == "measured"
        for v in r["variants"]
        if v["baseline"] and not v.get("probe")
    ]


def _orm_cell(entry: Mapping[str, object] | None, single: bool = False) -> str:
    if entry is None:
        return "-"
    events = f"{float(entry['events_median']):.0f}/{entry['events_expected']}"  # type: ignore[arg-type]
    ratio = _ratio(entry["ratio"])
    if single:
        ratio = f"{_us(entry)} ({ratio})"
    return f"{ratio} [{events}]"


def _orm_section(document: Document, plots: Sequence[str]) -> list[str]:
    runners = document.get("orm") or []
    if not runners:
        return ["## Peers and adapters", "", "Not run (`--no-orm`).", ""]
    default = str(document["default_variant"])
    raw = [v for v in (default, "row_fk") if any(e["variant"] == v for e in document["measurements"])]  # type: ignore[union-attr,index]
    lines = [
        "## Peers and adapters",
        "",
        "Each library in its recommended configuration on the same table and workloads, in its own "
        "schema of the same database, measured by a runner in its own interpreter "
        "(peers in the peer venv). A figure is `median(tracked) / median(untracked)` where the untracked write goes "
        "through the same path (same ORM call, or the same SQL) on an untracked copy; `[n/m]` is "
        "events recorded / events expected. **A library that records fewer events than expected is "
        "not tracking that write: its figure is not a cost.** "
        f"For comparison, this project's raw psycopg figures: {', '.join(f'`{v}`' for v in raw)}. "
        f"`{PEER} row_sql` / `stmt_sql` and `{OURS_DJANGO} {OURS_DJANGO_VARIANT}` run the suite's own "
        "SQL statements on Django's cursor with the library's context active (its triggers and "
        f"context transport alone): the single-row target compares `{OURS_DJANGO} {OURS_DJANGO_VARIANT}` "
        f"with `{PEER} {PEER_VARIANT}` (same statement, same path, same untracked baseline), the bulk "
        f"target `{PEER} {PEER_VARIANT}` with `{default}`.",
        "",
    ]
    lines += _table(
        ("library", "versions", "configuration", "status"),
        (
            (str(r["name"]) + ("" if r["peer"] else " (this project)"),
             ", ".join(f"{k} {v}" for k, v in (r.get("package") or {}).items()) or "-",  # type: ignore[union-attr]
             str(r["configuration"]), str(r["status"]))
            for r in runners  # type: ignore[union-attr]
        ),
    )
    columns = _orm_columns(document)
    if not columns:
        return lines
    descriptions = {
        (str(r["name"]), str(v["name"])): str(v["description"])
        for r in runners if r["status"] == "measured" for v in r["variants"]  # type: ignore[union-attr]
    }
    lines += ["Variants: " + "; ".join(f"`{n} {v}`: {descriptions[(n, v)]}" for n, v in columns) + ".", ""]
    for workload in BULK_WORKLOADS:
        sizes = _sizes_orm(document, workload.name)
        if not sizes:
            continue
        rows = []
        for size in sizes:
            row = [_rows(size)] + [_ratio((_find(document, workload.name, size, v) or {}).get("ratio")) for v in raw]
            row += [_orm_cell(orm_entry(document, n, workload.name, size, v)) for n, v in columns]
            rows.append(row)
        lines += [f"### {workload.title}", ""]
        lines += _table(["rows", *[f"ours {v} (raw)" for v in raw], *[f"{n} {v}" for n, v in columns]], rows)
        if f"{workload.name}_orm.png" in plots:
            lines += [f"![{workload.title}: peers and adapters]({workload.name}_orm.png)", ""]
    single = [w for w in SINGLE_WORKLOADS if any(orm_entry(document, n, w.name, None, v) for n, v in columns)]
    if single:
        lines += ["### Single-row writes in autocommit", "", "Latency per write, ratio to the same path untracked, events.", ""]
        rows = [[f"ours {v} (raw)", *[_orm_cell({**e, "events_expected": int(e["size"]), "events_median": e["events_median"]}, True)
                                     if (e := _find(document, w.name, None, v)) else "-" for w in single]] for v in raw]
        rows += [[f"{n} {v}", *[_orm_cell(orm_entry(document, n, w.name, None, v), True) for w in single]] for n, v in columns]
        lines += _table(["variant", *[w.name for w in single]], rows)
    return lines + _fair_single_section(document)


def _fair_single_section(document: Document) -> list[str]:
    """The single-row target's two sides, untracked and tracked latency each, on Django's cursor."""
    rows = []
    for n, v in ((OURS_DJANGO, OURS_DJANGO_VARIANT), (PEER, PEER_VARIANT)):
        entry = orm_entry(document, n, "single_update", None, v)
        if entry is None:
            continue
        base = _orm_baseline(document, n, "single_update", v)
        probe = _orm_probe(document, n, "single_update", v)
        rows.append([f"{n} {v}" + ("" if n == PEER else " (this project)"), _us(base) if base else "-",
                     _latency(probe), _us(entry),
                     _ratio(entry["ratio"]), f"{float(entry['events_median']):.0f}/{entry['events_expected']}"])  # type: ignore[arg-type]
    if not rows:
        return []
    default = str(document["default_variant"])
    raw, base = _find(document, "single_update", None, default), _find(document, "single_update", None, UNTRACKED.name)
    if raw:
        probe = _find(document, "single_update", None, "untracked_ctx")
        rows.append([f"ours {default} (raw psycopg, another path: reference only)", _us(base) if base else "-",
                     _latency(probe), _us(raw),
                     _ratio(raw["ratio"]), f"{float(raw['events_median']):.0f}/{raw['size']}"])  # type: ignore[arg-type]
    return [
        "### Single-row UPDATE on Django's cursor: the fair comparison",
        "",
        ("The suite's single-row UPDATE on Django's cursor in autocommit, a fresh context around each "
         "write, each library on its default (django-pghistory: row level; this project: its default "
         "level, FK context); untracked is the same statement on an untracked copy through the same "
         "cursor. The single-row target compares the ratios. `untracked + context` is the same "
         "statement on another untracked copy with the library's context on: what its context "
         "transport alone costs (the rest of the tracked figure is its triggers)."),
        "",
        *_table(("library variant", "untracked", "untracked + context", "tracked", "ratio", "events"), rows),
    ]


def write_plots(document: Document, out: Path) -> list[str]:
    """One log-log plot per bulk workload (ratio vs rows, a line per variant). Returns the
    file names written; none when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    for workload in BULK_WORKLOADS:
        sizes = _sizes(document, workload.name)
        variants = [v for v in _variants(document, workload.name) if v != UNTRACKED.name]
        if not sizes or not variants:
            continue
        figure, axes = plt.subplots(figsize=(7, 4.5))
        for v in variants:
            points = [(s, (_find(document, workload.name, s, v) or {}).get("ratio")) for s in sizes]
            xs = [s for s, r in points if r]
            ys = [float(r) for s, r in points if r]  # type: ignore[arg-type]
            style = "--" if v.startswith("row") else ("-" if "_fk_" not in v else ":")
            axes.plot(xs, ys, style, marker="o", label=v)
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.axhline(1.0, color="grey", linewidth=0.8)
        axes.set_xlabel("rows per statement")
        axes.set_ylabel("time / untracked time")
        axes.set_title(workload.title)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
        figure.tight_layout()
        name = f"{workload.name}.png"
        figure.savefig(out / name, dpi=110)
        plt.close(figure)
        written.append(name)
    written += _orm_plots(document, out, plt)
    return written


def _orm_plots(document: Document, out: Path, plt: object) -> list[str]:
    """One log-log plot per bulk workload: this project's raw default next to every tracked
    ORM variant (peers and adapters); a variant that recorded fewer events than expected is
    drawn hollow, labelled "(records less)"."""
    columns = _orm_columns(document)
    default = str(document["default_variant"])
    written = []
    for workload in BULK_WORKLOADS:
        series = []
        for n, v in columns:
            entries = [e for e in (orm_entry(document, n, workload.name, s, v) for s in _sizes_orm(document, workload.name)) if e]
            points = [(int(e["size"]), float(e["ratio"])) for e in entries if e["ratio"]]  # type: ignore[arg-type]
            short = any(float(e["events_median"]) < int(e["events_expected"]) for e in entries)  # type: ignore[arg-type,call-overload]
            if points:
                series.append((f"{n} {v}" + (" (records less)" if short else ""), points, short))
        if not series:
            continue
        figure, axes = plt.subplots(figsize=(8, 5))  # type: ignore[attr-defined]
        ours = [(s, (_find(document, workload.name, s, default) or {}).get("ratio")) for s in _sizes(document, workload.name)]
        axes.plot([s for s, r in ours if r], [float(r) for s, r in ours if r], "-", color="black", linewidth=2,  # type: ignore[arg-type]
                  marker="o", label=f"ours {default} (raw psycopg)")
        for label, points, short in series:
            axes.plot([x for x, _ in points], [y for _, y in points], "-." if short else "--", marker="s",
                      fillstyle="none" if short else "full", label=label)
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.axhline(1.0, color="grey", linewidth=0.8)
        axes.set_xlabel("rows per statement")
        axes.set_ylabel("time / untracked time (same path)")
        axes.set_title(f"{workload.title}: peers and adapters")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=7)
        figure.tight_layout()
        name = f"{workload.name}_orm.png"
        figure.savefig(out / name, dpi=110)
        plt.close(figure)  # type: ignore[attr-defined]
        written.append(name)
    return written


#: The README's headline columns: (variant, column title).
HEADLINE_VARIANTS = (
    ("row_fk", "row level, FK context"),
    ("stmt_fk", "statement level, FK context (default)"),
    ("stmt_off", "statement level, no context"),
)


def headline(document: Document) -> str:
    """The README's tables: ratios at the two largest bulk sizes for the headline variants,
    single-row latencies, and the targets (met or missed, as evaluated)."""
    sizes = _sizes(document, BULK_WORKLOADS[0].name)[-2:]
    lines: list[str] = []
    for size in sizes:
        header = [f"{_rows(size)} rows, ratio to untracked", *[title for _, title in HEADLINE_VARIANTS]]
        rows = []
        for workload in BULK_WORKLOADS:
            base = _find(document, workload.name, size, UNTRACKED.name)
            if base is None:
                continue
            cells = [_ratio((_find(document, workload.name, size, v) or {}).get("ratio")) for v, _ in HEADLINE_VARIANTS]
            title = f"{workload.title} (untracked {float(base['median_seconds']) * 1000:.0f} ms)"  # type: ignore[arg-type]
            rows.append([title, *cells])
        lines += _table(header, rows)
    single = [w for w in SINGLE_WORKLOADS if _find(document, w.name, None, UNTRACKED.name)]
    if single:
        rows = []
        for w in single:
            base = _find(document, w.name, None, UNTRACKED.name)
            assert base is not None  # noqa: S101 - filtered above
            cells = []
            for v, _ in HEADLINE_VARIANTS:
                entry = _find(document, w.name, None, v)
                cells.append(_latency(entry))
            probe = _find(document, w.name, None, "untracked_ctx")
            rows.append([f"{w.title} (untracked {_us(base)})", _latency(probe), *cells])
        lines += _table(["single-row latency", "untracked, context comment sent", *[title for _, title in HEADLINE_VARIANTS]], rows)
    lines += _table(
        ("target", "measured", "status"),
        (
            (str(t["target"]),
             str(t["measured"]) if t.get("measured") else _ratio(t["ratio"]) + (f" at {_rows(int(t['size']))}" if t["size"] else ""),
             str(t["status"]).lower() if t["status"] in ("MET", "MISSED") else str(t["status"]))
            for t in document["targets"]  # type: ignore[union-attr]
        ),
    )
    return "\n".join(lines)


def _sizes_orm(document: Document, workload: str) -> list[int]:
    return sorted({int(m["size"]) for r in document.get("orm") or [] for m in r["measurements"] if m["workload"] == workload})  # type: ignore[attr-defined,index,union-attr]


if __name__ == "__main__":  # regenerate report.md and plots from a results.json (or print the headline)
    path = Path(sys.argv[1])
    saved = json.loads(path.read_text(encoding="utf-8"))
    if sys.argv[2:] == ["--headline"]:
        print(headline(saved))
    else:
        write(saved, path.parent)
