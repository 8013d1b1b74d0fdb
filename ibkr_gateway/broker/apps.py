"""App config of the broker backends."""

from django.apps import AppConfig


class BrokerConfig(AppConfig):
    name = "ibkr_gateway.broker"
    label = "broker"
    verbose_name = "Broker"
    default_auto_field = "django.db.models.BigAutoField"
