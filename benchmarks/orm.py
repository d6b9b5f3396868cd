"""Peers and this project's adapters, measured through their ORMs by the runners of
:mod:`benchmarks.peers`.

Layer: benchmarks. Starts each runner in a subprocess: peer libraries in their own venv (the
interpreter given by ``--peers-python`` or ``PGHISTORY_BENCH_PEERS_PYTHON``; install it from
``benchmarks/peers/requirements.txt``), this project's adapters in the suite's interpreter.
Django peers and this project's Django adapter both use the app label ``pghistory``, so they
can never share one interpreter (``run_ours_django`` runs in the suite's interpreter). A runner whose library is missing is
reported as "not installed", never as fast; each measurement carries the events the library
recorded.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["Runner", "RUNNERS", "PEERS_PYTHON_ENV", "run_all"]

ROOT = Path(__file__).resolve().parent.parent
PEERS_PYTHON_ENV = "PGHISTORY_BENCH_PEERS_PYTHON"
REQUIREMENTS = "benchmarks/peers/requirements.txt"


@dataclasses.dataclass(frozen=True)
class Runner:
    """One library measured by ``benchmarks.peers.<module>``: *peer* runners need the peer
    venv; *requires* are the distributions (and import names) that must be installed."""

    name: str
    module: str
    peer: bool
    requires: tuple[str, ...]
    configuration: str
    imports: tuple[str, ...] = ()

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "peer": self.peer, "configuration": self.configuration}


RUNNERS: tuple[Runner, ...] = (
    Runner("django-pghistory", "run_django_pghistory", True, ("django-pghistory", "Django"),
           "row level (its default) and statement level; insert/update/delete trackers; pghistory.context "
           "around each transaction; Django ORM and raw SQL on Django's cursor"),
    Runner("django-simple-history", "run_simple_history", True, ("django-simple-history", "Django"),
           "HistoricalRecords(); bulk_create_with_history, QuerySet.update() (not recorded), QuerySet.delete(), save()"),
    Runner("SQLAlchemy-Continuum", "run_continuum", True, ("SQLAlchemy-Continuum",),
           "make_versioned(), __versioned__ = {}; Session (unit of work) and Core statements (not recorded)"),
    Runner("pghistory-sqlalchemy", "run_ours_sqlalchemy", False, ("SQLAlchemy",),
           "default tracking (statement level) and row level, FK context, instrument(engine); Session and Core statements "
           "(row level: Core statements)", ("pghistory_sqlalchemy",)),
    Runner("pghistory-peewee", "run_ours_peewee", False, ("peewee",),
           "default tracking (statement level) and row level, FK context, HistoryPostgresqlDatabase; "
           "insert_many/update()/delete(), create/save/delete_instance",
           ("pghistory_peewee",)),
    Runner("pghistory-django", "run_ours_django", False, ("Django", "django-pgtrigger"),
           "default tracking (statement level) and row level, FK context, @pghistory.track with insert/update/delete "
           "trackers, triggers by "
           "django-pgtrigger; pghistory.context around each transaction; Django ORM and raw SQL on Django's cursor; "
           "PGHISTORY_SCHEMA set to the runner's schema", ("pghistory_django", "pgtrigger")),
)

_CHECK = (
    "import importlib.metadata as m, importlib.util as u, sys\n"
    "missing = []\n"
    "for d in sys.argv[1].split(','):\n"
    "    try:\n        m.version(d)\n    except m.PackageNotFoundError:\n        missing.append(d)\n"
    "missing += [i for i in sys.argv[2].split(',') if i and u.find_spec(i) is None]\n"
    "print(','.join(missing))\n"
)


def peers_python(given: str | None) -> str | None:
    return given or os.environ.get(PEERS_PYTHON_ENV) or None


def _missing(python: str, runner: Runner) -> list[str]:
    result = subprocess.run([python, "-c", _CHECK, ",".join(runner.requires), ",".join(runner.imports)],
                            capture_output=True, text=True, cwd=ROOT, check=False)
    if result.returncode != 0:
        return [f"{python} does not run"]
    return [m for m in result.stdout.strip().split(",") if m]


def _status_only(runner: Runner, status: str) -> dict[str, object]:
    return {**runner.describe(), "status": status, "package": {}, "variants": [], "measurements": []}


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def _summarise(document: dict[str, object], events_per_row: dict[str, float]) -> list[dict[str, object]]:
    """Medians, the ratio to the variant's own untracked baseline, events vs expected."""
    raw = document["measurements"]
    assert isinstance(raw, list)  # noqa: S101 - our own runner's output
    variants = document["variants"]
    assert isinstance(variants, list)  # noqa: S101
    baselines = {v["name"]: v["baseline"] for v in variants}
    probes = {v["name"] for v in variants if v.get("probe")}
    medians = {(m["workload"], m["size"], m["variant"]): _median(m["samples"]["seconds"]) for m in raw}
    out = []
    for m in raw:
        median = medians[(m["workload"], m["size"], m["variant"])]
        baseline = baselines.get(m["variant"])
        base = medians.get((m["workload"], m["size"], baseline)) if baseline else None
        out.append({
            **m,
            "median_seconds": median,
            "ratio": median / base if base else None,
            "events_median": _median(m["samples"]["events"]),
            "events_expected": int(events_per_row[m["workload"]] * m["size"]) if baseline and m["variant"] not in probes else 0,
        })
    return out


