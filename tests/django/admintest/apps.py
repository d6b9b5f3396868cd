from __future__ import annotations

from django.apps import AppConfig


class AdminTestConfig(AppConfig):
    """Admin registrations of the test project (installed by tests.django.admin_harness)."""

    name = "tests.django.admintest"
    label = "admintest"
