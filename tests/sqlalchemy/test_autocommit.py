"""SQLAlchemy adapter, database tier: the context on AUTOCOMMIT connections.

Layer: tests (real Postgres). In AUTOCOMMIT each statement is its own transaction: the
context statement must share it (psycopg 3: a pipeline; psycopg2: one query string), and
nothing may be left on the server session afterwards.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy import orm

import pghistory_sqlalchemy as pgh
from tests.sqlalchemy.helpers import sa_url


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
def test_context_reaches_triggers_in_autocommit(dsn: str, driver: str) -> None:
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
        # A statement that cannot run in a transaction block passes untouched.
        with pgh.context(user="ann"), engine.connect() as conn:
            conn.exec_driver_sql("VACUUM item")
    finally:
        base.dispose()
