"""App config of the gateway project package."""

from django.apps import AppConfig
from django.db.backends.signals import connection_created


class GatewayConfig(AppConfig):
    name = "ibkr_gateway"
    verbose_name = "IBKR gateway"

    def ready(self):
        from ibkr_gateway import checks  # noqa: F401 (registers the check)
        from ibkr_gateway.sqlite import configure_connection

        connection_created.connect(
            configure_connection, dispatch_uid="ibkr_gateway.sqlite.configure"
        )
