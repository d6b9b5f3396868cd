"""This project's Django adapter (``pghistory_django``) on the benchmark table.

Layer: benchmarks (ORM runner; this project's venv, never the peer venv: django-pghistory
and this adapter both use the app label ``pghistory``). ``python -m
benchmarks.peers.run_ours_django --dsn ... --schema ...``. The default configuration
(default level, FK context, insert/update/delete trackers) through ``@pghistory.track``,
triggers installed by django-pgtrigger, and ``pghistory.context`` around each transaction
(as its middleware does); measured the way :mod:`benchmarks.peers.run_django_pghistory`
measures django-pghistory: through the Django ORM and through the suite's own SQL statements
on Django's cursor (the triggers and the context transport alone). ``sql`` against
django-pghistory's ``row_sql`` is the fair single-row comparison of the report: the same
statement, driver path and untracked baseline on each side.

The adapter keeps every Django-managed table, its context table and its functions in
``public`` (``pghistory_django.translate.SCHEMA``, ``config.CONTEXT_SCHEMA``), so it cannot
run in the runner's schema of the shared database. It runs in a database of its own instead,
created next to the given one (``<schema>_<database>``, dropped first if a previous run left
it) and dropped at the end; there ``public`` is the runner's schema. Creating it needs the
CREATEDB privilege: without it the runner reports why it did not run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version

import psycopg

from benchmarks.peers import django_orm, harness
from pghistory_core import names, sql

#: The schema of the runner's own database: where the adapter puts everything.
SCHEMA = "public"
LIBRARIES = ("Django", "django-pgtrigger")


def setup(opts: harness.Options) -> Iterator[harness.Variant]:
    django_orm.configure(opts, ["pgtrigger", "pghistory_django"])
    import pghistory_django as pghistory
    import pgtrigger

    category = django_orm.category_model()
    plain = django_orm.item_model("ItemPlain", "item_plain", category)
    tracked = pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())(
        django_orm.item_model("ItemTracked", "item_tracked", category)
    )
    django_orm.migrate(category)
    pgtrigger.install()
    event_model = tracked.pgh_event_model  # type: ignore[attr-defined]
    records = event_model._meta.db_table
    level = event_model.pgh_tracking().resolved_trackers[0].level.name.lower()
    table = tracked._meta.db_table  # type: ignore[attr-defined]
    configuration = f"default tracking ({level} level), FK context, context on"

    def wrap() -> pghistory.context:
        return pghistory.context(source="benchmark")

    yield harness.Variant("orm_untracked", "Django ORM, untracked", "item_plain", django_orm.orm(plain))
    yield harness.Variant("sql_untracked", "raw SQL on Django's cursor, untracked", "item_plain",
                          django_orm.raw(opts.schema, "item_plain"))
    yield harness.Variant("orm", f"Django ORM, {configuration}", table, django_orm.orm(tracked, wrap),
                          baseline="orm_untracked", records=records, clear=("pghistory_context",))
    yield harness.Variant("sql", f"raw SQL on Django's cursor, {configuration}", table,
                          django_orm.raw(opts.schema, table, wrap), baseline="sql_untracked", records=records,
                          clear=("pghistory_context",))


def _teardown() -> None:
    # Django's connection must be gone before the database can be dropped.
    from django.db import connections

    connections.close_all()


def _database(opts: harness.Options) -> str:
    """The name of the runner's own database: ``<schema>_<given database>``, within 63 bytes."""
    given = psycopg.conninfo.conninfo_to_dict(opts.dsn).get("dbname") or "postgres"
    return names.fit(opts.schema, str(given))


def _drop_database(opts: harness.Options, name: str) -> None:
    with psycopg.connect(opts.dsn, autocommit=True) as conn:
        # FORCE (Postgres 13+): a connection a crashed run left behind must not keep it.
        conn.execute(sql.render(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))))


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
    name = _database(opts)
    try:
        _drop_database(opts, name)
        with psycopg.connect(opts.dsn, autocommit=True) as conn:
            conn.execute(sql.render(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))))
    except psycopg.Error as exc:
        harness.fail(f"not run: cannot create the database {name} (it needs CREATEDB): {str(exc).strip()}")
        return
    own = dataclasses.replace(opts, dsn=psycopg.conninfo.make_conninfo(opts.dsn, dbname=name), schema=SCHEMA)
    try:
        harness.run(own, setup, _packages(), teardown=_teardown)
    finally:
        _drop_database(opts, name)


if __name__ == "__main__":
    main()
