"""URLs of the admin test project: the admin sites and the test app's views."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from tests.django.admintest.admin import middleware_site

urlpatterns = [
    path("admin/", admin.site.urls),
    path("mwadmin/", middleware_site.urls),
    path("", include("tests.django.testapp.urls")),
]
