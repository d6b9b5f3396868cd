"""The Django app: label ``pghistory`` (so ``pghistory.Context`` keeps its name).

Layer: adapter (Django app config). ``ready()`` wires the context transport to every
database connection, registers the system checks (pgtrigger installed; on ``migrate``, the
schema tables are created in is ``PGHISTORY_SCHEMA``), checks each history trigger's
condition right before a migration installs the trigger (between ``pre_migrate`` and
``post_migrate``, :class:`~pghistory_django.triggers.ConditionGuard`), and, with
``PGHISTORY_INSTALL_CONTEXT_FUNC_ON_MIGRATE = True``, reinstalls the context functions after
every ``migrate`` (for test suites that skip migrations).
"""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.db import connections
from django.db.models.signals import post_migrate, pre_migrate


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
        pre_migrate.connect(_guard_conditions, sender=self, dispatch_uid="pghistory_django.pre_migrate.guard")
        post_migrate.connect(_unguard_conditions, sender=self, dispatch_uid="pghistory_django.post_migrate.guard")
        post_migrate.connect(_install_context_functions, sender=self, dispatch_uid="pghistory_django.post_migrate")


def _remove_guards(using: str) -> None:
    from pghistory_django.triggers import ConditionGuard

    wrappers = connections[using].execute_wrappers
    wrappers[:] = [w for w in wrappers if not isinstance(w, ConditionGuard)]


def _guard_conditions(sender: object, using: str = "default", **kwargs: object) -> None:
    """From here to ``post_migrate``, history triggers' conditions are checked before the
    migrations install them. A guard left by a ``migrate`` that failed is replaced."""
    from pghistory_django.triggers import ConditionGuard

    _remove_guards(using)
    connections[using].execute_wrappers.append(ConditionGuard.for_registered(using))


def _unguard_conditions(sender: object, using: str = "default", **kwargs: object) -> None:
    _remove_guards(using)


def _install_context_functions(sender: object, using: str = "default", **kwargs: object) -> None:
    from pghistory_django import config
    from pghistory_django.context_sql import install_context_functions

    if config.install_context_func_on_migrate():
        install_context_functions(using)
