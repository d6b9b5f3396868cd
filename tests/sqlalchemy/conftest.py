"""Fixtures for the SQLAlchemy adapter tests: an instrumented engine on a fresh database.

Layer: tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import pghistory_sqlalchemy as pgh
from tests.sqlalchemy.helpers import sa_url


@pytest.fixture
def engine(dsn: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(sa_url(dsn))
    pgh.instrument(engine)
    yield engine
    engine.dispose()
