"""Empty every table of the test project between tests (the database lives for the session)."""

from __future__ import annotations

from django.apps import apps
from django.db import connections


def truncate_all(alias: str = "default") -> None:
    connection = connections[alias]
    tables = sorted(
        {model._meta.db_table for model in apps.get_models() if not model._meta.proxy and model._meta.managed}
        - {"django_migrations", "django_content_type", "auth_permission"}
    )
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE " + ", ".join(connection.ops.quote_name(t) for t in tables) + " RESTART IDENTITY CASCADE")