def _invoke(
    runner: Runner, python: str, dsn: str, sizes: Sequence[int], loops: int, repeats: int,
    workloads: Sequence[str], progress: Callable[[int, int, str], None] | None, per_object_max_rows: int | None,
) -> dict[str, object]:
    """One run of *runner*'s script: its JSON document, or ``{"status": <why not>}``."""
    schema = "pghistory_bench_" + runner.module.removeprefix("run_")
    command = [python, "-m", f"benchmarks.peers.{runner.module}", "--dsn", dsn, "--schema", schema,
               "--sizes", ",".join(map(str, sizes)), "--loops", str(loops), "--repeats", str(repeats),
               "--workloads", ",".join(workloads)]
    if per_object_max_rows is not None:
        command += ["--per-object-max-rows", str(per_object_max_rows)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None and process.stdout is not None  # noqa: S101 - PIPE given
    errors: list[str] = []
    for line in process.stderr:
        parts = line.rstrip("\n").split(" ", 3)
        if parts[0] == "PROGRESS" and len(parts) >= 3:
            if progress is not None:
                progress(int(parts[1]), int(parts[2]), parts[3] if len(parts) > 3 else "")
        else:
            errors.append(line.rstrip("\n"))
    output = process.stdout.read()
    if process.wait() != 0 or not output.strip():
        last = next((e for e in reversed(errors) if e.strip()), "no output")
        return {"status": f"failed: {last}"}
    document: dict[str, object] = json.loads(output.strip().splitlines()[-1])
    return document


def _merged(documents: Sequence[dict[str, object]]) -> dict[str, object]:
    """One document from several runs of the same runner: the samples of each (workload,
    size, variant) concatenated, in run order."""
    merged: dict[tuple[str, int, str], dict[str, list[float]]] = {}
    for document in documents:
        for m in document["measurements"]:  # type: ignore[attr-defined]
            entry = merged.setdefault((m["workload"], m["size"], m["variant"]), {"seconds": [], "events": []})
            for key in entry:
                entry[key].extend(m["samples"][key])
    return {
        **documents[0],
        "measurements": [{"workload": w, "size": size, "variant": v, "samples": samples} for (w, size, v), samples in merged.items()],
    }


def _measured(runner: Runner, document: dict[str, object], events_per_row: dict[str, float]) -> dict[str, object]:
    return {
        **runner.describe(),
        "status": "measured",
        "package": document["package"],
        "variants": document["variants"],
        "measurements": _summarise(document, events_per_row),
    }


def run_runner(
    runner: Runner, python: str, dsn: str, sizes: Sequence[int], loops: int, repeats: int,
    workloads: Sequence[str], events_per_row: dict[str, float],
    progress: Callable[[int, int, str], None] | None = None, per_object_max_rows: int | None = None,
) -> dict[str, object]:
    """*runner*'s summary from one run of its script (every workload, *repeats* each)."""
    document = _invoke(runner, python, dsn, sizes, loops, repeats, workloads, progress, per_object_max_rows)
    if document["status"] != "ok":
        return _status_only(runner, str(document["status"]))
    return _measured(runner, document, events_per_row)


def run_all(
    peers_python_path: str | None, dsn: str, sizes: Sequence[int], loops: int, repeats: int,
    workloads: Sequence[str], events_per_row: dict[str, float],
    progress: Callable[[str, int, int, str], None] | None = None,
    runners: Sequence[Runner] = RUNNERS, per_object_max_rows: int | None = None,
) -> list[dict[str, object]]:
    """Every runner's summary, in *runners* order; bulk sizes above *per_object_max_rows*
    are skipped for the variants a runner marks as writing one object at a time.

    Each runner's bulk workloads run in one run of its script. Its single-row loops run in
    *repeats* runs of one repeat each, alternating between the runners (A B C, A B C, ...):
    each runner's loops interleave its own variants, but two runners never run at the same
    time, and single-row ratios measured minutes apart moved by up to 0.25x between runs of
    the suite on this project's machine (its speed drifts). Alternating puts every
    library's repeats in the same stretches of time, so the single-row comparison between
    libraries (a target) compares like with like."""
    single = [w for w in workloads if w.startswith("single_")]
    bulk = [w for w in workloads if w not in single]
    ready: list[tuple[Runner, str]] = []
    results: dict[str, dict[str, object]] = {}
    for runner in runners:
        python = peers_python(peers_python_path) if runner.peer else sys.executable
        if python is None:
            results[runner.name] = _status_only(runner, f"not installed: no peer venv given (--peers-python or {PEERS_PYTHON_ENV}; "
                                                        f"see {REQUIREMENTS})")
            continue
        missing = _missing(python, runner)
        if missing:
            results[runner.name] = _status_only(runner, f"not installed: {', '.join(missing)} missing in {python}")
            continue
        ready.append((runner, python))

    documents: dict[str, list[dict[str, object]]] = {runner.name: [] for runner, _ in ready}
    failed: dict[str, str] = {}
    offsets = {runner.name: 0 for runner, _ in ready}

    def run(runner: Runner, python: str, count: int, chosen: list[str]) -> None:
        """One run of *runner*'s script; its progress continues the runner's bar."""
        last = [0]

        def step(done: int, total: int, label: str) -> None:
            last[0] = total
            if progress is not None:
                progress(runner.name, offsets[runner.name] + done, offsets[runner.name] + total, label)

        document = _invoke(runner, python, dsn, sizes, loops, count, chosen, step, per_object_max_rows)
        offsets[runner.name] += last[0]
        if document["status"] == "ok":
            documents[runner.name].append(document)
        else:
            failed[runner.name] = str(document["status"])

    if bulk:
        for runner, python in ready:
            run(runner, python, repeats, bulk)
    for _ in range(repeats if single else 0):
        for runner, python in ready:
            if runner.name not in failed:
                run(runner, python, 1, single)
    for runner, _ in ready:
        if runner.name in failed:
            results[runner.name] = _status_only(runner, failed[runner.name])
        elif not documents[runner.name]:
            results[runner.name] = _status_only(runner, "not run: no bulk or single-row workload selected")
        else:
            results[runner.name] = _measured(runner, _merged(documents[runner.name]), events_per_row)
    return [results[runner.name] for runner in runners]
