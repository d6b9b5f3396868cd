"""Peewee adapter tests: databases for both drivers, and the example models bound per test.

Layer: tests (database tier). ``pdb`` is a history-aware Peewee database on the fresh test
database, once with psycopg2 and once with psycopg 3; the example models (bound to a
``DatabaseProxy``) point at it for the test, and their tables and history are created.
"""

from __future__ import annotations

from collections.abc import Iterator

import peewee
import pytest
from psycopg.conninfo import conninfo_to_dict

import pghistory_peewee as pgh
from tests.peewee import models

DRIVERS = {
    "psycopg2": pgh.HistoryPostgresqlDatabase,
    "psycopg3": pgh.database.HistoryPsycopg3Database,
}


def connect_args(dsn: str) -> tuple[str, dict[str, object]]:
    params = conninfo_to_dict(dsn)
    return str(params.pop("dbname")), params


def make_database(cls: type[peewee.Database], dsn: str, **kwargs: object) -> peewee.Database:
    name, params = connect_args(dsn)
    return cls(name, **params, **kwargs)


@pytest.fixture(params=sorted(DRIVERS))
def pdb(request: pytest.FixtureRequest, dsn: str) -> Iterator[peewee.Database]:
    database = make_database(DRIVERS[request.param], dsn)
    models.proxy.initialize(database)
    pgh.create_tables(database, models.ALL)
    try:
        yield database
    finally:
        database.close()
        models.proxy.initialize(None)
