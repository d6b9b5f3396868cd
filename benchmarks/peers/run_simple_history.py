"""django-simple-history on the benchmark table, in its recommended configuration.

Layer: benchmarks (ORM runner; peer venv). ``python -m benchmarks.peers.run_simple_history
--dsn ... --schema ...``. ``HistoricalRecords()`` on the model; bulk INSERT through its
``bulk_create_with_history`` (plain ``bulk_create`` records nothing), bulk UPDATE through
``QuerySet.update()`` (which it does not record: the event count shows 0), bulk DELETE
through ``QuerySet.delete()`` (one signal, one history row, per object). It records in
Python, so raw SQL is not measured. No request, so no history user.
"""

from __future__ import annotations

from collections.abc import Iterator

from benchmarks.peers import django_orm, harness


def setup(opts: harness.Options) -> Iterator[harness.Variant]:
    django_orm.configure(opts, ["simple_history"])
    from simple_history.models import HistoricalRecords
    from simple_history.utils import bulk_create_with_history

    category = django_orm.category_model()
    plain = django_orm.item_model("ItemPlain", "item_plain", category)
    tracked = django_orm.item_model("ItemTracked", "item_tracked", category, history=HistoricalRecords())
    django_orm.migrate(category)
    records = tracked.history.model._meta.db_table

    # Per object: QuerySet.delete() sends a signal per row, which the history records one by one.
    yield harness.Variant("orm_untracked", "Django ORM, untracked", "item_plain", django_orm.orm(plain), per_object=True)
    yield harness.Variant(
        "orm", "HistoricalRecords(); bulk_create_with_history, QuerySet.update()/delete(), save()", "item_tracked",
        django_orm.orm(tracked, bulk_create=lambda objs: bulk_create_with_history(objs, tracked)),
        baseline="orm_untracked", records=records, per_object=True,
    )


if __name__ == "__main__":
    from importlib.metadata import version

    harness.run(harness.options(__doc__ or ""), setup,
                {"django-simple-history": version("django-simple-history"), "Django": version("Django")})
