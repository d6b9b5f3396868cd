"""The admin integration through Django's test client: the events page and its filters,
event model admins, the "Events" buttons, and the ``PGHISTORY_ADMIN_*`` settings.

Layer: tests (Django tier). Each test reads the page a user would see (rows, buttons,
filters); the browser test (test_admin_browser.py) walks the same pages in Chromium.
"""

from __future__ import annotations

import importlib
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.core import checks
from django.test import Client, override_settings

import pghistory_django as pghistory
from tests.django.admin_harness import AdminPage, admin_project
from tests.django.cleanup import truncate_all
from tests.django.testapp import models as m

EVENTS_URL = "/admin/pghistory/events/"
EVENT_MODEL_URL = "/admin/testapp/trackedmodelevent/"


@pytest.fixture(scope="module")
def pgh_admin(django_db):
    """``pghistory_django.admin``, imported once the admin is installed (as autodiscovery
    does; imported before, it would not register the events admin)."""
    with admin_project():
        yield importlib.import_module("pghistory_django.admin")


@pytest.fixture(autouse=True)
def _db(pgh_admin):
    yield
    truncate_all()


@pytest.fixture
def client():
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    # User is tracked (testapp.UserProxy): keep its events out of the pages under test.
    m.UserProxyEvent.objects.all().delete()
    return client


@pytest.fixture
def history():
    """Two tracked objects with an insert and an update each, and a document."""
    a = m.TrackedModel.objects.create(int_field=1, char_field="a")
    b = m.TrackedModel.objects.create(int_field=10, char_field="b")
    a.int_field = 2
    a.save()
    with pghistory.context(job="rename"):
        b.char_field = "bb"
        b.save()
    doc = m.Document.objects.create(title="doc")
    return a, b, doc


