"""This project's Peewee adapter (``pghistory_peewee``) on the benchmark table.

Layer: benchmarks (ORM runner; this project's venv). ``python -m
benchmarks.peers.run_ours_peewee --dsn ... --schema ...``. The default configuration
(default level, FK context, insert/update/delete trackers; and the same at row level) on a
``HistoryPostgresqlDatabase``, ``pgh.context`` around each transaction; bulk writes through
``insert_many``, ``update().execute()`` and ``delete().execute()``, single rows through
``create``, ``save`` and ``delete_instance``. Context table: see
:mod:`benchmarks.peers.run_ours_sqlalchemy`.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable, Iterator
from typing import ContextManager

from benchmarks.peers import harness, ours
from benchmarks.workloads import CATEGORIES, Workload, row_values

SECOND = datetime.timedelta(seconds=1)


def workloads(db: object, model: type, wrap: Callable[[], ContextManager[object]] = contextlib.nullcontext) -> Callable[[Workload, int], harness.Body]:
    import peewee

    m: object = model

    def atomic(write: Callable[[], object]) -> harness.Body:
        def body() -> None:
            with wrap(), db.atomic():  # type: ignore[attr-defined]
                write()

        return body

    def prepare(workload: Workload, size: int) -> harness.Body:
        name = workload.name
        if name == "bulk_insert":
            rows = [row_values(g) for g in range(1, size + 1)]
            return atomic(lambda: m.insert_many(rows).execute())  # type: ignore[attr-defined]
        if name == "bulk_update":
            return atomic(lambda: m.update(qty=m.qty + 1, updated_at=m.updated_at + SECOND).execute())  # type: ignore[attr-defined]
        if name == "bulk_update_half":
            # `%` is LIKE in Peewee: modulo is fn.MOD.
            half = peewee.Case(None, [(peewee.fn.MOD(m.id, 2) == 0, m.qty + 1)], m.qty)  # type: ignore[attr-defined]
            return atomic(lambda: m.update(qty=half).execute())  # type: ignore[attr-defined]
        if name == "bulk_delete":
            return atomic(lambda: m.delete().execute())  # type: ignore[attr-defined]
        if name == "single_insert":
            rows = [row_values(g) for g in range(1, size + 1)]

            def insert_each() -> Iterator[None]:
                for row in rows:
                    with wrap():
                        m.create(**row)  # type: ignore[attr-defined]
                    yield

            return insert_each
        objs = list(m.select().order_by(m.id))  # type: ignore[attr-defined]
        if name == "single_update":

            def update_each() -> Iterator[None]:
                for obj in objs:
                    obj.qty += 1
                    obj.updated_at += SECOND
                    with wrap():
                        obj.save()
                    yield

            return update_each

        def delete_each() -> Iterator[None]:
            for obj in objs:
                with wrap():
                    obj.delete_instance()
                yield

        return delete_each

    return prepare


def setup(opts: harness.Options) -> Iterator[harness.Variant]:
    import peewee

    import pghistory_peewee as pgh

    params = harness.connect_kwargs(opts)
    db = pgh.HistoryPostgresqlDatabase(params.pop("dbname", None), **params)

    class Base(peewee.Model):
        class Meta:
            database = db
            schema = opts.schema

    class Category(Base):
        id = peewee.IntegerField(primary_key=True)
        name = peewee.TextField()

        class Meta:
            table_name = "category"

    def item(name: str, table: str) -> type:
        meta = type("Meta", (), {"table_name": table})
        return type(name, (Base,), {
            "id": peewee.BigIntegerField(primary_key=True),
            "category": peewee.ForeignKeyField(Category, column_name="category_id"),
            "qty": peewee.IntegerField(),
            "stock": peewee.IntegerField(),
            "name": peewee.TextField(),
            "price": peewee.DecimalField(max_digits=12, decimal_places=2),
            "updated_at": peewee.DateTimeTZField() if hasattr(peewee, "DateTimeTZField") else peewee.DateTimeField(),
            "active": peewee.BooleanField(),
            "Meta": meta,
        })

    plain = item("ItemPlain", "item_plain")
    tracked = pgh.track(pgh.InsertEvent(), pgh.UpdateEvent(), pgh.DeleteEvent())(item("ItemTracked", "item_tracked"))
    tracked_row = pgh.track(pgh.InsertEvent(), pgh.UpdateEvent(), pgh.DeleteEvent(), level=pgh.Row)(
        item("ItemTrackedRow", "item_tracked_row")
    )
    pgh.create_tables(db, [Category, plain, tracked, tracked_row])
    Category.insert_many([{"id": i, "name": f"category {i}"} for i in range(1, CATEGORIES + 1)]).execute()
    records = tracked.pgh_event_model._meta.table_name

    def wrap() -> ContextManager[object]:
        return pgh.context(source="benchmark")

    yield harness.Variant("untracked", "insert_many/update()/delete(), untracked", "item_plain", workloads(db, plain))
    yield harness.Variant("tracked", "insert_many/update()/delete(), default tracking, FK context", "item_tracked",
                          workloads(db, tracked, wrap), baseline="untracked", records=records, clear=(ours.CONTEXT_TABLE,))
    yield harness.Variant("tracked_row", "insert_many/update()/delete(), row level, FK context", "item_tracked_row",
                          workloads(db, tracked_row, wrap), baseline="untracked",
                          records=tracked_row.pgh_event_model._meta.table_name, clear=(ours.CONTEXT_TABLE,))


if __name__ == "__main__":
    ours.main(__doc__ or "", setup, "pghistory-peewee", ("peewee",))
