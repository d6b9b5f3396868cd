"""The tracked model of ``test_schema_setting.py`` (not in the main test project's apps)."""

from __future__ import annotations

from django.db import models

import pghistory_django as pghistory


@pghistory.track()
class Gauge(models.Model):
    reading = models.IntegerField()
    label = models.CharField(max_length=32)
