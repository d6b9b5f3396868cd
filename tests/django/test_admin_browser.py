"""The admin end to end in a real browser: log in, edit a tracked object, open its events.

Layer: tests (Django tier, browser). Headless Chromium (Debian's ``chromium`` package,
``PGHISTORY_CHROMIUM`` to point elsewhere) driven by Playwright for Python, against the
test project served from a thread on a loopback port. Playwright's own browser downloads
are never used. The events page is kept as ``tests/artifacts/admin_events.png``.

Skipped, with the reason, only when Playwright or Chromium is missing.
"""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from tests.django.admin_harness import admin_project, live_server
from tests.django.cleanup import truncate_all
from tests.django.testapp import models as m

CHROMIUM = os.environ.get("PGHISTORY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # runs as root in CI containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None

pytestmark = [
    pytest.mark.skipif(sync_playwright is None, reason="playwright is not installed (pip install playwright)"),
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium, or set PGHISTORY_CHROMIUM)"
    ),
]


@pytest.fixture(scope="module")
def _admin(django_db):
    with admin_project():
        importlib.import_module("pghistory_django.admin")
        yield


@pytest.fixture(autouse=True)
def _db(_admin):
    yield
    truncate_all()


def test_events_of_an_object_in_the_browser():
    # Playwright's sync API runs an event loop in this thread, where Django refuses ORM
    # calls: the data is written before the browser starts and checked after it stops.
    admin_user = User.objects.create_superuser("admin", "admin@example.com", "secret")
    obj = m.TrackedModel.objects.create(int_field=1, char_field="hello", user=admin_user)
    change_path = f"/admin/testapp/trackedmodel/{obj.pk}/change/"
    shot = ARTIFACTS / "admin_events.png"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot.unlink(missing_ok=True)

    with live_server() as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(20_000)

            # Log in through the login form; it leads to the object's change form.
            page.goto(f"{base}/admin/login/?next={change_path}")
            page.fill("#id_username", "admin")
            page.fill("#id_password", "secret")
            page.click("input[type=submit]")
            page.wait_for_url(f"{base}{change_path}")

            # Change int_field through the form (recorded with the middleware's context).
            page.fill("#id_int_field", "2")
            page.click("input[name=_continue]")
            expect(page.locator("ul.messagelist")).to_contain_text("was changed successfully")

            # The change form's "Events" button opens the object's events.
            page.click("ul.object-tools a.pgh-events")
            page.wait_for_url("**/admin/pghistory/events/?*")
            expect(page.locator("#content h2").first).to_have_text(f"Tracks {obj}")
            rows = page.locator("#result_list tbody tr")
            expect(rows).to_have_count(2)
            expect(rows.first.locator(".pgh-diff")).to_have_text("int_field: 1 → 2")
            expect(rows.nth(1)).to_contain_text("testapp.TrackedModel")
            page.screenshot(path=str(shot), full_page=True)

            # "Back" returns to the change form.
            page.click("ul.object-tools a.pgh-back")
            page.wait_for_url(f"{base}{change_path}")
        finally:
            browser.close()

    assert shot.stat().st_size > 10_000
    update = obj.events.order_by("pgh_id").last()
    assert (update.pgh_label, update.int_field) == ("update", 2)
    assert update.pgh_context.metadata == {"user": admin_user.pk, "url": change_path}
