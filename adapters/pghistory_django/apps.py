"""The Django app: label ``pghistory`` (so ``pghistory.Context`` keeps its name).

Layer: adapter (Django app config). ``ready()`` wires the context transport to every
database connection, registers the system checks (pgtrigger installed; on ``migrate``, the
schema tables are created in is ``PGHISTORY_SCHEMA``), and, with
``PGHISTORY_INSTALL_CONTEXT_FUNC_ON_MIGRATE = True``, reinstalls the context functions after
every ``migrate`` (for test suites that skip migrations).
"""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.db.models.signals import post_migrate


class PGHistoryConfig(AppConfig):
    name = "pghistory_django"
    label = "pghistory"
    verbose_name = "pghistory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from pghistory_django import checks as pgh_checks
        from pghistory_django import runtime

        runtime.install()
        checks.register(pgh_checks.check_pgtrigger_installed)
        checks.register(pgh_checks.check_schema, checks.Tags.database)
        post_migrate.connect(_install_context_functions, sender=self, dispatch_uid="pghistory_django.post_migrate")


def _install_context_functions(sender: object, using: str = "default", **kwargs: object) -> None:
    from pghistory_django import config
    from pghistory_django.context_sql import install_context_functions

    if config.install_context_func_on_migrate():
        install_context_functions(using)
