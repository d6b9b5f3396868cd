"""Kept for django-pghistory's migration graph: django-pghistory reinstalled ``_pgh_attach_context()`` here; nothing to do.

Apps whose migrations were generated with django-pghistory depend on its migration names
(``("pghistory", "0007_auto_20250421_0444")``); this app keeps every one of them so those dependencies
resolve after the switch. A database migrated with django-pghistory has it applied
already.
"""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("pghistory", "0006_delete_aggregateevent")]

    operations: list[migrations.operations.base.Operation] = []
