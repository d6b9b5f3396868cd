"""Joins this app's own migrations with django-pghistory's migration names.

``0002_context_functions`` (this app's context functions) and the chain that keeps
django-pghistory's names (``0002_aggregateevent`` ... ``0007_auto_20250421_0444``) both
follow ``0001_initial``. A database coming from django-pghistory has that chain applied
and gets ``0002_context_functions`` and this migration on the next ``migrate``; a new
database runs everything.
"""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("pghistory", "0002_context_functions"),
        ("pghistory", "0007_auto_20250421_0444"),
    ]

    operations: list[migrations.operations.base.Operation] = []
