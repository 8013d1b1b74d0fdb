"""``log_event``: the public way for every app to append an audit event."""

from audit.envelope import build_event
from audit.keys import correlation_key, signing_key
from audit.writer import SqliteAuditWriter
from ibkr_gateway.runtime_config import get_runtime_config


def log_event(
    event_type,
    *,
    operation,
    actor,
    decision,
    outcome,
    error_code=None,
    account_id=None,
    token_id=None,
    scopes=None,
    request_id=None,
    input=None,
    output=None,
    metadata=None,
    using="default",
):
    """Append one redacted, chained event and return its ``AuditRecord``.

    ``actor`` is ``{"kind": ..., "id": ...}``; ``scopes`` is
    ``{"required": [...], "granted": [...]}``. Raw ``account_id`` and
    ``token_id`` go in, and only their correlation hashes are stored.
    ``input`` and ``output`` are stored only as the SHA-256 of their canonical
    JSON. ``request_id`` defaults to the id of the request being served.
    The append joins the caller's transaction when there is one.

    Raises ``InvalidEvent`` for a bad argument, ``ConfigError`` when a key is
    missing, and ``AuditUnavailable`` when the row cannot be written.
    """
    config = get_runtime_config()
    payload = build_event(
        event_type,
        operation=operation,
        actor=actor,
        decision=decision,
        outcome=outcome,
        correlation_key=correlation_key(config),
        error_code=error_code,
        account_id=account_id,
        token_id=token_id,
        scopes=scopes,
        request_id=request_id,
        input=input,
        output=output,
        metadata=metadata,
    )
    return SqliteAuditWriter(using).append(payload, signing_key(config))
