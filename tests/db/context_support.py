"""Shared helpers and fixtures of the context tests (this module holds no tests).

Layer: tests (database tier). One database per test module holds four tracked tables, one
per storage mode and trigger level; every test starts from empty tables. Events are read
back with their context id and metadata: from the shared ``pghistory_context`` row in FK
mode, from ``pgh_context`` in DENORMALIZED mode, so each assertion checks what a user
would query.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

import pghistory_core as ph
from pghistory_core.sql import SQL, Composable, Identifier, render
from tests.pg import Server, fresh_database

#: table name -> (context mode, trigger level)
TABLES: dict[str, tuple[ph.ContextMode, ph.Level]] = {
    "cash_fk_stmt": (ph.FK, ph.Statement),
    "cash_fk_row": (ph.FK, ph.Row),
    "cash_dn_stmt": (ph.DENORMALIZED, ph.Statement),
    "cash_dn_row": (ph.DENORMALIZED, ph.Row),
}
#: the table most tests write to
CASH = "cash_fk_stmt"


def trackings() -> list[ph.Tracking]:
    result = []
    for name, (mode, level) in TABLES.items():
        table = ph.Table(name, (ph.Column("id", "integer"), ph.Column("dollars", "numeric"), ph.Column("note", "text")))
        result.append(ph.Tracking(table, (ph.InsertEvent(), ph.UpdateEvent(), ph.DeleteEvent()), context=mode, level=level))
    return result


def create_tracked_tables(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in TABLES:
            conn.execute(
                render(SQL("CREATE TABLE {} (id integer PRIMARY KEY, dollars numeric, note text)").format(Identifier(name)))
            )
        ph.install(conn, trackings())


@dataclass(frozen=True)
class Event:
    label: str
    obj_id: int
    context_id: uuid.UUID | None
    metadata: dict[str, object] | None


def events(conn: psycopg.Connection[tuple[object, ...]], table: str = CASH) -> list[Event]:
    """The events of *table* in order, each with its context id and metadata."""
    mode, _ = TABLES[table]
    event_table = Identifier("public", table + "_event")
    if mode == ph.FK:
        query = SQL(
            "SELECT e.pgh_label, e.pgh_obj_id, e.pgh_context_id, c.metadata FROM {} e "
            "LEFT JOIN public.pghistory_context c ON c.id = e.pgh_context_id ORDER BY e.pgh_id"
        ).format(event_table)
    else:
        query = SQL("SELECT pgh_label, pgh_obj_id, pgh_context_id, pgh_context FROM {} ORDER BY pgh_id").format(
            event_table
        )
    with conn.cursor() as cur:
        cur.execute(render(query))
        return [Event(str(r[0]), int(str(r[1])), r[2], r[3]) for r in cur.fetchall()]  # type: ignore[arg-type]


def contexts(conn: psycopg.Connection[tuple[object, ...]]) -> dict[uuid.UUID, dict[str, object]]:
    """Every row of the shared context table: id -> metadata."""
    rows = conn.execute("SELECT id, metadata FROM public.pghistory_context").fetchall()
    return {row[0]: row[1] for row in rows}  # type: ignore[misc]


def one(active: ph.ActiveContext) -> tuple[uuid.UUID, dict[str, object]]:
    return active.id, active.metadata


def context_of(event: Event) -> tuple[uuid.UUID | None, dict[str, object] | None]:
    return event.context_id, event.metadata


def clear(dsn: str) -> None:
    """Empty the tracked tables, their event tables and the context table.

    DELETE (with tracking switched off) rather than TRUNCATE: on a few rows it is much
    faster, and it keeps the test tier quick.
    """
    statements: list[Composable] = [SQL("SELECT set_config('pghistory.ignore', 'on', true)")]
    for name in TABLES:
        statements.append(SQL("DELETE FROM {}").format(Identifier("public", name)))
        statements.append(SQL("DELETE FROM {}").format(Identifier("public", name + "_event")))
    statements.append(SQL("DELETE FROM public.pghistory_context"))
    with psycopg.connect(dsn, autocommit=True) as conn:
        # One text, one round trip, one implicit transaction (simple query protocol).
        conn.execute(render(SQL("BEGIN; {}; COMMIT").format(SQL("; ").join(statements))))


#: A trigger function as releases before the context comment wrote them: it reads the
#: settings only. Its presence makes every integration send the context statement in
#: autocommit mode instead of the comment (``transport.COMMENT_PROBE``).
STALE_TRIGGER_FUNCTION = SQL(
    "CREATE FUNCTION public.stale_history() RETURNS trigger LANGUAGE plpgsql AS "
    "$$BEGIN PERFORM current_setting('pghistory.context_id', true); RETURN NULL; END$$"
)


@pytest.fixture(scope="module", params=["comment", "statement"])
def tracked_dsn(pg_server: Server, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database with the four tracked tables, shared by one test module; once with the
    autocommit context sent as a comment, once (a trigger that cannot read it present) as
    the context statement."""
    with fresh_database(pg_server) as dsn:
        create_tracked_tables(dsn)
        if request.param == "statement":
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(render(STALE_TRIGGER_FUNCTION))
        yield dsn


@pytest.fixture
def db(tracked_dsn: str) -> str:
    """The module's tracked database, emptied for this test."""
    clear(tracked_dsn)
    return tracked_dsn


@pytest.fixture
def reader(db: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A plain (uninstrumented) autocommit connection for reading results."""
    with psycopg.connect(db, autocommit=True) as conn:
        yield conn


@pytest.fixture(params=list(TABLES))
def table(request: pytest.FixtureRequest) -> str:
    """Each storage mode and trigger level in turn."""
    return str(request.param)
