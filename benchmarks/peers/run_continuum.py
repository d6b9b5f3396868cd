"""SQLAlchemy-Continuum on the benchmark table, in its recommended configuration.

Layer: benchmarks (ORM runner; peer venv). ``python -m benchmarks.peers.run_continuum --dsn
... --schema ...``. ``make_versioned(user_cls=None)`` and ``__versioned__ = {}`` on the model;
it records versions (and one transaction row per flush) from the Session's flush, so it is
measured through the Session and through Core bulk statements, which it does not record
(the event count shows 0).
"""

from __future__ import annotations

from collections.abc import Iterator

from benchmarks.peers import harness, sqla_orm


def setup(opts: harness.Options) -> Iterator[harness.Variant]:
    import sqlalchemy as sa
    from sqlalchemy_continuum import make_versioned, version_class

    make_versioned(user_cls=None)
    Base = sqla_orm.base(opts)
    category = sqla_orm.category_model(Base)
    plain = sqla_orm.item_model(Base, "ItemPlain", "item_plain")
    tracked = sqla_orm.item_model(Base, "ItemTracked", "item_tracked", __versioned__={})
    sa.orm.configure_mappers()
    bind = sqla_orm.engine(opts)
    Base.metadata.create_all(bind)
    sqla_orm.fill_categories(bind, category)
    records = version_class(tracked).__table__.name
    clear = ("transaction",)

    yield harness.Variant("session_untracked", "Session, untracked", "item_plain", sqla_orm.session(bind, plain),
                          per_object=True)
    yield harness.Variant("core_untracked", "Core statements, untracked", "item_plain", sqla_orm.core(bind, plain.__table__))
    yield harness.Variant("session", "Session (unit of work), __versioned__", "item_tracked", sqla_orm.session(bind, tracked),
                          baseline="session_untracked", records=records, clear=clear, per_object=True)
    yield harness.Variant("core", "Core statements, __versioned__", "item_tracked", sqla_orm.core(bind, tracked.__table__),
                          baseline="core_untracked", records=records, clear=clear)


if __name__ == "__main__":
    from importlib.metadata import version

    harness.run(harness.options(__doc__ or ""), setup,
                {"SQLAlchemy-Continuum": version("SQLAlchemy-Continuum"), "SQLAlchemy": version("SQLAlchemy")})
