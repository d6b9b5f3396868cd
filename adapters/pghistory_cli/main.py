"""The ``pghistory`` command: a click group and the modules that add commands to it.

Layer: adapter (operator tool). ``cli`` is the console script's entry point
(``pghistory = "pghistory_cli.main:cli"``; ``python -m pghistory_cli`` runs the same).

Commands live in modules exposing ``register(group: click.Group) -> None``:

- :mod:`pghistory_cli.commands`: ``ls``, ``install``, ``uninstall``, ``prune``, ``check``;
- :mod:`pghistory_cli.demo`: ``demo``;
- optional modules (:data:`OPTIONAL_COMMAND_MODULES`), registered when present:
  ``history_commands`` (reading history), ``bench_commands`` (benchmarks). A module that
  does not exist is skipped; one that exists but fails to import raises, so a broken
  module is never hidden.

Errors from the core (:class:`pghistory_core.PghistoryError`) and from the database driver
become a one-line ``Error: ...`` with exit status 2, for every command, including those
other modules register. Shared options and helpers are in :mod:`pghistory_cli.options`.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from typing import Any

import click
import psycopg

import pghistory_core
from pghistory_cli import commands, demo
from pghistory_cli.options import CliError

__all__ = ["cli", "register_commands", "OPTIONAL_COMMAND_MODULES"]

#: Command modules other parts of the project add; each exposes ``register(group)``.
OPTIONAL_COMMAND_MODULES = ("pghistory_cli.history_commands", "pghistory_cli.bench_commands")


class PghistoryGroup(click.Group):
    """A group that turns library and database errors into clean CLI errors."""

    def invoke(self, ctx: click.Context) -> Any:  # noqa: ANN401 - click's own signature
        try:
            return super().invoke(ctx)
        except pghistory_core.PghistoryError as exc:
            raise CliError(str(exc)) from None
        except psycopg.Error as exc:
            message = str(exc).strip() or type(exc).__name__
            raise CliError(f"database error: {message}") from None


@click.group(
    cls=PghistoryGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(pghistory_core.__version__, "--version", prog_name="pghistory")
def cli() -> None:
    """Trigger-based history for PostgreSQL: install, check and inspect history tracking.

    Commands that touch a database read --dsn or $DATABASE_URL, and the trackings to act
    on from --spec MODULE:ATTRIBUTE. `pghistory demo` needs neither: it starts a
    throwaway Postgres server.

    \b
    Exit status: 0 success; 1 `check` found drift (or the operator aborted); 2 error.
    """


def register_commands(group: click.Group, optional: Sequence[str] = OPTIONAL_COMMAND_MODULES) -> None:
    """Add the built-in commands, then those of each *optional* module that exists.

    Only a module that does not exist is skipped; an import error inside an existing
    module propagates, so a broken command module is never silently missing.
    """
    commands.register(group)
    demo.register(group)
    for name in optional:
        if importlib.util.find_spec(name) is None:
            continue
        importlib.import_module(name).register(group)


register_commands(cli)
