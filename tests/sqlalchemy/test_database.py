"""SQLAlchemy adapter, database tier: create_all/drop_all, every write path, context.

Layer: tests (real Postgres). The seed examples (snapshots, conditions over old/new rows,
context, manual events) through session flushes, ORM bulk ``update()``, Core ``insert()``
with many rows and raw ``text()``; the context through sync sessions (psycopg 3 and
psycopg2) and 20 concurrent async sessions.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

import pghistory_core as ph
import pghistory_sqlalchemy as pgh
from pghistory_sqlalchemy import runtime
from tests.sqlalchemy.helpers import event_rows, sa_url


def _models():
    """The seed's cash example, with attribute names that differ from column names."""

    class Base(orm.DeclarativeBase):
        pass

    @pgh.track(
        pgh.InsertEvent(),
        pgh.UpdateEvent("money_below_one_hundred", condition=pgh.Q(old__amount__gte=100, new__amount__lt=100)),
        pgh.UpdateEvent("money_down", condition=pgh.Q(old__amount__gt=pgh.F("new__amount"))),
        pgh.UpdateEvent("money_up", condition=pgh.Q(old__amount__lt=pgh.F("new__amount"))),
        pgh.UpdateEvent("renamed", row=pgh.Old, condition=pgh.AnyChange("owner")),
        pgh.DeleteEvent(),
        pgh.ManualEvent("audit"),
        exclude=["secret"],
    )
    class Cash(Base):
        __tablename__ = "cash"
        id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
        amount: orm.Mapped[Decimal] = orm.mapped_column("dollars", sa.Numeric(10, 2))
        owner: orm.Mapped[str] = orm.mapped_column("owner_name", sa.String(40), default="")
        secret: orm.Mapped[str | None]

    return Base, Cash


def _labels(engine: sa.Engine) -> list[str]:
    return [str(row["pgh_label"]) for row in event_rows(engine, "cash_event")]


# ------------------------------------------------------------------ create_all / drop_all


