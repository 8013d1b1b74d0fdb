"""The trading halt: one row with the current state and a table of its history.

Rows change only through ``orders.trading_halt``, which writes the state, the
history row and the audit event in one transaction.
"""

from django.db import models
from django.db.models import Q

# The single state row always has this primary key; a CHECK constraint
# rejects any other, so a second row cannot exist.
SINGLETON_ID = 1
MAX_REASON_LENGTH = 500


class TradingHalt(models.Model):
    """Whether trading is halted, kept in the database.

    The state survives restarts and is shared by every worker process,
    because each of them reads this one row.
    """

    id = models.PositiveSmallIntegerField(
        primary_key=True,
        default=SINGLETON_ID,
        editable=False,
        verbose_name="id",
        help_text=f"Always {SINGLETON_ID}: the table has exactly one row.",
    )
    halted = models.BooleanField(
        verbose_name="halted",
        help_text="True while trading is halted.",
    )
    reason = models.CharField(
        max_length=MAX_REASON_LENGTH,
        verbose_name="reason",
        help_text="Why the state was last changed, as the operator wrote it.",
    )
    changed_by = models.CharField(
        max_length=200,
        verbose_name="changed by",
        help_text="Principal id that last changed the state, such as cli:dev.",
    )
    changed_at = models.DateTimeField(
        verbose_name="changed at",
        help_text="When the state was last changed (UTC).",
    )

    class Meta:
        db_table = "orders_trading_halt"
        verbose_name = "trading halt"
        verbose_name_plural = "trading halt"
        # The admin's halt and resume pages check these. The default change
        # permission grants nothing, because the admin never edits this row.
        permissions = [
            ("halt_trading", "Can halt trading from the admin"),
            ("resume_trading", "Can resume trading from the admin"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(id=SINGLETON_ID),
                name="orders_trading_halt_single_row",
                violation_error_message=(
                    f"The trading halt table holds one row with id {SINGLETON_ID}."
                ),
            )
        ]

    def __str__(self):
        return "halted" if self.halted else "running"


class TradingHaltChange(models.Model):
    """One halt or resume request, kept so reviewers can see every change.

    A request that finds the state already as requested is stored too, with
    ``changed`` false, so the history matches the audit events one to one.
    """

    halted = models.BooleanField(
        verbose_name="halted",
        help_text="State after the request: True for halted, False for running.",
    )
    changed = models.BooleanField(
        verbose_name="changed",
        help_text="False when the state was already as requested.",
    )
    reason = models.CharField(
        max_length=MAX_REASON_LENGTH,
        verbose_name="reason",
        help_text="Why the request was made, as the principal wrote it.",
    )
    changed_by = models.CharField(
        max_length=200,
        verbose_name="changed by",
        help_text="Principal id that made the request, such as cli:dev.",
    )
    changed_at = models.DateTimeField(
        verbose_name="changed at",
        help_text="When the request was applied (UTC).",
    )
    event_id = models.CharField(
        max_length=36,
        unique=True,
        verbose_name="audit event id",
        help_text="UUID of the audit event that records this request.",
    )

    class Meta:
        db_table = "orders_trading_halt_change"
        verbose_name = "trading halt change"
        verbose_name_plural = "trading halt changes"
        ordering = ["id"]

    def __str__(self):
        state = "halt" if self.halted else "resume"
        return f"{state} by {self.changed_by} at {self.changed_at:%Y-%m-%dT%H:%M:%SZ}"