def page(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200, (response.status_code, response.get("Location"))
    return AdminPage(response.content.decode())


def column(page_, header):
    """Cells under the header that contains *header* (case-insensitive)."""
    matches = [h for h in page_.headers if header.lower() in h.lower()]
    assert len(matches) == 1, (header, page_.headers)
    return page_.column(matches[0])


# ------------------------------------------------------------------------- registration


def test_events_admin_is_registered_and_system_checks_pass(pgh_admin):
    model = pgh_admin.admin_model()
    assert model._meta.label == "pghistory.Events"
    assert isinstance(admin.site._registry[model], pgh_admin.EventsAdmin)
    errors = [e for e in checks.run_checks(tags=[checks.Tags.admin]) if e.level >= checks.ERROR]
    assert errors == []


def test_admin_class_and_model_settings(pgh_admin):
    class CustomEventsAdmin(pgh_admin.EventsAdmin):
        pass

    site = admin.AdminSite(name="custom")
    with override_settings(PGHISTORY_ADMIN_MODEL="pghistory.MiddlewareEvents", PGHISTORY_ADMIN_CLASS=CustomEventsAdmin):
        pgh_admin.register(site)
    registered = {model._meta.label: type(model_admin) for model, model_admin in site._registry.items()}
    assert registered == {"pghistory.MiddlewareEvents": CustomEventsAdmin}
    with override_settings(PGHISTORY_ADMIN_CLASS="django.contrib.admin.ModelAdmin"):
        with pytest.raises(Exception, match="PGHISTORY_ADMIN_CLASS must be a subclass"):
            pgh_admin.register(admin.AdminSite(name="bad"))


# --------------------------------------------------------------------------- events admin


def test_events_page_lists_events_with_readable_diffs(client, history):
    a, b, _ = history
    events = page(client, EVENTS_URL)
    assert events.subtitle == "" and len(events.rows) == 5
    diffs = column(events, "diff")
    assert "int_field: 1 → 2" in diffs
    assert 'char_field: "b" → "bb"' in diffs
    assert diffs.count("-") == 3  # the three inserts have no previous event
    assert {"By label", "By event model"} <= set(events.filters)


def test_events_page_filters_by_label_and_event_model(client, history):
    by_label = page(client, EVENTS_URL, label="update")
    assert len(by_label.rows) == 2
    by_model = page(client, EVENTS_URL, event_model="testapp.documentevent")
    assert len(by_model.rows) == 1 and column(by_model, "obj model") == ["testapp.Document"]


def test_object_events_page(client, history):
    a, _, _ = history
    params = {"method": "tracks", "obj": f"testapp.TrackedModel:{a.pk}", "back": f"/admin/testapp/trackedmodel/{a.pk}/change/"}
    events = page(client, EVENTS_URL, **params)
    assert column(events, "diff") == ["int_field: 1 → 2", "-"]
    assert len(events.rows) == 2 and set(column(events, "obj id")) == {str(a.pk)}
    assert events.subtitle == f"Tracks {a}"
    assert ("Back", params["back"]) in events.tools
    assert {"By method", "By object"} <= set(events.filters)
    assert len(page(client, EVENTS_URL, **params, label="update").rows) == 1


def test_events_referencing_an_object(client, history):
    a, _, _ = history
    user = User.objects.create_user("referenced")
    m.TrackedModel.objects.filter(pk=a.pk).update(user=user)
    m.UserProxyEvent.objects.all().delete()
    events = page(client, EVENTS_URL, method="references", obj=f"auth.User:{user.pk}")
    assert column(events, "obj model") == ["testapp.TrackedModel"]
    assert column(events, "diff") == [f"user_id: null → {user.pk}"]
    assert events.subtitle == f"References {user}"


def test_event_detail_page_is_read_only(client, history):
    from django.contrib.admin.utils import quote

    from pghistory_django.models import Events

    event = Events.objects.filter(pgh_label="update", pgh_obj_model="testapp.TrackedModel").order_by("pgh_id").first()
    response = client.get(f"{EVENTS_URL}{quote(event.pk)}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="_save"' not in html and "testapp.TrackedModelEvent" in html


def test_object_events_of_a_deleted_object(client, history):
    a, _, _ = history
    pk = a.pk
    a.delete()
    events = page(client, EVENTS_URL, method="tracks", obj=f"testapp.TrackedModel:{pk}")
    assert len(events.rows) == 2 and "deleted" in events.subtitle


def test_model_events_page(client, history):
    events = page(client, EVENTS_URL, model="testapp.TrackedModel")
    assert len(events.rows) == 4 and set(column(events, "obj model")) == {"testapp.TrackedModel"}
    assert events.subtitle == "testapp.TrackedModel"


def test_bad_parameters_redirect_to_the_error_page(client, history):
    for params in ({"obj": "testapp.TrackedModel:not-a-number"}, {"obj": "nope.Nope:1"}, {"event_model": "auth.user"}):
        response = client.get(EVENTS_URL, params)
        assert response.status_code == 302 and response["Location"].endswith("?e=1"), params


def test_back_to_another_site_is_not_offered(client, history):
    events = page(client, EVENTS_URL, model="testapp.TrackedModel", back="https://evil.example/")
    assert not [text for text, _ in events.tools if text == "Back"]


def test_admin_settings_ordering_list_display_all_events(client, history):
    with override_settings(PGHISTORY_ADMIN_ORDERING="pgh_created_at"):
        oldest_first = page(client, EVENTS_URL, event_model="testapp.trackedmodelevent")
    with override_settings(PGHISTORY_ADMIN_ORDERING=["-pgh_created_at"]):
        newest_first = page(client, EVENTS_URL, event_model="testapp.trackedmodelevent")
    assert oldest_first.rows == newest_first.rows[::-1]
    with override_settings(PGHISTORY_ADMIN_LIST_DISPLAY=["pgh_label", "pgh_diff", "pgh_data"]):
        custom = page(client, EVENTS_URL, label="update")
    assert [h.lower() for h in custom.headers] == ["pgh label", "diff", "data"]
    assert any("int_field: 2" in cell for cell in column(custom, "data"))
    with override_settings(PGHISTORY_ADMIN_ALL_EVENTS=False):
        assert page(client, EVENTS_URL).rows == []
        assert len(page(client, EVENTS_URL, label="insert").rows) == 3


def test_admin_queryset_setting(client, history):
    from pghistory_django.models import Events

    with override_settings(PGHISTORY_ADMIN_QUERYSET=Events.objects.filter(pgh_label="insert").order_by("pgh_created_at")):
        events = page(client, EVENTS_URL)
    assert column(events, "obj model") == ["testapp.TrackedModel", "testapp.TrackedModel", "testapp.Document"]


def test_middleware_events_show_user_and_url(client, history):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    a, b, _ = history
    user = User.objects.get(username="root")
    url = "/mwadmin/pghistory/middlewareevents/"
    assert client.post(f"/tracked/{a.pk}/", {"value": 7}).status_code == 200
    with CaptureQueriesContext(connection) as one_user_event:
        events = page(client, url, label="update")
    assert [h.lower() for h in events.headers][-2:] == ["user", "url"]
    assert [row[-2:] for row in events.rows if row[-1] != "-"] == [[str(user), f"/tracked/{a.pk}/"]]
    for value in (8, 9, 10):
        assert client.post(f"/tracked/{b.pk}/", {"value": value}).status_code == 200
    with CaptureQueriesContext(connection) as four_user_events:
        assert len(page(client, url, label="update").rows) == 6
    assert len(four_user_events) == len(one_user_event)  # users are joined, not fetched per row


# ---------------------------------------------------------------------- event model admin


def test_event_model_admin_is_read_only(client, history):
    a, _, _ = history
    events = page(client, EVENT_MODEL_URL)
    assert [h.lower() for h in events.headers[:3]] == ["pgh id", "pgh created at", "pgh label"]
    assert {"Int field", "Char field"} <= set(events.headers)
    assert not [text for text, _ in events.tools if "Add" in text]
    assert client.get(EVENT_MODEL_URL + "add/").status_code == 403
    event = a.events.order_by("pgh_id").first()
    detail = client.get(f"{EVENT_MODEL_URL}{event.pk}/change/")
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert client.post(f"{EVENT_MODEL_URL}{event.pk}/delete/").status_code == 403


def test_event_model_admin_filters_by_label_and_object(client, history):
    a, b, _ = history
    assert len(page(client, EVENT_MODEL_URL, label="insert").rows) == 2
    of_b = page(client, EVENT_MODEL_URL, obj=f"testapp.TrackedModel:{b.pk}")
    assert column(of_b, "char field") == ["bb", "b"] and of_b.subtitle == str(b)


# ------------------------------------------------------------------------ events buttons


def _query(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_events_buttons_on_tracked_change_list_and_form(client, history):
    a, _, _ = history
    listing = page(client, "/admin/testapp/trackedmodel/")
    [(text, url)] = [tool for tool in listing.tools if tool[0] == "Events"]
    assert url.startswith(EVENTS_URL) and _query(url) == {"model": "testapp.TrackedModel", "back": "/admin/testapp/trackedmodel/"}
    form = page(client, f"/admin/testapp/trackedmodel/{a.pk}/change/")
    buttons = dict(form.tools)
    assert _query(buttons["Events"]) == {
        "method": "tracks",
        "obj": f"testapp.TrackedModel:{a.pk}",
        "back": f"/admin/testapp/trackedmodel/{a.pk}/change/",
    }
    # The event model registered with EventModelAdmin gets its own button.
    [event_button] = [url for text, url in form.tools if text.lower() == "tracked model events"]
    assert event_button.startswith(EVENT_MODEL_URL) and _query(event_button)["obj"] == f"testapp.TrackedModel:{a.pk}"
    assert "History" in buttons  # Django's own button is kept


def test_events_button_needs_permission_to_view_events(history):
    a, _, _ = history
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_trackedmodel", "change_trackedmodel"]))
    client = Client()
    client.force_login(staff)
    form = page(client, f"/admin/testapp/trackedmodel/{a.pk}/change/")
    assert [text for text, _ in form.tools] == ["History"]
    assert client.get(EVENTS_URL).status_code == 403
