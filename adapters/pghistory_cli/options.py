"""Shared command-line plumbing: options, connecting, consoles and errors.

Layer: adapter (operator tool). Every command module (``commands``, ``demo`` and the ones
other parts of the project add, such as ``history_commands``) takes its ``--dsn`` and
``--spec`` options, its connection and its consoles from here, so they behave alike:

- ``--dsn`` falls back to ``$DATABASE_URL``; with neither, the command stops with a message
  saying so;
- ``--spec MODULE:ATTRIBUTE`` is repeatable and falls back to ``$PGHISTORY_SPEC``
  (whitespace-separated);
- connections are psycopg 3 in autocommit mode (the core opens its own transactions);
- failures exit with status 2 (:class:`CliError`), so ``pghistory check`` can keep status 1
  for "drift found", as ``diff`` does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import click
import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow
from rich.console import Console

from pghistory_cli.specs import SpecError, load_specs
from pghistory_core import Tracking

__all__ = [
    "CliError",
    "DSN_ENV",
    "SPEC_ENV",
    "Connection",
    "connect",
    "describe_dsn",
    "dsn_option",
    "err_console",
    "out_console",
    "require_dsn",
    "spec_option",
    "trackings_from",
]

DSN_ENV = "DATABASE_URL"
SPEC_ENV = "PGHISTORY_SPEC"

Connection = psycopg.Connection[TupleRow]
FC = TypeVar("FC", bound=Callable[..., object])


class CliError(click.ClickException):
    """A problem the operator must fix (bad option, unreachable server, invalid spec).

    Exit status 2; status 1 is reserved for ``check`` finding drift.
    """

    exit_code = 2


def out_console() -> Console:
    """A console on stdout, created per use so it follows the current terminal (and
    ``COLUMNS``/``NO_COLOR``) and click's test runner captures it."""
    return Console(highlight=False)


def err_console() -> Console:
    """A console on stderr, for progress and notes that must not pollute piped output."""
    return Console(stderr=True, highlight=False)


def dsn_option(func: FC) -> FC:
    """``--dsn`` (or ``$DATABASE_URL``)."""
    return click.option(
        "--dsn",
        envvar=DSN_ENV,
        metavar="DSN",
        help=f"libpq connection string or URI of the database [env: {DSN_ENV}].",
    )(func)


def spec_option(*, required: bool = True) -> Callable[[FC], FC]:
    """``--spec MODULE:ATTRIBUTE``, repeatable (or ``$PGHISTORY_SPEC``)."""
    return click.option(
        "--spec",
        "specs",
        multiple=True,
        envvar=SPEC_ENV,
        metavar="MODULE:ATTR",
        required=required,
        help=(
            "Trackings to act on: a module and an attribute holding a Tracking, a list of them, "
            "or a callable returning either. Repeatable. The module is imported with the current "
            f"directory on sys.path [env: {SPEC_ENV}, space-separated]."
        ),
    )


def require_dsn(dsn: str | None) -> str:
    if not dsn:
        raise CliError(f"no database given: pass --dsn or set {DSN_ENV}")
    return dsn


def describe_dsn(dsn: str) -> str:
    """*dsn* without its password, for messages."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    params.pop("password", None)
    return " ".join(f"{key}={value}" for key, value in sorted(params.items()) if value not in (None, ""))


#: The password of a DSN that may not parse: a URI's ``user:password@`` (libpq ends the
#: user info at the first "@" or "/"), or a ``password=`` keyword or URI query parameter.
_URI_PASSWORD = re.compile(r"^\s*[A-Za-z][A-Za-z0-9+.-]*://[^:@/]*:([^@/]*)@")
_KEYWORD_PASSWORD = re.compile(r"(?:^|[\s?&])password\s*=\s*('(?:[^'\\]|\\.)*'?|[^\s&]*)")


def hide_password(message: str, dsn: str) -> str:
    """*message* with the password of *dsn* blanked out, even when *dsn* does not parse
    (libpq quotes the offending token, e.g. a bad percent-escape in the password)."""
    secrets = [m.group(1) for m in _URI_PASSWORD.finditer(dsn)]
    secrets += [m.group(1).strip("'") for m in _KEYWORD_PASSWORD.finditer(dsn)]
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            message = message.replace(secret, "<password>")
    return message


@contextmanager
def connect(dsn: str | None) -> Iterator[Connection]:
    """An autocommit psycopg 3 connection to *dsn*, closed afterwards."""
    dsn = require_dsn(dsn)
    try:
        conn = psycopg.connect(dsn, autocommit=True)
    except psycopg.ProgrammingError as exc:
        raise CliError(f"invalid DSN: {hide_password(str(exc).strip(), dsn)}") from None
    except psycopg.OperationalError as exc:
        message = hide_password(str(exc).strip(), dsn)
        raise CliError(f"cannot connect to the database ({describe_dsn(dsn)}): {message}") from None
    with conn:
        yield conn


def trackings_from(specs: Sequence[str]) -> list[Tracking]:
    """Load every ``--spec``; a bad value becomes a :class:`CliError` naming it."""
    try:
        return load_specs(specs)
    except SpecError as exc:
        raise CliError(str(exc)) from None
