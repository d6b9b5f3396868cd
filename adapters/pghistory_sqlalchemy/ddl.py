"""DDL: ``metadata.create_all()`` installs history tracking, ``drop_all()`` removes it.

Layer: adapter (lifecycle through SQLAlchemy's DDL events). Decision: SQLAlchemy creates
and drops the event tables and the shared ``pghistory_context`` table like any other table
of the ``MetaData`` (so ``create_all(checkfirst=...)``, Alembic autogenerate and
``Table`` reflection see ordinary tables); their ``Table`` objects are built from the core's
own column list, names, types and index names (:mod:`pghistory_sqlalchemy.tracking`), so
they are the tables the core would create. The core does the rest:

- ``after_create`` (on the ``MetaData``, when every table exists) runs
  :func:`pghistory_core.install` on the same connection and transaction: it adopts the
  tables SQLAlchemy created (its ``CREATE TABLE IF NOT EXISTS`` is a no-op, and the table
  gets the pghistory comment with its content hash, so ``pghistory check``/``status``
  report it installed), then creates the context functions, trigger functions, triggers and
  append-only protection. Idempotent: a second ``create_all`` changes nothing, and a
  tracker added since the last run is installed. ``create_all(tables=[...])`` installs
  the trackings of the tracked tables that exist after it;
- ``after_create`` on a tracked ``Table`` created on its own (``Model.__table__.create()``)
  installs that table's trackings (creating its event table if missing);
- ``before_drop`` runs :func:`pghistory_core.uninstall` for the trackings whose tables are
  being dropped (triggers and functions; SQLAlchemy drops the tables); ``after_drop`` drops
  the context functions when the context table itself was dropped.

Both run through :class:`pghistory_sqlalchemy.bridge.CoreConnection`, so they work for
sync and async engines (``await conn.run_sync(metadata.create_all)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import event

import pghistory_core as ph
from pghistory_core import db, render
from pghistory_sqlalchemy.bridge import CoreConnection
from pghistory_sqlalchemy.tracking import _INFO_KEY, tracked_tables, trackings

__all__ = ["listen", "listen_table"]


def listen(metadata: sa.MetaData) -> None:
    """Hook pghistory into *metadata*'s create_all/drop_all (done by ``track``)."""
    event.listen(metadata, "after_create", _after_create)
    event.listen(metadata, "before_drop", _before_drop)
    event.listen(metadata, "after_drop", _after_drop)


def listen_table(table: sa.Table) -> None:
    """Hook pghistory into a tracked table's own ``Table.create()`` (done by ``track``)."""
    if not event.contains(table, "after_create", _table_after_create):
        event.listen(table, "after_create", _table_after_create)


def _existing(connection: sa.Connection, specs: Sequence[ph.Tracking]) -> list[ph.Tracking]:
    """The trackings whose tracked table exists: ``create_all(tables=[...])`` may have left
    some out, and their triggers cannot be created (their event tables are created by the
    core's install, like SQLAlchemy would)."""
    inspector = sa.inspect(connection)
    names = {schema: set(inspector.get_table_names(schema=schema)) for schema in {s.table.schema for s in specs}}
    return [spec for spec in specs if spec.table.name in names[spec.table.schema]]


def _after_create(metadata: sa.MetaData, connection: sa.Connection, **kw: object) -> None:
    specs = _existing(connection, trackings(metadata))
    if specs:
        ph.install(CoreConnection(connection), specs)


def _table_after_create(table: sa.Table, connection: sa.Connection, **kw: object) -> None:
    # Inside create_all the MetaData's after_create installs everything once all tables exist.
    if kw.get("_is_metadata_operation"):
        return
    specs = [e.tracking for e in tracked_tables(table.metadata) if e.table is table]
    if specs:
        ph.install(CoreConnection(connection), specs)


def _dropped(kw: dict[str, object]) -> set[sa.Table]:
    tables = kw.get("tables")
    return set(tables) if isinstance(tables, Sequence) else set()


def _before_drop(metadata: sa.MetaData, connection: sa.Connection, **kw: object) -> None:
    dropped = _dropped(kw)
    specs = [e.tracking for e in tracked_tables(metadata) if e.table in dropped or e.event_table in dropped]
    if specs:
        ph.uninstall(CoreConnection(connection), specs)


def _after_drop(metadata: sa.MetaData, connection: sa.Connection, **kw: object) -> None:
    for table in _dropped(kw):
        if table.info.get(_INFO_KEY) != "context":
            continue
        schema = table.schema or "public"
        bridge = CoreConnection(connection)
        for artefact in render.context_artefacts(schema):
            if artefact.kind == "function":
                db.execute(bridge, artefact.drop)
