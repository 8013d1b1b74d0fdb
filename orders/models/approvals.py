"""``Approval``: a second person's consent to one preview on one account."""

import uuid

from django.db import models

from orders.models.previews import OrderPreview


class Approval(models.Model):
    """Consent to submit one preview, reserved and consumed by one request.

    ``status`` moves ACTIVE -> RESERVED -> CONSUMED, and back from RESERVED
    to ACTIVE when the request fails before the broker placed anything.
    Every move is a conditional update, so two requests cannot both reserve
    the same approval.
    """

    ACTIVE = "active"
    RESERVED = "reserved"
    CONSUMED = "consumed"
    STATUS_CHOICES = [
        (ACTIVE, "active"),
        (RESERVED, "reserved by a request in flight"),
        (CONSUMED, "consumed"),
    ]

    approval_id = models.UUIDField(
        primary_key=True,
        default=uuid.uuid4,
        editable=False,
        verbose_name="approval id",
        help_text="Public id that a submit or modify names.",
    )
    preview = models.ForeignKey(
        OrderPreview,
        on_delete=models.PROTECT,
        related_name="approvals",
        verbose_name="preview",
        help_text="The preview this approval allows to be submitted.",
    )
    account_hash = models.CharField(
        max_length=64,
        verbose_name="account hash",
        help_text="Correlation hash of the one account the approval is for.",
    )
    granted_by = models.CharField(
        max_length=200,
        verbose_name="granted by",
        help_text="Principal id that granted the approval.",
    )
    granted_by_person = models.CharField(
        max_length=200,
        verbose_name="granted by person",
        help_text="The person behind the granting principal, for four-eyes.",
    )
    reason = models.CharField(
        max_length=500,
        blank=True,
        verbose_name="reason",
        help_text="Why the approver consented, as they wrote it.",
    )
    status = models.CharField(
        max_length=10,
        choices=STATUS_CHOICES,
        default=ACTIVE,
        verbose_name="status",
        help_text="Active, reserved by a request in flight, or consumed.",
    )
    reserved_by = models.CharField(
        max_length=64,
        blank=True,
        verbose_name="reserved by",
        help_text="Id of the idempotency record holding the reservation.",
    )
    created_at = models.DateTimeField(
        verbose_name="granted at", help_text="When the approval was granted (UTC)."
    )
    expires_at = models.DateTimeField(
        verbose_name="expires at",
        help_text="After this time the approval can no longer be reserved.",
    )
    consumed_at = models.DateTimeField(
        null=True,
        blank=True,
        verbose_name="consumed at",
        help_text="When the order it approved was placed (UTC).",
    )

    class Meta:
        db_table = "orders_approval"
        verbose_name = "approval"
        verbose_name_plural = "approvals"
        # The admin's approve page checks it and treats it as the scope
        # ibkr:approvals:create. Rows are still written only by
        # orders.approvals.grant.
        permissions = [("grant_approval", "Can grant approvals from the admin")]
        ordering = ["-created_at"]

    def __str__(self):
        return f"approval {self.approval_id} ({self.status})"
