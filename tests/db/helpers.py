"""Shared helpers for database tests: run SQL, read event rows as dicts.

Layer: tests. Test-only SQL uses pghistory_core.sql for names, like the library.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

import pghistory_core as ph
from pghistory_core import sql


def events(
    conn: psycopg.Connection, table: str, columns: Sequence[str] = (), schema: str = "public", obj_ref: bool = True
) -> list[dict[str, object]]:
    """Rows of an event table ordered by pgh_id, as dicts of pgh_label, pgh_obj_id and *columns*."""
    wanted = ["pgh_label", "pgh_obj_id", *columns] if obj_ref else ["pgh_label", *columns]
    query = sql.SQL("SELECT {} FROM {} ORDER BY pgh_id").format(
        sql.join(", ", [sql.Identifier(c) for c in wanted]), sql.Identifier(schema, table)
    )
    cur = conn.execute(sql.render(query))
    return [dict(zip(wanted, row)) for row in cur.fetchall()]


def labels(conn: psycopg.Connection, table: str, schema: str = "public") -> list[str]:
    return [str(e["pgh_label"]) for e in events(conn, table, schema=schema)]


def track(conn: psycopg.Connection, *trackings: ph.Tracking) -> None:
    ph.install(conn, list(trackings))
