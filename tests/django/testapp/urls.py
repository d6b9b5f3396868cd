from __future__ import annotations

from django.urls import path

from tests.django.testapp import views

urlpatterns = [
    path("tracked/<int:pk>/", views.update_tracked),
    path("async/tracked/<int:pk>/", views.aupdate_tracked),
]
