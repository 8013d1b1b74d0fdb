"""URL routes of the gateway."""

from django.contrib import admin
from django.urls import include, path

from ibkr_gateway.health import health

urlpatterns = [
    path("health/", health, name="health"),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
]
