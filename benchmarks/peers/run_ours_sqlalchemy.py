"""This project's SQLAlchemy adapter (``pghistory_sqlalchemy``) on the benchmark table.

Layer: benchmarks (ORM runner; this project's venv). ``python -m
benchmarks.peers.run_ours_sqlalchemy --dsn ... --schema ...``. The default configuration
(default level, FK context, insert/update/delete trackers), ``instrument(engine)`` and
``pgh.context`` around each transaction; through the Session and through Core bulk
statements, both recorded by the triggers; and Core statements at row level. The adapter keeps its context table in
``public``: the runner refuses to run when ``public.pghistory_context`` already exists (it
would write into and empty a real one) and drops the one it created.
"""

from __future__ import annotations

from collections.abc import Iterator

from benchmarks.peers import harness, ours, sqla_orm


def setup(opts: harness.Options) -> Iterator[harness.Variant]:
    import pghistory_sqlalchemy as pgh

    Base = sqla_orm.base(opts)
    category = sqla_orm.category_model(Base)
    plain = sqla_orm.item_model(Base, "ItemPlain", "item_plain")
    tracked = pgh.track(pgh.InsertEvent(), pgh.UpdateEvent(), pgh.DeleteEvent())(
        sqla_orm.item_model(Base, "ItemTracked", "item_tracked")
    )
    tracked_row = pgh.track(pgh.InsertEvent(), pgh.UpdateEvent(), pgh.DeleteEvent(), level=pgh.Row)(
        sqla_orm.item_model(Base, "ItemTrackedRow", "item_tracked_row")
    )
    bind = sqla_orm.engine(opts)
    Base.metadata.create_all(bind)
    pgh.instrument(bind)
    sqla_orm.fill_categories(bind, category)
    records = tracked.pgh_event_model.__table__.name

    def wrap() -> object:
        return pgh.context(source="benchmark")

    yield harness.Variant("session_untracked", "Session, untracked", "item_plain", sqla_orm.session(bind, plain),
                          per_object=True)
    yield harness.Variant("core_untracked", "Core statements, untracked", "item_plain", sqla_orm.core(bind, plain.__table__))
    yield harness.Variant("session", "Session (unit of work), default tracking, FK context", "item_tracked",
                          sqla_orm.session(bind, tracked, wrap), baseline="session_untracked", records=records,
                          clear=(ours.CONTEXT_TABLE,), per_object=True)
    yield harness.Variant("core", "Core statements, default tracking, FK context", "item_tracked",
                          sqla_orm.core(bind, tracked.__table__, wrap), baseline="core_untracked", records=records,
                          clear=(ours.CONTEXT_TABLE,))
    yield harness.Variant("core_row", "Core statements, row level, FK context", "item_tracked_row",
                          sqla_orm.core(bind, tracked_row.__table__, wrap), baseline="core_untracked",
                          records=tracked_row.pgh_event_model.__table__.name, clear=(ours.CONTEXT_TABLE,))


if __name__ == "__main__":
    ours.main(__doc__ or "", setup, "pghistory-sqlalchemy", ("SQLAlchemy",))
