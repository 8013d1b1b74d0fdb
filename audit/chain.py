"""The MAC chain and the projection columns derived from a payload.

``mac_n = HMAC-SHA256(key, "ibkr-audit/v1" LF seq LF prev_mac LF sha256hex)``
where ``seq`` is decimal ASCII, ``prev_mac`` is the previous row's MAC (64
zeros for the first row) and ``sha256hex`` is the lowercase hex SHA-256 of
the payload's canonical JSON. Writer and verifier both use these functions,
so they cannot disagree on the form.
"""

import hashlib
import hmac
from datetime import UTC

GENESIS_MAC = "0" * 64
MAC_DOMAIN = b"ibkr-audit/v1"


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


def storage_datetime(moment):
    """Return the text Django's SQLite backend stores for an aware datetime.

    Django (5.2) stores ``str()`` of the naive UTC value, which omits the
    fraction when the microseconds are zero. The projection must match it
    byte for byte, so that ORM range filters compare correctly.
    """
    return str(moment.astimezone(UTC).replace(tzinfo=None))


def projection(payload, occurred_at_column):
    """Return the projection column values of ``payload``, in table order.

    ``occurred_at_column`` is the Django storage form of the payload's
    ``occurred_at``. Missing fields become None, so a hostile payload read
    back by the verifier yields a mismatch, never an exception.
    """
    actor = payload.get("actor")
    return (
        payload.get("event_id"),
        payload.get("event_type"),
        occurred_at_column,
        actor.get("id") if isinstance(actor, dict) else None,
        payload.get("request_id"),
        payload.get("account_hash"),
        payload.get("operation"),
        payload.get("decision"),
        payload.get("outcome"),
        payload.get("error_code"),
    )
