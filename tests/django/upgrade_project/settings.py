"""Settings of the upgrade test project (tests/django/test_upgrade_from_django_pghistory.py).

``PGH_UPGRADE_APP`` chooses the history app: ``pghistory`` (django-pghistory 3.9.2, in its
own virtual environment) or ``pghistory_django``; both have the app label ``pghistory``.
The database comes from the libpq DSN in ``PGH_UPGRADE_DSN``.
"""

from __future__ import annotations

import os

from psycopg.conninfo import conninfo_to_dict

HISTORY_APP = os.environ.get("PGH_UPGRADE_APP", "pghistory")

SECRET_KEY = "pghistory-upgrade-test"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "pgtrigger",
    HISTORY_APP,
    "shop",
]

_dsn = conninfo_to_dict(os.environ.get("PGH_UPGRADE_DSN", "dbname=pghistory_upgrade"))
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _dsn.pop("dbname", ""),
        "USER": _dsn.pop("user", ""),
        "PASSWORD": _dsn.pop("password", ""),
        "HOST": _dsn.pop("host", ""),
        "PORT": _dsn.pop("port", ""),
        "OPTIONS": _dsn,
    }
}
