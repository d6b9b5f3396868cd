"""Install the core's context functions (``pghistory_context_id()``, ``pghistory_attach_context()``).

The SQL is rendered by the core when the migration runs, so a database migrated later gets
the functions of the installed version; ``CREATE OR REPLACE`` makes it idempotent.
"""

from __future__ import annotations

from django.db import migrations

from pghistory_django.context_sql import context_functions_sql, drop_context_functions_sql


class Migration(migrations.Migration):
    dependencies = [("pghistory", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql=context_functions_sql(),
            reverse_sql=drop_context_functions_sql(),
        ),
    ]
