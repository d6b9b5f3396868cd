"""System checks of the Django adapter.

Layer: adapter (Django app config).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.apps import AppConfig, apps
from django.core import checks
from django.db import connections, router

__all__ = ["check_pgtrigger_installed", "check_schema"]


def check_pgtrigger_installed(app_configs: Sequence[AppConfig] | None = None, **kwargs: object) -> list[checks.CheckMessage]:
    """pghistory's triggers are carried by django-pgtrigger: its app must be installed."""
    if apps.is_installed("pgtrigger"):
        return []
    return [
        checks.Error(
            "pghistory requires django-pgtrigger: add 'pgtrigger' to INSTALLED_APPS",
            hint="INSTALLED_APPS = [..., 'pgtrigger', 'pghistory_django']",
            id="pghistory.E001",
        )
    ]


def check_schema(
    app_configs: Sequence[AppConfig] | None = None, databases: Sequence[str] | None = None, **kwargs: object
) -> list[checks.CheckMessage]:
    """A database check (``migrate`` runs it; ``manage.py check --database ALIAS`` too): the
    schema Django creates tables in must be ``settings.PGHISTORY_SCHEMA``, which the
    triggers write to. Otherwise every tracked write would fail (no such event table) or,
    worse, record into same-named tables of another schema."""
    from pghistory_django import config

    expected = config.schema()
    errors: list[checks.CheckMessage] = []
    for alias in databases or ():
        connection = connections[alias]
        if connection.vendor != "postgresql" or not router.allow_migrate(alias, "pghistory"):
            continue
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_schema()")
            row = cursor.fetchone()
        current = row[0] if row else None
        if current == expected:
            continue
        where = f"schema {current!r}" if current else "no schema (none of search_path's schemas exists)"
        errors.append(
            checks.Error(
                f"database {alias!r}: Django creates tables in {where}, but pghistory's triggers write to "
                f"schema {expected!r} (settings.PGHISTORY_SCHEMA)",
                hint=(f"set PGHISTORY_SCHEMA = {current!r}" if current else "create the schema")
                + f", or put {expected!r} first on the database user's search_path",
                id="pghistory.E002",
            )
        )
    return errors
