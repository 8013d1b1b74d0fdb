"""``OrderPreview``: an order intent that passed the risk policy, with an expiry."""

import uuid

from django.db import models

from orders.models.choices import Kind, Mode


class OrderPreview(models.Model):
    """A validated order (or bracket) that an approval and a submit refer to.

    The account is kept only as its correlation hash: the submit request
    names the account again, and the gateway compares the hashes.
    """

    preview_id = models.UUIDField(
        primary_key=True,
        default=uuid.uuid4,
        editable=False,
        verbose_name="preview id",
        help_text="Public id that approvals and submits name.",
    )
    mode = models.CharField(
        max_length=8,
        choices=Mode.choices,
        verbose_name="mode",
        help_text="Paper or live, from the allow-list that holds the account.",
    )
    kind = models.CharField(
        max_length=8,
        choices=Kind.choices,
        verbose_name="kind",
        help_text="A single order or a bracket (parent with two children).",
    )
    account_hash = models.CharField(
        max_length=64,
        db_index=True,
        verbose_name="account hash",
        help_text="Correlation hash of the account the preview is bound to.",
    )
    intent = models.JSONField(
        verbose_name="order intent",
        help_text="The validated order fields; prices and quantities are "
        "decimal strings.",
    )
    request_hash = models.CharField(
        max_length=64,
        verbose_name="request hash",
        help_text="SHA-256 of the canonical JSON of the validated order fields.",
    )
    policy_id = models.CharField(
        max_length=32,
        verbose_name="risk policy",
        help_text="Id of the risk policy the intent was checked against.",
    )
    notional = models.DecimalField(
        max_digits=24,
        decimal_places=8,
        verbose_name="notional",
        help_text="Quantity times the price used for the notional check.",
    )
    checks = models.JSONField(
        verbose_name="risk checks",
        help_text="The checks that passed and the quote they used.",
    )
    created_by = models.CharField(
        max_length=200,
        verbose_name="created by",
        help_text="Principal id that asked for the preview.",
    )
    created_by_person = models.CharField(
        max_length=200,
        verbose_name="created by person",
        help_text="The person behind that principal, for four-eyes.",
    )
    created_at = models.DateTimeField(
        verbose_name="created at", help_text="When the preview was made (UTC)."
    )
    expires_at = models.DateTimeField(
        verbose_name="expires at",
        help_text="After this time no approval or submit may use the preview.",
    )

    class Meta:
        db_table = "orders_preview"
        verbose_name = "order preview"
        verbose_name_plural = "order previews"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.kind} {self.mode} preview {self.preview_id}"
