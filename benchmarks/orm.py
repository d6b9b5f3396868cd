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


RUNNERS = (
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
    baselines = {v["name"]: v["baseline"] for v in document["variants"]}  # type: ignore[union-attr,index]
    probes = {v["name"] for v in document["variants"] if v.get("probe")}  # type: ignore[union-attr,index]
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


def run_runner(
    runner: Runner, python: str, dsn: str, sizes: Sequence[int], loops: int, repeats: int,
    workloads: Sequence[str], events_per_row: dict[str, float],
    progress: Callable[[int, int, str], None] | None = None, per_object_max_rows: int | None = None,
) -> dict[str, object]:
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
        return _status_only(runner, f"failed: {last}")
    document = json.loads(output.strip().splitlines()[-1])
    if document["status"] != "ok":
        return _status_only(runner, str(document["status"]))
    return {
        **runner.describe(),
        "status": "measured",
        "package": document["package"],
        "variants": document["variants"],
        "measurements": _summarise(document, events_per_row),
    }


def run_all(
    peers_python_path: str | None, dsn: str, sizes: Sequence[int], loops: int, repeats: int,
    workloads: Sequence[str], events_per_row: dict[str, float],
    progress: Callable[[str, int, int, str], None] | None = None,
    runners: Sequence[Runner] = RUNNERS, per_object_max_rows: int | None = None,
) -> list[dict[str, object]]:
    """Every runner's summary, in :data:`RUNNERS` order; bulk sizes above *per_object_max_rows*
    are skipped for the variants a runner marks as writing one object at a time."""
    results = []
    for runner in runners:
        python = peers_python(peers_python_path) if runner.peer else sys.executable
        if python is None:
            results.append(_status_only(runner, f"not installed: no peer venv given (--peers-python or {PEERS_PYTHON_ENV}; "
                                                f"see {REQUIREMENTS})"))
            continue
        missing = _missing(python, runner)
        if missing:
            results.append(_status_only(runner, f"not installed: {', '.join(missing)} missing in {python}"))
            continue
        step = (lambda done, total, label, name=runner.name: progress(name, done, total, label)) if progress else None
        results.append(run_runner(runner, python, dsn, sizes, loops, repeats, workloads, events_per_row, step,
                                  per_object_max_rows))
    return results
