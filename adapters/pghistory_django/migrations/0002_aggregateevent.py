"""Kept for django-pghistory's migration graph: django-pghistory created its old unmanaged ``AggregateEvent`` model here (no table); nothing to do.

Apps whose migrations were generated with django-pghistory depend on its migration names
(``("pghistory", "0002_aggregateevent")``); this app keeps every one of them so those dependencies
resolve after the switch. A database migrated with django-pghistory has it applied
already.
"""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("pghistory", "0001_initial")]

    operations: list[migrations.operations.base.Operation] = []
