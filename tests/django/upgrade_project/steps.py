"""The steps of the upgrade test, run in a subprocess with this directory as the working
directory: ``python steps.py upstream`` (django-pghistory's environment) or ``python
steps.py switch`` (pghistory_django's). Each prints one JSON document on its last line.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import sys


def _setup(app: str) -> None:
    os.environ["PGH_UPGRADE_APP"] = app
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    sys.path.insert(0, os.getcwd())
    import django

    django.setup()


def _events(obj: object) -> list[dict[str, object]]:
    return [
        {"label": e.pgh_label, "data": e.pgh_data, "diff": e.pgh_diff, "context": e.pgh_context, "model": e.pgh_model}
        for e in _events_model().objects.tracks(obj).order_by("pgh_created_at", "pgh_id")
    ]


def _events_model():  # type: ignore[no-untyped-def]
    from django.apps import apps

    return apps.get_model("pghistory", "MiddlewareEvents")


def upstream() -> dict[str, object]:
    """Generate the app's migrations with django-pghistory, migrate, record history."""
    _setup("pghistory")
    import pghistory
    from django.core.management import call_command

    from shop.models import Order, Product, Tag

    call_command("makemigrations", "shop", verbosity=0)
    call_command("migrate", verbosity=0)
    with pghistory.context(user=None, url="/import/") as ctx:
        product = Product.objects.create(name="pen", price="1.50")
        order = Order.objects.create(product=product, quantity=1)
    product.price = "2.00"
    product.save()
    order.quantity = 3
    order.save()
    tag = Tag.objects.create(label="new")
    with pghistory.context(url="/tags/"):
        tag.label = "sale"
        tag.save()
    return {
        "product": product.pk,
        "order": order.pk,
        "tag": tag.pk,
        "context": str(ctx.id),
        "events": {"product": _events(product), "order": _events(order), "tag": _events(tag)},
    }


def switch() -> dict[str, object]:
    """Switch to pghistory_django: makemigrations, migrate, read the old history."""
    _setup("pghistory_django")
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    import pghistory_django as pghistory
    from shop.models import Order, Product, Tag

    # Written before makemigrations/migrate: django-pghistory's triggers are still the
    # installed ones and read only the context statement, so the adapter must notice them
    # and send that statement, not the comment its own triggers read (autocommit, the ORM).
    early = Product.objects.get()
    with pghistory.context(url="/before-migrate/"):
        early.name = "pen 1b"
        early.save()
    before = set(os.listdir("shop/migrations"))
    out = io.StringIO()
    call_command("makemigrations", "shop", stdout=out)
    created = sorted(set(os.listdir("shop/migrations")) - before)
    operations = []
    for name in created:
        module = importlib.import_module("shop.migrations." + name.removesuffix(".py"))
        for op in module.Migration.operations:
            operations.append(
                {
                    "op": type(op).__name__,
                    "model": getattr(op, "model_name", None) or getattr(op, "name", None),
                    "field": getattr(op, "name", None) if hasattr(op, "field") else None,
                    "trigger": getattr(getattr(op, "trigger", None), "name", None),
                }
            )
        dependencies = module.Migration.dependencies
    call_command("migrate", verbosity=0)
    check = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=check)
        clean = True
    except SystemExit:
        clean = False
    loader = MigrationLoader(connection)
    product, order, tag = Product.objects.get(), Order.objects.get(), Tag.objects.get()
    # Written after the switch: recorded by the new triggers, under a new context.
    with pghistory.context(url="/after/"):
        product.name = "pen 2"
        product.save()
    return {
        "created": created,
        "operations": operations,
        "dependencies": [list(d) for d in dependencies] if created else [],
        "clean_after": clean,
        "check_output": check.getvalue(),
        "applied_pghistory": sorted(name for app, name in loader.applied_migrations if app == "pghistory"),
        "events": {"product": _events(product), "order": _events(order), "tag": _events(tag)},
        "obj_events": [e.pgh_label for e in product.events.order_by("pgh_id")],
        "obj_event_context": [
            e.pgh_context.metadata if e.pgh_context else None for e in product.events.order_by("pgh_id")
        ],
    }


if __name__ == "__main__":
    result = {"upstream": upstream, "switch": switch}[sys.argv[1]]()
    print(json.dumps(result, default=str))
