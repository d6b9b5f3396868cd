"""Django settings of the test project (tests/django).

The database is filled in by :func:`tests.django.harness.configure_database` from the
test server's DSN before the first connection.
"""

from __future__ import annotations

SECRET_KEY = "pghistory-tests"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.django.testapp.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "pgtrigger",
    "pghistory_django",
    "tests.django.testapp",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "pghistory_django.middleware.HistoryMiddleware",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "pghistory_unconfigured",
    }
}

PGHISTORY_INSTALL_CONTEXT_FUNC_ON_MIGRATE = True
