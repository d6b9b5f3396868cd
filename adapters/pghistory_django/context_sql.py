"""The shared context functions, rendered by the core, for migrations and ``post_migrate``.

Layer: adapter (Django DDL). The context table itself is the ``pghistory.Context`` model
(created by migration 0001); the functions the triggers call to store a context row are the
core's (:func:`pghistory_core.render.context_artefacts`), in ``settings.PGHISTORY_SCHEMA``.
"""

from __future__ import annotations

from django.db import connections

from pghistory_core import render, sql
from pghistory_django import config

__all__ = ["context_functions_sql", "drop_context_functions_sql", "install_context_functions"]


def _functions() -> list[render.Artefact]:
    return [a for a in render.context_artefacts(config.schema()) if a.kind == "function"]


def context_functions_sql() -> list[str]:
    """``CREATE OR REPLACE FUNCTION`` statements (idempotent)."""
    return [sql.render(a.create) for a in _functions()]


def drop_context_functions_sql() -> list[str]:
    return [sql.render(a.drop) for a in reversed(_functions())]


def install_context_functions(using: str = "default") -> None:
    with connections[using].cursor() as cursor:
        for statement in context_functions_sql():
            cursor.execute(statement)
