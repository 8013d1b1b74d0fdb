"""``IdempotencyRecord``: the durable write-ahead record of one order request."""

from django.db import models

from orders.models.choices import Mode


class IdempotencyRecord(models.Model):
    """One order write (submit, modify or cancel) under a client's key.

    Written before the broker call, in the transaction that evaluates the
    counters, and completed after it. The raw account id is kept because
    recovery must look the order up by its cOID at the broker, which needs
    the account; every other table keeps only its correlation hash.
    """

    PENDING = "pending"
    COMPLETED = "completed"
    FAILED_AFTER_BROKER = "failed_after_broker"
    UNKNOWN_OUTCOME = "unknown_outcome"
    STATUS_CHOICES = [
        (PENDING, "pending: the broker call is in flight"),
        (COMPLETED, "completed"),
        (FAILED_AFTER_BROKER, "failed at the broker, nothing placed"),
        (UNKNOWN_OUTCOME, "unknown outcome: an operator must resolve it"),
    ]

    SUBMIT = "submit"
    MODIFY = "modify"
    CANCEL = "cancel"
    ACTION_CHOICES = [(SUBMIT, "submit"), (MODIFY, "modify"), (CANCEL, "cancel")]

    principal = models.CharField(
        max_length=200,
        verbose_name="principal",
        help_text="Principal id that sent the request; keys are unique per "
        "principal and operation.",
    )
    operation = models.CharField(
        max_length=64,
        verbose_name="operation",
        help_text="Operation name, such as orders.live.submit.",
    )
    key = models.CharField(
        max_length=128,
        verbose_name="idempotency key",
        help_text="The client's Idempotency-Key header.",
    )
    request_hash = models.CharField(
        max_length=64,
        verbose_name="request hash",
        help_text="SHA-256 of the canonical JSON of the validated request fields.",
    )
    mode = models.CharField(
        max_length=8,
        choices=Mode.choices,
        verbose_name="mode",
        help_text="Paper or live.",
    )
    action = models.CharField(
        max_length=8,
        choices=ACTION_CHOICES,
        verbose_name="action",
        help_text="Submit, modify or cancel.",
    )
    status = models.CharField(
        max_length=20,
        choices=STATUS_CHOICES,
        default=PENDING,
        db_index=True,
        verbose_name="status",
        help_text="Pending, completed, failed after the broker call, or "
        "unknown outcome.",
    )
    account_id = models.CharField(
        max_length=32,
        verbose_name="account id",
        help_text="Raw broker account id, kept so recovery can look the "
        "order up by cOID.",
    )
    account_hash = models.CharField(
        max_length=64,
        verbose_name="account hash",
        help_text="Correlation hash of the account, as in the audit log.",
    )
    coid = models.CharField(
        max_length=40,
        blank=True,
        db_index=True,
        verbose_name="cOID",
        help_text="Client order id sent to the broker, derived from the key.",
    )
    broker_order_id = models.CharField(
        max_length=32,
        blank=True,
        verbose_name="broker order id",
        help_text="The broker's id of the (parent) order, once known.",
    )
    preview_id = models.UUIDField(
        null=True,
        blank=True,
        verbose_name="preview id",
        help_text="Preview the request named, if any.",
    )
    approval_id = models.UUIDField(
        null=True,
        blank=True,
        verbose_name="approval id",
        help_text="Approval the request reserved, if any.",
    )
    symbol = models.CharField(
        max_length=12,
        blank=True,
        verbose_name="symbol",
        help_text="Symbol of the order, for reports.",
    )
    order_count = models.PositiveSmallIntegerField(
        default=0,
        verbose_name="orders counted",
        help_text="Orders this request adds to the frequency and session "
        "counters: 1, 3 for a bracket, 0 for a cancel or modify.",
    )
    notional = models.DecimalField(
        max_digits=24,
        decimal_places=8,
        default=0,
        verbose_name="notional",
        help_text="Notional this request adds to the session counter.",
    )
    session_date = models.DateField(
        verbose_name="trading session",
        help_text="The trading session (a day starting at session_start) "
        "the request counts in.",
    )
    last_status = models.CharField(
        max_length=32,
        blank=True,
        verbose_name="last broker status",
        help_text="The last IBKR status seen for the order, verbatim.",
    )
    response_status = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        verbose_name="response status",
        help_text="HTTP status of the stored answer that a replay returns.",
    )
    response_body = models.JSONField(
        null=True,
        blank=True,
        verbose_name="response body",
        help_text="The stored answer that a replay returns.",
    )
    created_at = models.DateTimeField(
        db_index=True,
        verbose_name="created at",
        help_text="When the write-ahead record was written (UTC).",
    )
    completed_at = models.DateTimeField(
        null=True,
        blank=True,
        verbose_name="completed at",
        help_text="When the outcome was recorded (UTC).",
    )

    class Meta:
        db_table = "orders_idempotency"
        verbose_name = "idempotency record"
        verbose_name_plural = "idempotency records"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["principal", "operation", "key"],
                name="orders_idempotency_unique_key",
            )
        ]
        indexes = [models.Index(fields=["mode", "action", "created_at"])]

    def __str__(self):
        return f"{self.operation} {self.key} ({self.status})"