def test_create_all_installs_and_drop_all_removes(engine):
    Base, Cash = _models()
    Base.metadata.create_all(engine)
    pgh.check(engine, Base.metadata)  # event and context tables adopted, triggers installed
    assert {s.state for s in pgh.status(engine, Base.metadata)} == {ph.State.INSTALLED}
    Base.metadata.create_all(engine)  # idempotent
    assert pgh.install(engine, Base.metadata) == []
    with engine.connect() as conn:
        triggers = conn.scalars(sa.text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'cash'::regclass")).all()
    assert len(triggers) == 6

    Base.metadata.drop_all(engine)
    with engine.connect() as conn:
        left = conn.execute(
            sa.text(
                "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = 'public' AND (p.proname LIKE 'pgh%' OR p.proname LIKE 'pghistory%') "
                "UNION ALL SELECT relname FROM pg_class WHERE relname IN ('cash', 'cash_event', 'pghistory_context')"
            )
        ).all()
    assert left == []
    Base.metadata.create_all(engine)  # and back
    pgh.check(engine, Base.metadata)


def test_tracker_added_later_is_installed_by_create_all(engine):
    Base, Cash = _models()
    Base.metadata.create_all(engine)
    with orm.Session(engine) as session, session.begin():
        session.add(Cash(id=1, amount=Decimal(1)))
    # A second MetaData describing the same table with one more tracking.
    metadata2 = sa.MetaData()
    table = sa.Table("cash", metadata2, sa.Column("id", sa.Integer, primary_key=True), sa.Column("dollars", sa.Numeric))
    pgh.track_table(table, pgh.DeleteEvent("gone"), table_name="cash_deleted", context=pgh.NO_CONTEXT)
    metadata2.create_all(engine)
    # Its own objects are installed; the first MetaData's show as orphans to it.
    assert {s.state for s in pgh.status(engine, metadata2) if s.artefact is not None} == {ph.State.INSTALLED}
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM cash"))
    assert [r["pgh_label"] for r in event_rows(engine, "cash_deleted")] == ["gone"]


def test_create_all_of_some_tables_and_table_create(engine):
    """``create_all(tables=[...])`` installs the tracking of the tables that exist (not of
    those left out), and ``Model.__table__.create()`` on its own installs its tracking."""
    Base, Cash = _models()

    class Note(Base):
        __tablename__ = "note"
        id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
        text: orm.Mapped[str]

    pgh.track(pgh.InsertEvent())(Note)
    Base.metadata.create_all(engine, tables=[Cash.__table__, Cash.pgh_event_model.__table__])
    with orm.Session(engine) as session, session.begin():
        session.add(Cash(id=1, amount=Decimal(1)))
    assert _labels(engine) == ["insert"]
    assert not sa.inspect(engine).has_table("note")

    Base.metadata.create_all(engine)  # the rest
    pgh.check(engine, Base.metadata)

    Cash.__table__.drop(engine)  # its triggers go with it
    Cash.__table__.create(engine)
    pgh.check(engine, Base.metadata)
    with orm.Session(engine) as session, session.begin():
        session.add(Cash(id=2, amount=Decimal(2)))
    assert _labels(engine) == ["insert", "insert"]


# ----------------------------------------------------------------------- write paths


def test_seed_examples_through_every_write_path(engine):
    Base, Cash = _models()
    Base.metadata.create_all(engine)
    # Session flushes.
    with orm.Session(engine) as session, session.begin():
        cash = Cash(id=1, amount=Decimal(150), owner="ann", secret="s")
        session.add(cash)
        session.flush()
        cash.amount = Decimal(90)
        session.flush()
        cash.secret = "t"  # excluded column: no event
        session.flush()
        cash.amount = Decimal(120)
    assert _labels(engine) == ["insert", "money_below_one_hundred", "money_down", "money_up"]
    # Core insert() with many rows (executemany / insertmanyvalues).
    with engine.begin() as conn:
        rows = [{"id": i, "dollars": Decimal(i), "owner_name": "o"} for i in range(2, 202)]
        conn.execute(sa.insert(Cash.__table__), rows)
    assert len([x for x in _labels(engine) if x == "insert"]) == 201
    # ORM bulk update(): one statement, every row, conditions evaluated per row.
    with orm.Session(engine) as session, session.begin():
        session.execute(sa.update(Cash).where(Cash.id <= 101).values(amount=Cash.amount + 10))
    ups = event_rows(engine, "cash_event", ["dollars"])[-101:]
    assert {r["pgh_label"] for r in ups} == {"money_up"}
    assert {r["pgh_obj_id"]: r["dollars"] for r in ups} == {i: Decimal(130 if i == 1 else i + 10) for i in range(1, 102)}
    # Raw text() SQL, with a '%' and a bind parameter.
    with orm.Session(engine) as session, session.begin():
        session.execute(sa.text("UPDATE cash SET owner_name = 'x%' || owner_name WHERE id = :id"), {"id": 1})
    assert event_rows(engine, "cash_event", ["owner_name"])[-1] == {
        "pgh_label": "renamed",
        "pgh_obj_id": 1,
        "owner_name": "ann",
    }
    # Delete through the session, and the ORM view of history.
    with orm.Session(engine) as session, session.begin():
        session.delete(session.get_one(Cash, 2))
    with orm.Session(engine) as session:
        cash = session.get_one(Cash, 1)
        assert [e.pgh_label for e in cash.events] == [
            "insert", "money_below_one_hundred", "money_down", "money_up", "money_up", "renamed"
        ]
        assert cash.events[1].amount == Decimal(90) and cash.events[1].pgh_obj is cash
        assert session.scalars(sa.select(Cash.pgh_event_model).filter_by(pgh_obj_id=2, pgh_label="delete")).one()


def test_manual_event_with_context(engine):
    Base, Cash = _models()
    Base.metadata.create_all(engine)
    with orm.Session(engine) as session, session.begin():
        cash = Cash(id=1, amount=Decimal(5))
        session.add(cash)
        with pgh.context(user="admin"):
            event = pgh.create_event(session, cash, label="audit")
        assert event.pgh_label == "audit" and event.amount == Decimal(5)
        assert event.pgh_context.metadata == {"user": "admin"}
        with pytest.raises(ph.ConfigurationError, match="no tracker labelled 'nope'"):
            pgh.create_event(session, cash, label="nope")


# --------------------------------------------------------------------------- context


def _context_of_last_event(engine: sa.Engine, Cash: type) -> dict[str, object] | None:
    with orm.Session(engine) as session:
        event = session.scalars(sa.select(Cash.pgh_event_model).order_by(sa.desc("pgh_id")).limit(1)).one()
        return event.pgh_context.metadata if event.pgh_context is not None else None


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_context_through_sync_sessions(dsn, driver, monkeypatch):
    engine = sa.create_engine(sa_url(dsn, driver))
    pgh.instrument(engine)
    sent: list[str] = []
    original = runtime.transport.context_statement
    monkeypatch.setattr(runtime.transport, "context_statement", lambda *a: sent.append("x") or original(*a))
    try:
        Base, Cash = _models()
        Base.metadata.create_all(engine)
        sent.clear()
        with orm.Session(engine) as session, session.begin():
            session.add(Cash(id=1, amount=Decimal(1)))
        assert sent == [] and _context_of_last_event(engine, Cash) is None  # nothing sent without a context

        with pgh.context(user="alice"):
            with orm.Session(engine) as session, session.begin():
                cash = session.get_one(Cash, 1)
                for amount in (2, 3, 4):
                    cash.amount = Decimal(amount)
                    session.flush()
        assert len(sent) == 1  # once per transaction
        assert _context_of_last_event(engine, Cash) == {"user": "alice"}

        # A new transaction after the context ended carries no stale context.
        with orm.Session(engine) as session, session.begin():
            session.get_one(Cash, 1).amount = Decimal(5)
        assert _context_of_last_event(engine, Cash) is None

        # Within one transaction: metadata added mid-way, then the context left.
        with orm.Session(engine) as session, session.begin():
            cash = session.get_one(Cash, 1)
            with pgh.context(user="bob"):
                cash.amount = Decimal(6)
                session.flush()
                pgh.context(url="/pay")
                cash.amount = Decimal(7)
                session.flush()
            cash.amount = Decimal(8)
            session.flush()
        with orm.Session(engine) as session:
            contexts = [
                e.pgh_context.metadata if e.pgh_context else None
                for e in session.scalars(sa.select(Cash.pgh_event_model).order_by(sa.desc("pgh_id")).limit(3))
            ]
        # The context row only grows: both bob events show the merged metadata.
        assert contexts == [None, {"user": "bob", "url": "/pay"}, {"user": "bob", "url": "/pay"}]

        # ROLLBACK TO SAVEPOINT undoes settings sent inside the savepoint: they are sent again.
        with orm.Session(engine) as session, session.begin():
            cash = session.get_one(Cash, 1)  # no context yet: nothing sent
            nested = session.begin_nested()
            session.execute(sa.text("SELECT 1"))  # SAVEPOINT, still without a context
            with pgh.context(user="carol"):
                cash.amount = Decimal(9)
                session.flush()  # the context is sent inside the savepoint
                nested.rollback()
                session.get_one(Cash, 1).amount = Decimal(10)
                session.flush()
        assert _context_of_last_event(engine, Cash) == {"user": "carol"}

        # ignore(): no events at all.
        before = len(_labels(engine))
        with pgh.ignore(), orm.Session(engine) as session, session.begin():
            session.get_one(Cash, 1).amount = Decimal(11)
        assert len(_labels(engine)) == before
    finally:
        engine.dispose()


def test_twenty_concurrent_async_sessions_keep_their_own_context(dsn):
    Base, Cash = _models()

    async def main() -> None:
        engine = create_async_engine(sa_url(dsn), pool_size=20)
        pgh.instrument(engine)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
            barrier = asyncio.Barrier(20)

            async def task(i: int) -> None:
                async with pgh.context(task=i):
                    async with AsyncSession(engine) as session, session.begin():
                        session.add(Cash(id=i, amount=Decimal(i)))
                        await session.flush()
                        await barrier.wait()  # every task is inside its transaction now
                        for step in range(3):
                            (await session.get_one(Cash, i)).amount = Decimal(i * 100 + step)
                            await session.flush()
                            await asyncio.sleep(0)

            await asyncio.gather(*(task(i) for i in range(1, 21)))
            async with AsyncSession(engine) as session:
                events = (await session.scalars(sa.select(Cash.pgh_event_model).options(orm.selectinload(Cash.pgh_event_model.pgh_context)))).all()
                assert len(events) == 20 * 4
                assert all(e.pgh_context.metadata == {"task": e.pgh_obj_id} for e in events)
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.drop_all)
        finally:
            await engine.dispose()

    asyncio.run(main())
