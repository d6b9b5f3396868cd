"""System checks of the Django adapter.

Layer: adapter (Django app config).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.apps import AppConfig, apps
from django.core import checks

__all__ = ["check_pgtrigger_installed"]


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
