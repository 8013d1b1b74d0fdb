"""``ReconcileHealth``: whether reconciliation of one mode can reach the broker."""

from django.db import models

from orders.models.choices import Mode


class ReconcileHealth(models.Model):
    """The outage state of one mode's reconciliation, one row per mode.

    An outage starts at the first failed pass and ends at the next good one;
    each end writes one audit event, whatever the number of failed passes.
    """

    mode = models.CharField(
        max_length=8,
        primary_key=True,
        choices=Mode.choices,
        verbose_name="mode",
        help_text="Paper or live.",
    )
    degraded_since = models.DateTimeField(
        null=True,
        blank=True,
        verbose_name="degraded since",
        help_text="Start of the current outage (UTC); empty while healthy.",
    )
    reason = models.CharField(
        max_length=64,
        blank=True,
        verbose_name="reason",
        help_text="Error code of the last failed pass, such as broker_login_required.",
    )
    failures = models.PositiveIntegerField(
        default=0,
        verbose_name="failed passes",
        help_text="Failed passes in the current outage; sets the backoff.",
    )
    next_attempt_at = models.DateTimeField(
        null=True,
        blank=True,
        verbose_name="next attempt at",
        help_text="No pass of this mode runs before this time (UTC).",
    )
    last_pass_at = models.DateTimeField(
        null=True,
        blank=True,
        verbose_name="last pass at",
        help_text="When the last pass of this mode ended (UTC).",
    )

    class Meta:
        db_table = "orders_reconcile_health"
        verbose_name = "reconcile health"
        verbose_name_plural = "reconcile health"

    def __str__(self):
        state = "degraded" if self.degraded_since else "healthy"
        return f"{self.mode} reconciliation {state}"
