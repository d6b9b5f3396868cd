"""SQLAlchemy adapter: the core's backfill and retention on a SQLAlchemy connection.

Layer: tests (real Postgres). What the docs show a SQLAlchemy user: inside
``engine.begin()``, ``ph.backfill`` on the DBAPI connection records one event per existing
row (with the active context) and commits or rolls back with the block;
``ph.delete_events`` deletes old events by time, committing batch by batch.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy import orm

import pghistory_core as ph
import pghistory_sqlalchemy as pgh
from tests.sqlalchemy.helpers import sa_url


def test_backfill_then_retention(dsn: str) -> None:
    class Base(orm.DeclarativeBase):
        pass

    @pgh.track(pgh.InsertEvent(), pgh.ManualEvent("backfill"))
    class Item(Base):
        __tablename__ = "item"
        id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
        name: orm.Mapped[str]

    engine = sa.create_engine(sa_url(dsn))
    pgh.instrument(engine)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE item (id integer PRIMARY KEY, name text NOT NULL)"))
            conn.execute(sa.text("INSERT INTO item SELECT g, 'i' || g FROM generate_series(1, 6) g"))  # before tracking
        Base.metadata.create_all(engine)  # the event table and triggers (item exists already)
        (tracking,) = pgh.trackings(Base.metadata)
        with pytest.raises(RuntimeError), engine.begin() as conn:
            ph.backfill(conn.connection.driver_connection, tracking, "backfill", batch_size=4)
            raise RuntimeError("the rest of the block fails")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM item_event")).scalar() == 0  # rolled back
        with pgh.context(job="backfill"), engine.begin() as conn:
            result = ph.backfill(conn.connection.driver_connection, tracking, "backfill", batch_size=4)
        assert (result.rows, result.events) == (6, 6)
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT e.pgh_label, e.name, c.metadata ->> 'job' FROM item_event e "
                "JOIN pghistory_context c ON c.id = e.pgh_context_id ORDER BY e.pgh_id"
            )).all()
        assert rows == [("backfill", f"i{i}", "backfill") for i in range(1, 7)]

        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE item_event SET pgh_created_at = '2020-01-01+00' WHERE id <= 2"))
        with pytest.raises(RuntimeError), engine.begin() as conn:
            cut = dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc)
            assert ph.delete_events(conn.connection.driver_connection, tracking, cut) == {"public.item_event": 2}
            raise RuntimeError("the rest of the block fails: the deleted batches stay deleted")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM item_event")).scalar() == 4

        # The backfill's context row goes only once no event references it.
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE pghistory_context SET updated_at = '2020-01-01+00'"))
            driver = conn.connection.driver_connection
            assert ph.delete_unreferenced_contexts(driver, cut) == 0
            conn.execute(sa.text("DELETE FROM item_event"))
            assert ph.delete_unreferenced_contexts(driver, cut) == 1
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM pghistory_context")).scalar() == 0
    finally:
        engine.dispose()
