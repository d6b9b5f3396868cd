"""Kept for django-pghistory's migration graph: django-pghistory changed the class of ``Context.metadata`` here (same column); nothing to do.

Apps whose migrations were generated with django-pghistory depend on its migration names
(``("pghistory", "0003_auto_20201023_1636")``); this app keeps every one of them so those dependencies
resolve after the switch. A database migrated with django-pghistory has it applied
already.
"""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("pghistory", "0002_aggregateevent")]

    operations: list[migrations.operations.base.Operation] = []
