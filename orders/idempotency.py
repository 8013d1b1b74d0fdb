"""Idempotency keys: lookup before any gate, replay, conflicts and the cOID.

A key is unique per principal and operation. The lookup runs first: the
same request under a completed key replays the stored response, a different
request gets 422, and a key still in flight or with an unknown outcome
gets 409. No branch reaches the broker.
"""

import hashlib
import re
from dataclasses import dataclass

from orders.errors import IdempotencyConflict, InvalidOrder
from orders.models import IdempotencyRecord

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}", re.ASCII)
COID_PREFIX = "gw-"
COID_HASH_LENGTH = 24
TAKE_PROFIT_SUFFIX = "-tp"
STOP_LOSS_SUFFIX = "-sl"


@dataclass(frozen=True)
class Replay:
    """Stored response to send again for a repeated request."""

    status: int
    body: dict
    record: IdempotencyRecord


def validate_key(key):
    """Return the key, or refuse a missing or malformed one."""
    if key is None or key == "":
        raise InvalidOrder(
            f"The {HEADER} header is missing. Send a unique key per order "
            "request, such as a UUID, and reuse it only to retry that request.",
            code="idempotency_key_missing",
        )
    if not KEY_PATTERN.fullmatch(key):
        raise InvalidOrder(
            f"The {HEADER} header must be 1 to 128 letters, digits, '.', '_', "
            "':' or '-'.",
            code="idempotency_key_invalid",
        )
    return key


def derive_coid(account_id, principal_id, operation, key):
    """Return the cOID of a submit: ``gw-`` and a hash prefix, unique per account."""
    material = f"ibkr-gateway/coid/v1\n{account_id}\n{principal_id}\n{operation}\n{key}"
    digest = hashlib.sha256(material.encode()).hexdigest()
    return COID_PREFIX + digest[:COID_HASH_LENGTH]


def lookup(principal_id, operation, key, request_hash):
    """Return a ``Replay``, None for a new key, or raise ``IdempotencyConflict``."""
    record = IdempotencyRecord.objects.filter(
        principal=principal_id, operation=operation, key=key
    ).first()
    if record is None:
        return None
    return _decide(record, request_hash)


def _decide(record, request_hash):
    if record.request_hash != request_hash:
        raise IdempotencyConflict(
            f"Idempotency key {record.key!r} was used for a different request. "
            "Use a new key for a new request; reuse a key only to retry the "
            "same request.",
            code="idempotency_key_reused",
            status=422,
        )
    if record.status == IdempotencyRecord.PENDING:
        raise IdempotencyConflict(
            f"A request with idempotency key {record.key!r} is still in flight. "
            "Wait for its answer, then retry with the same key to read it.",
            code="request_in_flight",
            headers={"Retry-After": "2"},
        )
    if record.status == IdempotencyRecord.UNKNOWN_OUTCOME:
        raise IdempotencyConflict(
            f"The broker outcome of the request with idempotency key "
            f"{record.key!r} (cOID {record.coid}) is unknown. An operator must "
            "resolve it with 'manage.py orders resolve'; do not send the order "
            "again under a new key before then.",
            code="unknown_outcome",
        )
    return Replay(record.response_status, record.response_body, record)
