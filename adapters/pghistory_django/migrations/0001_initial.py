from __future__ import annotations

import django.core.serializers.json
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.CreateModel(
            name="Context",
            fields=[
                ("id", models.UUIDField(primary_key=True, serialize=False)),
                ("metadata", models.JSONField(default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"db_table": "pghistory_context"},
        ),
    ]
