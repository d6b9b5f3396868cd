"""Kept for django-pghistory's migration graph: django-pghistory installed its ``_pgh_attach_context()`` function here; this app's context functions are installed by ``0002_context_functions``.

Apps whose migrations were generated with django-pghistory depend on its migration names
(``("pghistory", "0004_auto_20220906_1625")``); this app keeps every one of them so those dependencies
resolve after the switch. A database migrated with django-pghistory has it applied
already.
"""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("pghistory", "0003_auto_20201023_1636")]

    operations: list[migrations.operations.base.Operation] = []
