"""The MAC chain and the projection columns derived from a payload.

``mac_n = HMAC-SHA256(key, "ibkr-audit/v1" LF seq LF prev_mac LF sha256hex)``
where ``seq`` is decimal ASCII, ``prev_mac`` is the previous row's MAC (64
zeros for the first row) and ``sha256hex`` is the lowercase hex SHA-256 of
the payload's canonical JSON. Writer and verifier both use these functions,
so they cannot disagree on the form.
"""

import hashlib
import hmac
from datetime import UTC, datetime

GENESIS_MAC = "0" * 64
MAC_DOMAIN = b"ibkr-audit/v1"

# Columns of ``audit_events`` that repeat a payload field, in table order.
PROJECTION_COLUMNS = (
    "event_id",
    "event_type",
    "occurred_at",
    "actor",
    "request_id",
    "account_hash",
    "operation",
    "decision",
    "outcome",
    "error_code",
)


def payload_digest(canonical_payload):
    """Return the lowercase hex SHA-256 of the canonical payload bytes."""
    return hashlib.sha256(canonical_payload).hexdigest()


def compute_mac(key, seq, prev_mac, digest):
    """Return the lowercase hex MAC of row ``seq`` chained after ``prev_mac``.

    ``prev_mac`` may be text or the ASCII bytes of the hex digest.
    """
    if isinstance(prev_mac, str):
        prev_mac = prev_mac.encode("ascii")
    message = b"%s\n%d\n%s\n%s" % (MAC_DOMAIN, seq, prev_mac, digest.encode("ascii"))
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def format_occurred_at(moment):
    """Return the payload form of an aware datetime: RFC 3339, UTC, ``Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_occurred_at(text):
    """Parse the payload form back into an aware UTC datetime.

    Raises ``ValueError`` for any other form.
    """
    if len(text) != 27 or not text.endswith("Z"):
        raise ValueError(f"occurred_at {text!r} is not RFC 3339 UTC with microseconds")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def storage_datetime(moment):
    """Return the text Django's SQLite backend stores for an aware datetime.

    Django (5.2) stores ``str()`` of the naive UTC value, which omits the
    fraction when the microseconds are zero; the projection must match it
    byte for byte so that ORM range filters compare correctly.
    """
    return str(moment.astimezone(UTC).replace(tzinfo=None))


def projection(payload):
    """Return the projection column values of ``payload``, in table order.

    Raises ``KeyError``, ``TypeError`` or ``ValueError`` when the payload
    lacks a field or holds one in the wrong form.
    """
    return (
        payload["event_id"],
        payload["event_type"],
        storage_datetime(parse_occurred_at(payload["occurred_at"])),
        payload["actor"]["id"],
        payload["request_id"],
        payload["account_hash"],
        payload["operation"],
        payload["decision"],
        payload["outcome"],
        payload["error_code"],
    )
