"""Test harness of the Django tier: Django set up once, one database for the session.

Layer: tests. :func:`setup` configures Django with ``tests.django.settings`` (safe to call
from any test module that needs Django); the ``django_db`` session fixture creates a
database on the test server (``pg_server`` + :func:`tests.pg.fresh_database`), points
every configured alias at it and runs ``migrate`` once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import django
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.pg import Server, fresh_database

_KEYS = {"dbname": "NAME", "user": "USER", "password": "PASSWORD", "host": "HOST", "port": "PORT"}


def setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django.settings")
    from django.apps import apps

    if not apps.ready:
        django.setup()


def database_settings(dsn: str) -> dict[str, object]:
    """Django's DATABASES keys for a libpq DSN (unknown keys go to OPTIONS)."""
    values: dict[str, object] = {"OPTIONS": {}}
    for key, value in conninfo_to_dict(dsn).items():
        if key in _KEYS:
            values[_KEYS[key]] = value
        else:
            values["OPTIONS"][key] = value  # type: ignore[index]
    return values


def configure_database(alias: str, dsn: str) -> None:
    """Point *alias* at *dsn* (creating the alias from ``default``'s settings if new)."""
    from django.db import connections

    settings = connections.settings
    if alias not in settings:
        settings[alias] = dict(settings["default"])
    if alias in connections:  # pragma: no cover - only when reconfigured
        connections[alias].close()
    settings[alias].update(database_settings(dsn))


def remove_database(alias: str) -> None:
    from django.db import connections

    connections[alias].close()
    del connections[alias]
    del connections.settings[alias]


@pytest.fixture(scope="session")
def django_db(pg_server: Server) -> Iterator[str]:
    setup()
    from django.core.management import call_command
    from django.db import connections

    with fresh_database(pg_server) as dsn:
        configure_database("default", dsn)
        call_command("migrate", verbosity=0)
        try:
            yield dsn
        finally:
            connections.close_all()
