"""SQLAlchemy adapter, database tier: a partitioned event table (``track(..., partition=)``).

Layer: tests (real Postgres). ``create_all`` creates the event table partitioned by month,
its DEFAULT partition and the range partitions; ORM writes land in the current month's
partition and read back through ``obj.events``; ``pghistory check`` finds no drift and
Alembic autogenerate proposes nothing (no ``drop_table`` for the partitions, which are not
in the ``MetaData``), also after ``create_partitions`` made more; ``drop_all`` removes it all.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import orm

import pghistory_core as ph
import pghistory_sqlalchemy as pgh
from pghistory_sqlalchemy import migrations
from pghistory_sqlalchemy.bridge import CoreConnection

migrations.register()


def _model() -> tuple[sa.MetaData, type]:
    class Base(orm.DeclarativeBase):
        pass

    @pgh.track(pgh.InsertEvent(), pgh.UpdateEvent(), partition="month")
    class Note(Base):
        __tablename__ = "note"
        id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
        body: orm.Mapped[str]

    return Base.metadata, Note


def _diff(engine: sa.Engine, metadata: sa.MetaData) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"autogenerate_plugins": ["alembic.autogenerate.*", migrations.PLUGIN_NAME], "target_metadata": metadata},
        )
        return list(compare_metadata(context, metadata))


def test_partitioned_event_table_through_the_orm(engine: sa.Engine) -> None:
    metadata, Note = _model()
    metadata.create_all(engine)
    (tracking,) = pgh.trackings(metadata)
    month = dt.datetime.now(dt.timezone.utc).strftime("%Y%m01")
    with engine.connect() as conn:
        names = [p.name for p in ph.list_partitions(CoreConnection(conn), tracking)]
    assert names[0] == "note_event_default" and f"note_event_p{month}" in names and len(names) == 4
    with pgh.context(user="ann"), orm.Session(engine) as session, session.begin():
        session.add(Note(id=1, body="a"))
    with orm.Session(engine) as session, session.begin():
        session.get_one(Note, 1).body = "b"
    with orm.Session(engine) as session:
        note = session.get_one(Note, 1)
        assert [(e.pgh_label, e.body) for e in note.events] == [("insert", "a"), ("update", "b")]
        held = session.execute(sa.text("SELECT DISTINCT tableoid::regclass::text FROM note_event")).scalars().all()
        assert held == [f"note_event_p{month}"]
    with engine.begin() as conn:
        ph.check(CoreConnection(conn), [tracking])
    assert _diff(engine, metadata) == []
    with engine.begin() as conn:
        made = ph.create_partitions(CoreConnection(conn), tracking, since=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    assert made[0] == "note_event_p20200101"
    assert _diff(engine, metadata) == []  # still nothing: partitions are not Alembic's
    metadata.drop_all(engine)
    assert sa.inspect(engine).get_table_names() == []


def test_alembic_adoption_refuses_a_table_partitioned_otherwise(engine: sa.Engine) -> None:
    """What an upgrade runs for the event table (adopting what Alembic created or altered):
    a table whose partitioning differs from the spec is refused with the way out."""
    import pytest

    plain_metadata, _ = _plain_model()
    plain_metadata.create_all(engine)
    metadata, _ = _model()
    (tracking,) = pgh.trackings(metadata)
    obj = migrations.HistoryObject.from_artefact(ph.render.event_table(tracking))
    assert "partitioned=True" in migrations._render_fields(obj, "    ")  # carried by the migration file
    with pytest.raises(sa.exc.DBAPIError, match=r"public\.note_event exists and is not partitioned.*--convert"):
        with engine.begin() as conn:
            migrations.apply_object(CoreConnection(conn), obj)
    with engine.begin() as conn:
        ph.partitions.partition_existing(CoreConnection(conn), tracking)
    with engine.begin() as conn:
        migrations.apply_object(CoreConnection(conn), obj)  # now it is adopted
        ph.check(CoreConnection(conn), [tracking])
    plain = migrations.HistoryObject.from_artefact(ph.render.event_table(pgh.trackings(plain_metadata)[0]))
    with pytest.raises(sa.exc.DBAPIError, match=r"note_event is partitioned, but its tracking has no partition"):
        with engine.begin() as conn:
            migrations.apply_object(CoreConnection(conn), plain)


def _plain_model() -> tuple[sa.MetaData, type]:
    class Base(orm.DeclarativeBase):
        pass

    @pgh.track(pgh.InsertEvent(), pgh.UpdateEvent())
    class Note(Base):
        __tablename__ = "note"
        id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
        body: orm.Mapped[str]

    return Base.metadata, Note
