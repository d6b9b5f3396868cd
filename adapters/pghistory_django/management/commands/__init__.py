"""``manage.py pghistory_backfill`` and ``manage.py pghistory_retention``."""
