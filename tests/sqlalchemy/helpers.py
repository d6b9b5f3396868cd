"""Helpers for the SQLAlchemy tests: engine URLs from the harness DSN, event rows.

Layer: tests.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from psycopg.conninfo import conninfo_to_dict


def sa_url(dsn: str, driver: str = "psycopg") -> sa.URL:
    """A SQLAlchemy URL (``postgresql+<driver>``) for a libpq DSN (URI or key=value)."""
    params = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    user = params.pop("user", None)
    password = params.pop("password", None)
    host = params.pop("host", None)
    port = params.pop("port", None)
    database = params.pop("dbname", None)
    if host is not None and host.startswith("/"):
        params["host"] = host  # a socket directory goes in the query string
        host = None
    return sa.URL.create(
        f"postgresql+{driver}",
        username=user,
        password=password,
        host=host,
        port=int(port) if port else None,
        database=database,
        query=params,
    )


def event_rows(bind: sa.Engine | sa.Connection, table: str, columns: Sequence[str] = ()) -> list[dict[str, object]]:
    """Rows of an event table in pgh_id order: pgh_label, pgh_obj_id and *columns*."""
    wanted = ["pgh_label", "pgh_obj_id", *columns]
    query = sa.select(*(sa.column(c) for c in wanted)).select_from(sa.table(table)).order_by(sa.column("pgh_id"))
    if isinstance(bind, sa.Engine):
        with bind.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]
    return [dict(row._mapping) for row in bind.execute(query)]
