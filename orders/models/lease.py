"""``ReconcileLease``: a named lease that lets one process at a time do a job.

Rows change only through ``orders.lease``, which takes, extends and gives
up a lease with one conditional write each.
"""

from django.db import models


class ReconcileLease(models.Model):
    """A lease on one named job, held by one process until it expires.

    A holder that dies leaves its row behind, and any other process may take
    the lease once ``expires_at`` has passed.
    """

    name = models.CharField(
        max_length=100,
        primary_key=True,
        verbose_name="name",
        help_text="Name of the job the lease guards, such as reconcile-live-orders.",
    )
    holder = models.CharField(
        max_length=200,
        verbose_name="holder",
        help_text="Id of the process holding the lease: host, process id and a "
        "random suffix.",
    )
    acquired_at = models.DateTimeField(
        verbose_name="acquired at",
        help_text="When the current holder took the lease (UTC).",
    )
    expires_at = models.DateTimeField(
        verbose_name="expires at",
        help_text="When the lease lapses unless its holder renews it (UTC).",
    )

    class Meta:
        db_table = "orders_reconcile_lease"
        verbose_name = "reconcile lease"
        verbose_name_plural = "reconcile leases"

    def __str__(self):
        return f"{self.name} held by {self.holder}"
