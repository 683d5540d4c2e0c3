from django.contrib import admin
from django.urls import include, path

from config.health import healthz, readyz
from rooms.api import api

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("", include("frontend.urls")),
]
