"""Audit errors as data: a stable code, an HTTP status and a default message."""


class AuditError(Exception):
    """Base of audit errors; ``code`` and ``status`` are stable for clients."""

    code = "audit_error"
    status = 500
    default_message = "The audit log failed."

    def __init__(self, message=None):
        super().__init__(message or self.default_message)


class AuditUnavailable(AuditError):
    """The event could not be written, so the audited operation must not run."""

    code = "audit_unavailable"
    status = 503
    retry_after_seconds = 5
    default_message = (
        "The audit log is unavailable, so the operation was not performed. "
        "Retry later; if it persists, an operator should check the database."
    )


class InvalidEvent(AuditError, ValueError):
    """An event that breaks the envelope rules; the caller must fix its input."""

    code = "invalid_audit_event"
    status = 500
    default_message = "The audit event is invalid."


class EventTooLarge(InvalidEvent):
    """An event over the size or depth limit once redacted; never truncated."""

    code = "audit_event_too_large"
    default_message = "The audit event exceeds 64 KiB or 32 levels once redacted."
