"""Append-only, HMAC-chained, redacted audit log of the gateway."""


def log_event(event_type, **fields):
    """Append one redacted, chained event and return its ``AuditRecord``.

    See ``audit.events.log_event`` for the arguments. The import is deferred
    so that other apps can import ``audit`` before Django is ready.
    """
    from audit.events import log_event as _log_event

    return _log_event(event_type, **fields)
