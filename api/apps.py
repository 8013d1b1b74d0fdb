"""App config of the REST API."""

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    label = "api"
    verbose_name = "REST API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Registers the bearer scheme with drf-spectacular on import.
        from api import openapi  # noqa: F401
