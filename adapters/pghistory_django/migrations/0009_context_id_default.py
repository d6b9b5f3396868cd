"""``Context.id`` gets django-pghistory's ``default=uuid.uuid4`` (rows created by hand).

A Python-side default only: Postgres is not changed (Django sends no SQL for it).
"""

from __future__ import annotations

import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("pghistory", "0008_merge_django_pghistory_names")]

    operations = [
        migrations.AlterField(
            model_name="context",
            name="id",
            field=models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False),
        ),
    ]
