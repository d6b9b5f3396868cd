"""The SQLAlchemy side of the ORM runners: engine, the benchmark models, and the workloads
through the Session (unit of work) and through Core bulk statements.

Layer: benchmarks (ORM runners). Imported by :mod:`benchmarks.peers.run_continuum` (peer
venv) and :mod:`benchmarks.peers.run_ours_sqlalchemy` (this project's venv).

Session workloads load the rows a write needs before the clock, in a session that is then
closed: the timed part attaches them to a new session, changes them and commits, so no
``SELECT`` is timed and the whole write is one transaction inside the history context.
Single-row workloads use one session (one transaction) per write, as one request would.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable, Iterator
from typing import ContextManager

import psycopg
import sqlalchemy as sa
from sqlalchemy import orm

from benchmarks.peers.harness import Body, Options, connect_kwargs
from benchmarks.workloads import CATEGORIES, Workload, row_values

__all__ = ["engine", "base", "category_model", "item_model", "session", "core"]

Wrap = Callable[[], ContextManager[object]]
SECOND = datetime.timedelta(seconds=1)


def engine(opts: Options) -> sa.Engine:
    params = connect_kwargs(opts)
    return sa.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(**params))  # type: ignore[arg-type]


def base(opts: Options) -> type[orm.DeclarativeBase]:
    """A declarative base whose tables live in the runner's schema."""

    class Base(orm.DeclarativeBase):
        metadata = sa.MetaData(schema=opts.schema)

    return Base


def category_model(Base: type[orm.DeclarativeBase]) -> type:
    return type("Category", (Base,), {
        "__tablename__": "category",
        "id": orm.mapped_column(sa.Integer, primary_key=True, autoincrement=False),
        "name": orm.mapped_column(sa.Text, nullable=False),
    })


def item_model(Base: type[orm.DeclarativeBase], name: str, table: str, **attributes: object) -> type:
    schema = Base.metadata.schema
    return type(name, (Base,), {
        "__tablename__": table,
        "id": orm.mapped_column(sa.BigInteger, primary_key=True, autoincrement=False),
        "category_id": orm.mapped_column(sa.Integer, sa.ForeignKey(f"{schema}.category.id"), nullable=False),
        "qty": orm.mapped_column(sa.Integer, nullable=False),
        "stock": orm.mapped_column(sa.Integer, nullable=False),
        "name": orm.mapped_column(sa.Text, nullable=False),
        "price": orm.mapped_column(sa.Numeric(12, 2), nullable=False),
        "updated_at": orm.mapped_column(sa.DateTime(timezone=True), nullable=False),
        "active": orm.mapped_column(sa.Boolean, nullable=False),
        **attributes,
    })


def fill_categories(bind: sa.Engine, category: type) -> None:
    with orm.Session(bind) as s, s.begin():
        s.add_all([category(id=i, name=f"category {i}") for i in range(1, CATEGORIES + 1)])


def session(bind: sa.Engine, model: type, wrap: Wrap = contextlib.nullcontext) -> Callable[[Workload, int], Body]:
    """The workloads through the Session (unit of work)."""

    def loaded() -> list[object]:
        with orm.Session(bind, expire_on_commit=False) as s:
            objs = list(s.scalars(sa.select(model).order_by(model.id)))  # type: ignore[attr-defined]
            s.expunge_all()
        return objs

    def bump(obj: object) -> None:
        obj.qty += 1  # type: ignore[attr-defined]
        obj.updated_at += SECOND  # type: ignore[attr-defined]

    def bump_even(obj: object) -> None:
        if obj.id % 2 == 0:  # type: ignore[attr-defined]
            obj.qty += 1  # type: ignore[attr-defined]

    def delete(s: orm.Session, obj: object) -> None:
        s.add(obj)
        s.delete(obj)

    def add(change: Callable[[object], None]) -> Callable[[orm.Session, object], None]:
        def attach(s: orm.Session, obj: object) -> None:
            s.add(obj)
            change(obj)

        return attach

    writes: dict[str, Callable[[orm.Session, object], None]] = {
        "insert": lambda s, obj: s.add(obj),
        "update": add(bump),
        "update_half": add(bump_even),
        "delete": delete,
    }

    def prepare(workload: Workload, size: int) -> Body:
        kind = workload.name.split("_", 1)[1]
        write = writes[kind]
        objs = [model(**row_values(g)) for g in range(1, size + 1)] if kind == "insert" else loaded()
        if workload.bulk:

            def bulk() -> None:
                with wrap(), orm.Session(bind) as s, s.begin():
                    for obj in objs:
                        write(s, obj)

            return bulk

        def loop() -> Iterator[None]:
            for obj in objs:
                with wrap(), orm.Session(bind, expire_on_commit=False) as s, s.begin():
                    write(s, obj)
                yield

        return loop

    return prepare


def core(bind: sa.Engine, table: sa.Table, wrap: Wrap = contextlib.nullcontext) -> Callable[[Workload, int], Body]:
    """The workloads as Core statements (``insert`` with a list of rows: executemany)."""
    c = table.c
    key = sa.bindparam("key")
    statements = {
        "bulk_insert": sa.insert(table),
        "bulk_update": sa.update(table).values(qty=c.qty + 1, updated_at=c.updated_at + SECOND),
        "bulk_update_half": sa.update(table).values(qty=sa.case((c.id % 2 == 0, c.qty + 1), else_=c.qty)),
        "bulk_delete": sa.delete(table),
        "single_insert": sa.insert(table),
        "single_update": sa.update(table).where(c.id == key).values(qty=c.qty + 1, updated_at=c.updated_at + SECOND),
        "single_delete": sa.delete(table).where(c.id == key),
    }

    def prepare(workload: Workload, size: int) -> Body:
        statement = statements[workload.name]
        if workload.bulk:
            rows = [row_values(g) for g in range(1, size + 1)] if workload.name == "bulk_insert" else None

            def bulk() -> None:
                with wrap(), bind.begin() as conn:
                    conn.execute(statement, rows)

            return bulk
        params = [row_values(g) if workload.name == "single_insert" else {"key": g} for g in range(1, size + 1)]

        def loop() -> Iterator[None]:
            for p in params:
                with wrap(), bind.begin() as conn:
                    conn.execute(statement, p)
                yield

        return loop

    return prepare
