"""``pghistory bench``: run the benchmark suite from the command line.

Layer: adapter (operator tool). The suite lives in the top-level ``benchmarks`` package of
the source tree (it is not part of the installed library). This module registers a thin
command that loads it when invoked, as the installed package ``benchmarks`` when importable,
otherwise from the ``benchmarks/`` folder of the checkout this module sits in, and fails
with a clear message when neither exists. Options are those of ``benchmarks.run.main``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import click

from pghistory_cli.options import CliError

__all__ = ["register", "load_benchmarks"]

#: ``adapters/pghistory_cli/bench_commands.py`` -> the repository root.
_CHECKOUT = Path(__file__).resolve().parent.parent.parent


def load_benchmarks() -> ModuleType:
    """``benchmarks.run``, imported or loaded from the checkout."""
    if importlib.util.find_spec("benchmarks") is None:
        if not (_CHECKOUT / "benchmarks" / "run.py").is_file():
            raise CliError(
                "the benchmark suite is not available: it lives in the benchmarks/ folder of the "
                "pghistory source tree; run `pghistory bench` from a checkout (pip install -e '.[bench]')"
            )
        sys.path.insert(0, str(_CHECKOUT))
    return importlib.import_module("benchmarks.run")


class _BenchCommand(click.Command):
    """Loads ``benchmarks.run`` on first use (help or invocation), not when the CLI starts."""

    def _real(self) -> click.Command:
        command = load_benchmarks().main
        assert isinstance(command, click.Command)  # noqa: S101 - benchmarks.run defines it with click
        return command

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        try:
            return self._real().get_params(ctx)
        except CliError:
            return super().get_params(ctx)

    def invoke(self, ctx: click.Context) -> object:
        return self._real().invoke(ctx)


def register(group: click.Group) -> None:
    group.add_command(
        _BenchCommand(
            "bench",
            help="Benchmark tracked vs untracked writes (row/statement level, each context mode); "
            "writes results.json, report.md and plots. Use --quick for a run under two minutes.",
            short_help="Benchmark tracked vs untracked writes.",
        )
    )
