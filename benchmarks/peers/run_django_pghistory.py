"""django-pghistory on the benchmark table: row level (its default) and statement level.

Layer: benchmarks (ORM runner; peer venv). ``python -m benchmarks.peers.run_django_pghistory
--dsn ... --schema ...``. Each level tracks inserts, updates (its default ``AnyChange``
condition) and deletes, with context active the way its middleware does it
(``pghistory.context`` around each transaction), and is measured through the Django ORM and
through the suite's raw SQL statements on Django's cursor (the triggers alone, the same
statements as this project's raw psycopg figures; the peer targets compare those).
"""

from __future__ import annotations

from collections.abc import Iterator

from benchmarks.peers import django_orm, harness


def setup(opts: harness.Options) -> Iterator[harness.Variant]:
    django_orm.configure(opts, ["pgtrigger", "pghistory"])
    import pghistory
    import pgtrigger

    category = django_orm.category_model()
    plain = django_orm.plain_models(category)
    trackers = (pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
    row = pghistory.track(*trackers, level=pghistory.Row)(django_orm.item_model("ItemRow", "item_row", category))
    trackers = (pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
    stmt = pghistory.track(*trackers, level=pghistory.Statement)(django_orm.item_model("ItemStmt", "item_stmt", category))
    django_orm.migrate(category)
    pgtrigger.install()

    def wrap() -> pghistory.context:
        return pghistory.context(source="benchmark")

    yield from django_orm.baselines(opts.schema, plain, wrap)
    for label, model, level in ((("row", row, "row level (default)")), ("stmt", stmt, "statement level")):
        records = model.pgh_event_model._meta.db_table
        yield harness.Variant(label, f"Django ORM, {level}, context on", model._meta.db_table,
                              django_orm.orm(model, wrap), baseline="orm_untracked", records=records,
                              clear=("pghistory_context",))
        yield harness.Variant(f"{label}_sql", f"raw SQL, {level}, context on", model._meta.db_table,
                              django_orm.raw(opts.schema, model._meta.db_table, wrap), baseline="sql_untracked",
                              records=records, clear=("pghistory_context",))


if __name__ == "__main__":
    from importlib.metadata import version

    harness.run(harness.options(__doc__ or ""), setup,
                {"django-pghistory": version("django-pghistory"), "Django": version("Django"),
                 "django-pgtrigger": version("django-pgtrigger")})
