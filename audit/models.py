"""Read-only Django models over the audit tables.

Rows are written only by ``audit.writer.SqliteAuditWriter`` with raw SQL;
these models exist for the admin and ORM queries. Every column but
``payload``, ``key_id``, ``prev_mac`` and ``mac`` is a projection of the
payload, stored in the format Django uses for the field type, so range
filters and the admin work, and ``audit verify`` checks that it equals the
payload.
"""

from django.db import models


class AuditLogIsAppendOnly(Exception):
    """An attempt to change or remove audit rows through the ORM."""


class Decision(models.TextChoices):
    ALLOW = "allow", "Allow"
    DENY = "deny", "Deny"
    REFUSE = "refuse", "Refuse"


class Outcome(models.TextChoices):
    COMPLETED = "completed", "Completed"
    DENIED = "denied", "Denied"
    REFUSED = "refused", "Refused"
    FAILED = "failed", "Failed"


class ReadOnlyQuerySet(models.QuerySet):
    """A queryset that rejects bulk writes before they reach the triggers."""

    def _reject(self, *args, **kwargs):
        raise AuditLogIsAppendOnly(
            "Audit rows are append-only; use audit.log_event() to add events."
        )

    update = delete = bulk_create = bulk_update = _reject
    get_or_create = update_or_create = _reject


class ReadOnlyModel(models.Model):
    """Abstract base whose ``save`` and ``delete`` always raise."""

    objects = ReadOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        raise AuditLogIsAppendOnly(
            "Audit rows are append-only; use audit.log_event() to add events."
        )

    def delete(self, *args, **kwargs):
        raise AuditLogIsAppendOnly("Audit rows are append-only and never deleted.")


class AuditEvent(ReadOnlyModel):
    """One audit event: the canonical payload, its MAC and its projection."""

    seq = models.IntegerField(
        primary_key=True,
        verbose_name="seq",
        help_text="Position in the chain, gap-free from 1.",
    )
    event_id = models.CharField(
        max_length=36,
        unique=True,
        verbose_name="event id",
        help_text="UUID of the event, 36 characters with dashes.",
    )
    event_type = models.CharField(
        max_length=64,
        verbose_name="event type",
        help_text="What happened, such as audit_read or scope_denied.",
    )
    occurred_at = models.DateTimeField(
        verbose_name="occurred at",
        help_text="UTC time taken under the write lock; never decreases along seq.",
    )
    actor = models.CharField(
        max_length=200,
        verbose_name="actor",
        help_text="Principal that acted, such as user:alice, token:7 or cli:ops.",
    )
    request_id = models.CharField(
        max_length=128,
        null=True,
        blank=True,
        verbose_name="request id",
        help_text="Server-generated id shared by every event of one request.",
    )
    account_hash = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        verbose_name="account hash",
        help_text="Correlation hash of the account id; the raw id is never stored.",
    )
    operation = models.CharField(
        max_length=128,
        verbose_name="operation",
        help_text="Operation name, such as audit.tail or orders.live.submit.",
    )
    decision = models.CharField(
        max_length=16,
        choices=Decision.choices,
        verbose_name="decision",
        help_text="Access decision: allow, deny (scope or credential) or refuse "
        "(policy or gate).",
    )
    outcome = models.CharField(
        max_length=16,
        choices=Outcome.choices,
        verbose_name="outcome",
        help_text="Result: completed, denied, refused or failed.",
    )
    error_code = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        verbose_name="error code",
        help_text="Stable error code when the outcome is not completed.",
    )
    payload = models.TextField(
        verbose_name="payload",
        help_text="Canonical JSON (RFC 8785) of the whole redacted event.",
    )
    key_id = models.CharField(
        max_length=32,
        verbose_name="key id",
        help_text="Id of the chain key that signed this row.",
    )
    prev_mac = models.CharField(
        max_length=64,
        verbose_name="previous MAC",
        help_text="MAC of the row before; 64 zeros on the first row.",
    )
    mac = models.CharField(
        max_length=64,
        verbose_name="MAC",
        help_text="HMAC-SHA256 over seq, previous MAC and the payload digest.",
    )

    class Meta:
        db_table = "audit_events"
        ordering = ["-seq"]
        verbose_name = "audit event"
        verbose_name_plural = "audit events"
        default_permissions = ("view",)
        permissions = [("export_auditevent", "Can export audit events")]
        indexes = [
            models.Index(fields=["occurred_at"], name="audit_occurred_at_idx"),
            models.Index(fields=["request_id"], name="audit_request_id_idx"),
            models.Index(fields=["account_hash", "seq"], name="audit_account_seq_idx"),
            models.Index(fields=["event_type", "seq"], name="audit_type_seq_idx"),
            models.Index(fields=["decision", "seq"], name="audit_decision_seq_idx"),
            models.Index(fields=["outcome", "seq"], name="audit_outcome_seq_idx"),
        ]

    def __str__(self):
        return f"#{self.seq} {self.event_type} {self.operation}"


class ChainHead(ReadOnlyModel):
    """The single row holding the last appended ``seq`` and its ``mac``."""

    id = models.IntegerField(primary_key=True)
    seq = models.IntegerField(
        verbose_name="seq", help_text="seq of the last appended event; 0 when empty."
    )
    mac = models.CharField(
        max_length=64,
        verbose_name="MAC",
        help_text="MAC of the last appended event; 64 zeros when empty.",
    )

    class Meta:
        db_table = "audit_chain_head"
        verbose_name = "audit chain head"
        default_permissions = ("view",)
        constraints = [
            models.CheckConstraint(
                condition=models.Q(id=1), name="audit_chain_head_single_row"
            )
        ]

    def __str__(self):
        return f"head at seq {self.seq}"


class VerificationRun(models.Model):
    """One full chain verification requested from the admin and run as a task."""

    requested_by = models.CharField(
        max_length=150,
        verbose_name="requested by",
        help_text="User name of the staff member who requested the run.",
    )
    requested_at = models.DateTimeField(
        verbose_name="requested at",
        help_text="UTC time the run was queued.",
    )
    finished_at = models.DateTimeField(
        null=True,
        blank=True,
        verbose_name="finished at",
        help_text="UTC time the run ended; empty while it is queued or running.",
    )
    chain_valid = models.BooleanField(
        null=True,
        blank=True,
        verbose_name="chain valid",
        help_text="Whether every row, the head row and the links verified; "
        "empty until the run ends or when it failed.",
    )
    events_scanned = models.IntegerField(
        default=0,
        verbose_name="events scanned",
        help_text="Number of rows the run read.",
    )
    breaks = models.IntegerField(
        default=0,
        verbose_name="breaks",
        help_text="Number of rows (and the head) that did not verify.",
    )
    first_break_seq = models.IntegerField(
        null=True,
        blank=True,
        verbose_name="first break seq",
        help_text="seq of the first row that did not verify; empty when none.",
    )
    error = models.TextField(
        blank=True,
        default="",
        verbose_name="error",
        help_text="Why the run could not verify the chain, such as a missing key; "
        "empty when it ran.",
    )

    class Meta:
        db_table = "audit_verification_runs"
        ordering = ["-requested_at"]
        verbose_name = "verification run"
        verbose_name_plural = "verification runs"
        default_permissions = ("view",)
        permissions = [("run_verification", "Can run a full chain verification")]

    def __str__(self):
        return f"verification run {self.pk} by {self.requested_by}"
