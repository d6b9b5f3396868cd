"""Admin test harness: the test project with ``django.contrib.admin``, and a live server.

Layer: tests (Django tier). ``tests/django/settings.py`` has no admin, so
:func:`admin_project` turns it on for a block with ``override_settings`` (Django reloads
the app registry, which runs admin autodiscovery: ``pghistory_django.admin`` registers the
events admin, ``tests.django.admintest.admin`` the test models), and migrates the admin's
table once. :func:`live_server` serves the project, static files included, on a loopback
port from a thread, for the browser test.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser

from django.conf import settings
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.test import override_settings

#: Apps the admin needs, and the test project's admin registrations.
ADMIN_APPS = ("django.contrib.admin", "django.contrib.messages", "django.contrib.staticfiles", "tests.django.admintest")
MESSAGES_MIDDLEWARE = "django.contrib.messages.middleware.MessageMiddleware"
AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


def admin_settings() -> dict[str, object]:
    """The test project's settings plus what the admin needs."""
    installed = list(settings.INSTALLED_APPS) + [app for app in ADMIN_APPS if app not in settings.INSTALLED_APPS]
    middleware = list(settings.MIDDLEWARE)
    if MESSAGES_MIDDLEWARE not in middleware:
        middleware.insert(middleware.index(AUTH_MIDDLEWARE) + 1, MESSAGES_MIDDLEWARE)
    return {
        "INSTALLED_APPS": installed,
        "MIDDLEWARE": middleware,
        "TEMPLATES": TEMPLATES,
        "ROOT_URLCONF": "tests.django.admintest.urls",
        "STATIC_URL": "/static/",
        "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],  # fast logins
    }


@contextmanager
def admin_project() -> Iterator[None]:
    """Inside the block, the project has the admin at ``/admin/`` (the database must be set up)."""
    with override_settings(**admin_settings()):
        call_command("migrate", verbosity=0)  # django_admin_log; a no-op the second time
        yield


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass


@contextmanager
def live_server() -> Iterator[str]:
    """Serve the project on ``127.0.0.1`` (a free port) from a thread; yields the base URL.

    Each request runs in its own thread with its own database connections, closed after
    the request (Django's ``ThreadedWSGIServer``), so the test's committed data is visible.
    """
    server = ThreadedWSGIServer(("127.0.0.1", 0), _QuietHandler, allow_reuse_address=False)
    server.set_app(StaticFilesHandler(WSGIHandler()))
    thread = threading.Thread(target=server.serve_forever, name="admin-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --------------------------------------------------------------------------- admin pages


class AdminPage(HTMLParser):
    """What a user reads on an admin page: ``headers`` and ``rows`` (cell texts) of the
    change list, ``tools`` (object-tools buttons: text, href), ``subtitle`` (the heading
    under the title), ``filters`` (titles of the filter sidebar)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.headers: list[str] = []
        self.rows: list[list[str]] = []
        self.tools: list[tuple[str, str]] = []
        self.subtitle = ""
        self.filters: list[str] = []
        self._depth = 0
        self._region: tuple[str, int] | None = None  # (name, depth where it opened)
        self._after_title = False
        self._cell: list[str] | None = None
        self._link = ""
        self.feed(html)
        self.close()

    def _in(self, name: str) -> bool:
        return self._region is not None and self._region[0] == name

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("br", "img", "input", "link", "meta", "hr", "col"):
            return  # void elements: no end tag
        self._depth += 1
        if self._region is None:
            region = {"result_list": "results", "changelist-filter": "filters"}.get(values.get("id") or "")
            if tag == "ul" and "object-tools" in (values.get("class") or ""):
                region = "tools"
            if tag == "h2" and self._after_title:
                region = "subtitle"
            if region:
                self._region = (region, self._depth)
        self._after_title = False
        if self._in("results") and tag == "tr":
            self.rows.append([])
        if (self._in("results") and tag in ("td", "th")) or (self._in("filters") and tag in ("h3", "summary")):
            self._cell = []
        if self._in("tools") and tag == "a":
            self._link, self._cell = values.get("href") or "", []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("br", "img", "input", "link", "meta", "hr", "col"):
            return
        text = " ".join("".join(self._cell).split()) if self._cell is not None else ""
        if self._in("results") and tag in ("td", "th"):
            self.rows[-1].append(text)
            self._cell = None
        elif self._in("tools") and tag == "a":
            self.tools.append((text, self._link))
            self._cell = None
        elif self._in("filters") and tag in ("h3", "summary"):
            self.filters.append(text)
            self._cell = None
        if self._region is not None and self._depth == self._region[1]:
            if self._in("results"):
                self.headers, self.rows = (self.rows[0], self.rows[1:]) if self.rows else ([], [])
            self._region = None
        # The subtitle is the <h2> right after the page title's <h1>.
        self._after_title = tag == "h1"
        self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._in("subtitle"):
            self.subtitle += data.strip()

    def column(self, header: str) -> list[str]:
        index = self.headers.index(header)
        return [row[index] for row in self.rows]
