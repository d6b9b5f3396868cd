"""SQLAlchemy adapter, database tier: the context on AUTOCOMMIT connections.

Layer: tests (real Postgres). In AUTOCOMMIT each statement is its own transaction: the
context travels as a comment in front of the statement, or, while the database holds a
trigger that cannot read it (``mode="statement"``), the context statement shares the
transaction (psycopg 3: a pipeline; psycopg2: one query string; psycopg 3 async, and texts
of several statements: a transaction the hooks open and commit). Nothing may be left on
the server session afterwards.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

import pghistory_sqlalchemy as pgh
from pghistory_core import sql
from tests.db.context_support import STALE_TRIGGER_FUNCTION
from tests.sqlalchemy.helpers import sa_url


@pytest.fixture(params=["comment", "statement"])
def mode(request: pytest.FixtureRequest, dsn: str) -> str:
    if request.param == "statement":
        engine = sa.create_engine(sa_url(dsn))
        with engine.begin() as conn:
            conn.exec_driver_sql(sql.render(STALE_TRIGGER_FUNCTION))
        engine.dispose()
    return str(request.param)


def _models():
    class Base(orm.DeclarativeBase):
        pass

    @pgh.track(pgh.InsertEvent(), pgh.UpdateEvent())
    class Item(Base):
        __tablename__ = "item"
        id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
        price: orm.Mapped[Decimal] = orm.mapped_column(sa.Numeric(10, 2))
        name: orm.Mapped[str] = orm.mapped_column(default="")

    return Base, Item


def _contexts(engine: sa.Engine) -> list[object]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT e.pgh_label, e.id, c.metadata FROM item_event e "
                "LEFT JOIN pghistory_context c ON c.id = e.pgh_context_id ORDER BY e.pgh_id"
            )
        )
        return [(label, id_, meta.get("user") if meta else None) for label, id_, meta in rows]


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_context_reaches_triggers_in_autocommit(dsn: str, driver: str, mode: str) -> None:
    Base, Item = _models()
    base = sa.create_engine(sa_url(dsn, driver))
    Base.metadata.create_all(base)
    engine = base.execution_options(isolation_level="AUTOCOMMIT")
    pgh.instrument(base)
    try:
        with pgh.context(user="ann"):
            with engine.connect() as conn:
                conn.execute(sa.insert(Item), [{"id": 1, "price": 1}, {"id": 2, "price": 2}])  # executemany
                conn.execute(sa.update(Item).where(Item.id == 1).values(price=3))  # server-side bound
                conn.execute(sa.text("UPDATE item SET name = 'a%b' WHERE id = 2"))  # raw SQL with %
                conn.execution_options(no_parameters=True).exec_driver_sql(
                    "UPDATE item SET name = 'c%d' WHERE id = 1"  # no parameters: % is plain text
                )
                sent = conn.execute(sa.text("SELECT current_query()")).scalar()
            with orm.Session(engine) as session:
                session.add(Item(id=3, price=Decimal(3)))
                session.commit()
        with engine.connect() as conn:
            # Nothing outlives the statement: the settings are empty on the same session.
            assert conn.execute(sa.text("SELECT current_setting('pghistory.context_id', true)")).scalar() in ("", None)
            conn.execute(sa.update(Item).where(Item.id == 3).values(price=4))  # after the block: no context
        assert _contexts(base) == [
            ("insert", 1, "ann"),
            ("insert", 2, "ann"),
            ("update", 1, "ann"),
            ("update", 2, "ann"),
            ("update", 1, "ann"),
            ("insert", 3, "ann"),
            ("update", 3, None),
        ]
        assert str(sent).startswith("/*pghistory:") is (mode == "comment")
        # A statement that cannot run in a transaction block passes untouched.
        with pgh.context(user="ann"), engine.connect() as conn:
            conn.exec_driver_sql("VACUUM item")
    finally:
        base.dispose()


def test_context_reaches_triggers_in_autocommit_on_async_psycopg(dsn: str, mode: str) -> None:
    Base, Item = _models()
    base = sa.create_engine(sa_url(dsn))
    Base.metadata.create_all(base)

    async def main() -> list[object]:
        engine = create_async_engine(sa_url(dsn), isolation_level="AUTOCOMMIT")
        pgh.instrument(engine)
        try:
            async with pgh.context(user="ann"):
                async with engine.connect() as conn:
                    await conn.execute(sa.insert(Item), [{"id": 1, "price": 1}, {"id": 2, "price": 2}])
                    await conn.execute(sa.update(Item).where(Item.id == 1).values(price=3))
                    # Each statement committed on its own, as AUTOCOMMIT promises: another
                    # connection sees it before this one is closed.
                    async with engine.connect() as other:
                        seen = (await other.execute(sa.text("SELECT price FROM item WHERE id = 1"))).scalar()
                    # A failing statement rolls back its own transaction and nothing else.
                    with pytest.raises(sa.exc.IntegrityError):
                        await conn.execute(sa.insert(Item).values(id=1, price=9))
                    await conn.execute(sa.update(Item).where(Item.id == 2).values(price=5))
                    in_block = (await conn.execute(sa.text("SELECT pg_current_xact_id_if_assigned() IS NULL"))).scalar()
                async with AsyncSession(engine) as session:
                    session.add(Item(id=3, price=Decimal(3)))
                    await session.commit()
            async with engine.connect() as conn:
                assert (await conn.execute(sa.text("SELECT current_setting('pghistory.context_id', true)"))).scalar() in ("", None)
                await conn.execute(sa.update(Item).where(Item.id == 3).values(price=4))  # no context
            return [seen, in_block]
        finally:
            await engine.dispose()

    try:
        seen, in_block = asyncio.run(main())
        assert seen == Decimal(3)
        assert in_block is True  # no transaction left open by the hooks between statements
        assert _contexts(base) == [
            ("insert", 1, "ann"),
            ("insert", 2, "ann"),
            ("update", 1, "ann"),
            ("update", 2, "ann"),
            ("insert", 3, "ann"),
            ("update", 3, None),
        ]
    finally:
        base.dispose()


def test_several_statements_in_one_text_carry_the_context_in_autocommit(dsn: str, mode: str) -> None:
    Base, Item = _models()
    base = sa.create_engine(sa_url(dsn))
    Base.metadata.create_all(base)
    engine = base.execution_options(isolation_level="AUTOCOMMIT")
    pgh.instrument(base)
    try:
        with pgh.context(user="bob"), engine.connect() as conn:
            conn.exec_driver_sql(
                "INSERT INTO item (id, price, name) VALUES (1, 1, ''); UPDATE item SET price = 2 WHERE id = 1"
            )
            assert conn.execute(sa.text("SELECT pg_current_xact_id_if_assigned() IS NULL")).scalar() is True
        assert _contexts(base) == [("insert", 1, "bob"), ("update", 1, "bob")]
    finally:
        base.dispose()
