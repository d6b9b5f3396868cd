"""Django tier: Django is set up at collection (models are imported by the tests)."""

from __future__ import annotations

from tests.django.harness import django_db, setup

setup()

__all__ = ["django_db"]
