"""This project's Django adapter (``pghistory_django``) on the benchmark table.

Layer: benchmarks (ORM runner; this project's venv, never the peer venv: django-pghistory
and this adapter both use the app label ``pghistory``). ``python -m
benchmarks.peers.run_ours_django --dsn ... --schema ...``. The default configuration
(default level, FK context, insert/update/delete trackers; and the same at row level) through
``@pghistory.track``,
triggers installed by django-pgtrigger, and ``pghistory.context`` around each transaction
(as its middleware does); measured the way :mod:`benchmarks.peers.run_django_pghistory`
measures django-pghistory: through the Django ORM and through the suite's own SQL statements
on Django's cursor (the triggers and the context transport alone). ``sql`` against
django-pghistory's ``row_sql`` is the fair single-row comparison of the report: the same
statement, driver path and untracked baseline on each side.

Everything runs in the runner's schema of the shared database, like the other runners: its
tables, the event table, ``pghistory_context`` and the functions, with ``PGHISTORY_SCHEMA``
set to that schema (first on the connection's ``search_path``).
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version

from benchmarks.peers import django_orm, harness, ours

LIBRARIES = ("Django", "django-pgtrigger")


def setup(opts: harness.Options) -> Iterator[harness.Variant]:
    django_orm.configure(opts, ["pgtrigger", "pghistory_django"], PGHISTORY_SCHEMA=opts.schema)
    import pghistory_django as pghistory
    import pgtrigger

    category = django_orm.category_model()
    plain = django_orm.plain_models(category)
    tracked = pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())(
        django_orm.item_model("ItemTracked", "item_tracked", category)
    )
    tracked_row = pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                                  level=pghistory.Row)(django_orm.item_model("ItemTrackedRow", "item_tracked_row", category))
    django_orm.migrate(category)
    pgtrigger.install()
    event_model = tracked.pgh_event_model  # type: ignore[attr-defined]
    records = event_model._meta.db_table
    level = event_model.pgh_tracking().resolved_trackers[0].level.name.lower()
    table = tracked._meta.db_table  # type: ignore[attr-defined]
    configuration = f"default tracking ({level} level), FK context, context on"

    def wrap() -> pghistory.context:
        return pghistory.context(source="benchmark")

    yield from django_orm.baselines(opts.schema, plain, wrap)
    yield harness.Variant("orm", f"Django ORM, {configuration}", table, django_orm.orm(tracked, wrap),
                          baseline="orm_untracked", records=records, clear=("pghistory_context",))
    yield harness.Variant("sql", f"raw SQL on Django's cursor, {configuration}", table,
                          django_orm.raw(opts.schema, table, wrap), baseline="sql_untracked", records=records,
                          clear=("pghistory_context",))
    row_table = tracked_row._meta.db_table  # type: ignore[attr-defined]
    row_records = tracked_row.pgh_event_model._meta.db_table  # type: ignore[attr-defined]
    yield harness.Variant("orm_row", "Django ORM, row level, FK context, context on", row_table,
                          django_orm.orm(tracked_row, wrap), baseline="orm_untracked", records=row_records,
                          clear=("pghistory_context",))
    yield harness.Variant("sql_row", "raw SQL on Django's cursor, row level, FK context, context on", row_table,
                          django_orm.raw(opts.schema, row_table, wrap), baseline="sql_untracked", records=row_records,
                          clear=("pghistory_context",))


def _packages() -> dict[str, str]:
    packages = {"pghistory-django": version("pghistory")}
    for name in LIBRARIES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = "?"
    return packages


def main() -> None:
    opts = harness.options(__doc__ or "")
    harness.run(opts, setup, {**_packages(), "autocommit context": ours.autocommit_transport(opts)})


if __name__ == "__main__":
    main()
