"""App config of the order side."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OrdersConfig(AppConfig):
    name = "orders"
    label = "orders"
    verbose_name = "Orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # ready() runs in every process, also before the tables exist, so it
        # only connects the receiver, and the receiver writes the schedule.
        from orders.schedule import register_after_migrate

        post_migrate.connect(
            register_after_migrate,
            sender=self,
            dispatch_uid="orders.schedule.register_after_migrate",
        )
