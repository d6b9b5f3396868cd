"""Admin of the test project: tracked models with "Events" buttons, an event model admin,
and a second site whose events admin shows ``pghistory.MiddlewareEvents``."""

from __future__ import annotations

from django.contrib import admin
from django.test import override_settings

from pghistory_django.admin import EventModelAdmin, TrackedModelAdmin, register
from tests.django.testapp import models as m

admin.site.register(m.TrackedModel, TrackedModelAdmin)
admin.site.register(m.Document, TrackedModelAdmin)
admin.site.register(m.TrackedModelEvent, EventModelAdmin)

middleware_site = admin.AdminSite(name="mwadmin")
with override_settings(PGHISTORY_ADMIN_MODEL="pghistory.MiddlewareEvents"):
    register(middleware_site)
