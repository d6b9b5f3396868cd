"""The Django side of the peer runners: settings, the benchmark models, and the workloads
through the ORM (``bulk_create``, ``QuerySet.update()``, ``QuerySet.delete()``, single-row
``save()``/``delete()``) and through raw SQL on Django's cursor.

Layer: benchmarks (ORM runners). Imported by :mod:`benchmarks.peers.run_django_pghistory`
and :mod:`benchmarks.peers.run_simple_history` in the peer venv, and by
:mod:`benchmarks.peers.run_ours_django` in this project's venv (django-pghistory and this
project's Django adapter both use the app label ``pghistory``: never one interpreter).
Every Django runner measures the same code here, so its figures differ only by library.

The models mirror :data:`benchmarks.workloads.COLUMNS` (``id`` is given, not generated) and
live in the app ``benchmarks.peers`` (label ``peers``), created after ``django.setup()``;
``migrate --run-syncdb`` creates their tables next to the peer's own (migrated) tables,
all in the runner's schema (first on the search_path; this project's adapter is told so
with ``PGHISTORY_SCHEMA``).
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable, Iterable, Iterator
from typing import ContextManager

from benchmarks.peers.harness import Body, Options, Variant, connect_kwargs
from benchmarks.workloads import Workload, bulk_statement, row_values, single_statement
from pghistory_core import sql

__all__ = ["configure", "category_model", "item_model", "plain_models", "baselines", "migrate", "orm", "raw"]

APP = "peers"
Wrap = Callable[[], ContextManager[object]]


def configure(opts: Options, apps: Iterable[str], **extra: object) -> None:
    """Settings for *apps* (and this package's app) on the benchmark database, plus *extra*
    settings; setup."""
    import django
    from django.conf import settings

    params = connect_kwargs(opts)
    names = {"dbname": "NAME", "user": "USER", "password": "PASSWORD", "host": "HOST", "port": "PORT"}
    database = {"ENGINE": "django.db.backends.postgresql", "OPTIONS": {}}
    for key, value in params.items():
        if key in names:
            database[names[key]] = value
        else:
            database["OPTIONS"][key] = value  # type: ignore[index]
    settings.configure(
        DATABASES={"default": database},
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", *apps, "benchmarks.peers"],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        SECRET_KEY="benchmarks",
        MIGRATION_MODULES={APP: None},
        **extra,
    )
    django.setup()


def category_model() -> type:
    from django.db import models

    return type(
        "Category",
        (models.Model,),
        {
            "__module__": __name__,
            "id": models.IntegerField(primary_key=True),
            "name": models.TextField(),
            "Meta": type("Meta", (), {"app_label": APP, "db_table": "category"}),
        },
    )


def item_model(name: str, table: str, category: type, **attributes: object) -> type:
    """A model of the benchmark table named *table*; *attributes* add e.g. ``history``."""
    from django.db import models

    return type(
        name,
        (models.Model,),
        {
            "__module__": __name__,
            "id": models.BigIntegerField(primary_key=True),
            "category": models.ForeignKey(category, on_delete=models.DO_NOTHING, related_name="+"),
            "qty": models.IntegerField(),
            "stock": models.IntegerField(),
            "name": models.TextField(),
            "price": models.DecimalField(max_digits=12, decimal_places=2),
            "updated_at": models.DateTimeField(),
            "active": models.BooleanField(),
            "Meta": type("Meta", (), {"app_label": APP, "db_table": table}),
            **attributes,
        },
    )


def plain_models(category: type) -> type:
    """The untracked copies: ``item_plain`` (the baseline, returned) and ``item_plain_ctx``
    (written with the library's context on: see :func:`baselines`)."""
    item_model("ItemPlainCtx", "item_plain_ctx", category)
    return item_model("ItemPlain", "item_plain", category)


def baselines(schema: str, plain: type, wrap: Wrap) -> Iterator[Variant]:
    """The untracked variants a library's tracked variants are measured against (ORM and
    SQL), and ``sql_ctx``: the SQL baseline's statement on the other untracked copy with
    *wrap*'s context on, the library's context transport alone (single-row loops only)."""
    yield Variant("orm_untracked", "Django ORM, untracked", "item_plain", orm(plain))
    yield Variant("sql_untracked", "raw SQL on Django's cursor, untracked", "item_plain", raw(schema, "item_plain"))
    yield Variant("sql_ctx", "raw SQL on Django's cursor, untracked copy, context on (the context transport alone)",
                  "item_plain_ctx", raw(schema, "item_plain_ctx", wrap), baseline="sql_untracked", probe=True)


def migrate(category: type) -> None:
    """Every installed app's tables (the peer's migrations, this app by syncdb); categories."""
    from django.core.management import call_command

    # Migrated apps first: syncdb creates unmigrated tables before running migrations, and
    # a history model's foreign key to auth_user needs that table.
    call_command("migrate", verbosity=0)
    call_command("migrate", run_syncdb=True, verbosity=0)
    category.objects.bulk_create([category(id=i, name=f"category {i}") for i in range(1, 11)])  # type: ignore[attr-defined]


def orm(model: type, wrap: Wrap = contextlib.nullcontext, bulk_create: Callable[[list[object]], object] | None = None) -> Callable[[Workload, int], Body]:
    """The workloads through the ORM. *wrap* opens whatever a request would (a history
    context) around each transaction; *bulk_create* replaces ``bulk_create`` (a peer's
    recommended bulk helper)."""
    from django.db import transaction
    from django.db.models import Case, F, When
    from django.db.models.functions import Mod
    from django.db.models.lookups import Exact

    manager = model.objects  # type: ignore[attr-defined]
    create = bulk_create or manager.bulk_create
    second = datetime.timedelta(seconds=1)

    def atomic(write: Callable[[], object]) -> Body:
        def body() -> None:
            with wrap(), transaction.atomic():
                write()

        return body

    def prepare(workload: Workload, size: int) -> Body:
        name = workload.name
        if name == "bulk_insert":
            objs = [model(**row_values(g)) for g in range(1, size + 1)]
            return atomic(lambda: create(objs))
        if name == "bulk_update":
            return atomic(lambda: manager.update(qty=F("qty") + 1, updated_at=F("updated_at") + second))
        if name == "bulk_update_half":
            half = Case(When(Exact(Mod("id", 2), 0), then=F("qty") + 1), default=F("qty"))
            return atomic(lambda: manager.update(qty=half))
        if name == "bulk_delete":
            return atomic(lambda: manager.all().delete())
        if name == "single_insert":
            new = [model(**row_values(g)) for g in range(1, size + 1)]

            def insert_each() -> Iterator[None]:
                for obj in new:
                    with wrap():
                        obj.save(force_insert=True)
                    yield

            return insert_each
        existing = list(manager.order_by("id"))
        if name == "single_update":

            def update_each() -> Iterator[None]:
                for obj in existing:
                    obj.qty += 1
                    obj.updated_at += second
                    with wrap():
                        obj.save()
                    yield

            return update_each

        def delete_each() -> Iterator[None]:
            for obj in existing:
                with wrap():
                    obj.delete()
                yield

        return delete_each

    return prepare


def raw(schema: str, table: str, wrap: Wrap = contextlib.nullcontext) -> Callable[[Workload, int], Body]:
    """The suite's own SQL statements on Django's cursor (so a peer's context reaches them):
    what the triggers alone cost, the same statement as the raw psycopg figures."""
    from django.db import connection, transaction

    ident = sql.Identifier(schema, table)

    def prepare(workload: Workload, size: int) -> Body:
        if workload.bulk:
            statement = bulk_statement(workload, ident, size)

            def bulk() -> None:
                with wrap(), transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(statement)

            return bulk
        single = single_statement(workload, ident)

        def loop() -> Iterator[None]:
            with connection.cursor() as cursor:
                for key in range(1, size + 1):
                    with wrap():
                        cursor.execute(single, (key,))
                    yield

        return loop

    return prepare
