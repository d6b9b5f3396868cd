"""Benchmark output: ``results.json``, ``report.md``, PNG plots, and the targets.

Layer: benchmarks. :func:`build` turns raw samples into one JSON-ready document (every
repeat's samples kept next to the medians); :func:`write` renders the Markdown report and
the plots from that document alone, so a report can be regenerated from a saved
``results.json`` (``python -m benchmarks.report results.json``).

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
from pathlib import Path

import psycopg

from benchmarks.workloads import BULK_WORKLOADS, SINGLE_WORKLOADS, UNTRACKED, Sample, Variant, default_variant_name

__all__ = ["TARGETS", "Target", "collect_meta", "build", "write"]

Document = dict[str, object]
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
#: Targets that need a peer library measured next to us.
PEER_TARGETS = (
    "single-row UPDATE no slower than django-pghistory",
    "at least 3x faster than django-pghistory's default on every bulk workload of 10k rows or more",
)


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
    peers: list[dict[str, str]],
) -> Document:
    """The JSON document: metadata, variants, and one entry per (workload, size, variant)."""
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
        "peers": peers,
    }
    document["targets"] = evaluate_targets(document)
    return document


def _find(document: Document, workload: str, size: int | None, variant: str) -> dict[str, object] | None:
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
    peers_present = [p for p in document["peers"] if p["status"] != "not installed"]  # type: ignore[union-attr,index]
    for text in PEER_TARGETS:
        note = "not measured: django-pghistory " + ("not run" if peers_present else "not installed")
        out.append({"target": text, "limit": None, "variant": default, "workload": None, "size": None, "ratio": None,
                    "status": note})
    return out


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


def markdown(document: Document, plots: Sequence[str]) -> str:
    meta = document["meta"]
    assert isinstance(meta, dict)  # noqa: S101
    pg, py, git, machine = meta["postgres"], meta["python"], meta["git"], meta["machine"]
    settings = pg["settings"]
    workloads = {w["name"]: w for w in document["workloads"]}  # type: ignore[union-attr,index]
    lines = [
        f"# pghistory benchmarks ({document['mode']} mode)",
        "",
        f"- Postgres {settings['server_version']} ({'embedded' if pg['embedded'] else 'given DSN'}); "
        + ", ".join(f"{k}={settings[k]}" for k in SETTINGS[1:]),
        f"- Python {py['version']}, psycopg {py['psycopg']}; commit {git['commit']}{' (dirty)' if git['dirty'] else ''}",
        f"- {machine['cpu_count']} CPUs, {machine['platform']}; run {meta['started']} to {meta['finished']}",
        f"- sizes {meta['mode']['sizes']}, {meta['mode']['repeats']} repeats, single-row loops of {meta['mode']['loops']}; "
        + ("session synchronous_commit=off (commit flush latency excluded; see --sync-commit)"
           if meta.get("synchronous_commit_off") else "server's synchronous_commit"),
        "",
        "Figures are `median(tracked) / median(untracked)` for the same statement on an identical "
        "copy of an 8-column table, all variants interleaved in every repeat. A bulk figure times "
        "`BEGIN`, the context statement (FK/denorm variants), the write and `COMMIT`. Variants: "
        "`row_*`/`stmt_*` = row/statement-level triggers; `*_off` no context, `*_fk` context by "
        "reference, `*_denorm` context copied into each event. The default configuration is "
        f"`{document['default_variant']}`.",
        "",
        "## Targets",
        "",
    ]
    lines += _table(
        ("target", "limit", "measured", "status"),
        (
            (str(t["target"]), _ratio(t["limit"]), _ratio(t["ratio"]) + (f" at {_rows(int(t['size']))}" if t["size"] else ""),
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
                  "active each write is preceded by its context statement in the same pipeline.", ""]
        variants = _variants(document, single[0].name)
        rows = []
        for v in variants:
            row = [v]
            for w in single:
                entry = _find(document, w.name, None, v)
                row.append(f"{float(entry['median_seconds']) * 1e6:.0f} us ({_ratio(entry['ratio'])})" if entry else "-")  # type: ignore[arg-type]
            rows.append(row)
        lines += _table(["variant", *[w.name for w in single]], rows)
        cost = meta.get("client_context_cost")
        if cost:
            lines += [
                "`untracked_ctx` sends the context statement to the untracked copy: the transport's own cost. "
                "Context statements are rendered before the clock starts; rendering costs the client "
                f"{cost['context_and_statement_us']:.0f} us per transaction (opening the context and rendering), "
                f"{cost['statement_only_us']:.0f} us of it in `transport.context_statement`.",
                "",
            ]
    lines += _storage_section(document)
    lines += _events_section(document, workloads)
    lines += _pairing_section(document)
    lines += ["## Peers", ""]
    lines += _table(("package", "configuration", "status"),
                    ((p["package"], p["configuration"], p["status"]) for p in document["peers"]))  # type: ignore[union-attr,index]
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
    return written


if __name__ == "__main__":  # regenerate report.md and plots from a results.json
    path = Path(sys.argv[1])
    saved = json.loads(path.read_text(encoding="utf-8"))
    write(saved, path.parent)
