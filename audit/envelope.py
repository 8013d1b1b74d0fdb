"""The audit event envelope: field rules, outcome mapping and limits.

``build_event`` turns the arguments of ``audit.log_event`` into a redacted
payload without ``occurred_at``, which the writer adds under the write lock.
The envelope has the same keys for every decision, so a reviewer can rebuild
what happened from ids and hashes alone.
"""

import hashlib
import re
import uuid

from audit.canonical import CanonicalizationError, dumps
from audit.correlation import ACCOUNT, TOKEN, correlation_hash
from audit.errors import EventTooLarge, InvalidEvent
from audit.redaction import redact, scrub_text
from ibkr_gateway.request_id import current_request_id

MAX_EVENT_BYTES = 64 * 1024
MAX_EVENT_DEPTH = 32

ALLOW = "allow"
DENY = "deny"
REFUSE = "refuse"
COMPLETED = "completed"
DENIED = "denied"
REFUSED = "refused"
FAILED = "failed"

# A scope or credential denial is deny/denied, a policy or gate refusal is
# refuse/refused, and an allowed operation either completes or fails.
OUTCOMES_BY_DECISION = {
    ALLOW: (COMPLETED, FAILED),
    DENY: (DENIED,),
    REFUSE: (REFUSED,),
}

ACTOR_KINDS = frozenset(
    {"user", "token", "remote", "cli", "reconciler", "anonymous", "system"}
)

_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_OPERATION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
_ERROR_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def _require(condition, message):
    if not condition:
        raise InvalidEvent(message)


def _check_decision(decision, outcome, error_code):
    allowed = OUTCOMES_BY_DECISION.get(decision)
    _require(
        allowed is not None,
        f"decision {decision!r} is invalid; use 'allow', 'deny' or 'refuse'",
    )
    _require(
        outcome in allowed,
        f"outcome {outcome!r} does not go with decision {decision!r}; "
        f"use one of {', '.join(allowed)}",
    )
    if outcome == COMPLETED:
        _require(
            error_code is None,
            f"error_code {error_code!r} given for a completed outcome; pass None",
        )
        return
    _require(
        isinstance(error_code, str) and _ERROR_CODE.match(error_code) is not None,
        f"error_code {error_code!r} is invalid for outcome {outcome!r}; give a "
        "lowercase snake_case code such as 'scope_denied'",
    )


def _check_actor(actor):
    _require(
        isinstance(actor, dict) and set(actor) == {"kind", "id"},
        f"actor {actor!r} is invalid; pass {{'kind': ..., 'id': ...}}",
    )
    _require(
        actor["kind"] in ACTOR_KINDS,
        f"actor kind {actor['kind']!r} is invalid; use one of "
        f"{', '.join(sorted(ACTOR_KINDS))}",
    )
    _require(
        isinstance(actor["id"], str) and 0 < len(actor["id"]) <= 200,
        f"actor id {actor['id']!r} is invalid; pass a string of 1 to 200 characters",
    )


def _scope_list(scopes, name):
    values = scopes.get(name) or ()
    _require(
        not isinstance(values, str),
        f"scopes[{name!r}] is a string; pass a list of scope strings",
    )
    for scope in values:
        _require(
            isinstance(scope, str) and 0 < len(scope) <= 100,
            f"scope {scope!r} in scopes[{name!r}] is invalid; pass scope strings",
        )
    return sorted(set(values))


def _scopes(scopes):
    if scopes is None:
        return {"granted": [], "required": []}
    _require(
        isinstance(scopes, dict) and set(scopes) <= {"required", "granted"},
        f"scopes {scopes!r} is invalid; pass {{'required': [...], 'granted': [...]}}",
    )
    return {
        "granted": _scope_list(scopes, "granted"),
        "required": _scope_list(scopes, "required"),
    }


def _hash_of(value, name):
    if value is None:
        return None
    try:
        return hashlib.sha256(dumps(value)).hexdigest()
    except CanonicalizationError as exc:
        raise InvalidEvent(f"{name} cannot be hashed: {exc}") from None


def _depth(value):
    """Return the nesting depth of containers in ``value`` (a scalar is 0)."""
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    return 0


def build_event(
    event_type,
    *,
    operation,
    actor,
    decision,
    outcome,
    correlation_key,
    error_code=None,
    account_id=None,
    token_id=None,
    scopes=None,
    request_id=None,
    input=None,
    output=None,
    metadata=None,
):
    """Return the redacted payload of one event, without ``occurred_at``.

    Raises ``InvalidEvent`` (or ``redaction.InvalidEventValue``) naming the
    field at fault; nothing is written.
    """
    _require(
        isinstance(event_type, str) and _EVENT_TYPE.match(event_type) is not None,
        f"event_type {event_type!r} is invalid; use lowercase snake_case",
    )
    _require(
        isinstance(operation, str)
        and len(operation) <= 128
        and _OPERATION.match(operation) is not None,
        f"operation {operation!r} is invalid; use dotted lowercase such as "
        "'audit.tail'",
    )
    _check_actor(actor)
    _check_decision(decision, outcome, error_code)

    if request_id is None:
        request_id = current_request_id()
    _require(
        request_id is None
        or (isinstance(request_id, str) and _REQUEST_ID.match(request_id)),
        f"request_id {request_id!r} is invalid; use the server-generated id",
    )

    def account_hash(account):
        return correlation_hash(correlation_key, ACCOUNT, account)

    for name, value in (("account_id", account_id), ("token_id", token_id)):
        _require(
            value is None or (isinstance(value, (str, int)) and str(value) != ""),
            f"{name} {value!r} is invalid; pass the raw id as a string",
        )

    redactions = []
    actor_id, found = scrub_text(
        actor["id"], path="actor.id", account_hash=account_hash
    )
    redactions.extend(found)

    _require(
        metadata is None or isinstance(metadata, dict),
        f"metadata must be a dict or None, not {type(metadata).__name__}",
    )
    clean_metadata = {}
    if metadata is not None:
        clean_metadata, found = redact(
            metadata, path="metadata", account_hash=account_hash
        )
        redactions.extend(found)

    payload = {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "actor": {"kind": actor["kind"], "id": actor_id},
        "request_id": request_id,
        "operation": operation,
        "scopes": _scopes(scopes),
        "account_hash": None if account_id is None else account_hash(str(account_id)),
        "token_hash": None
        if token_id is None
        else correlation_hash(correlation_key, TOKEN, str(token_id)),
        "decision": decision,
        "outcome": outcome,
        "error_code": error_code,
        "input_hash": _hash_of(input, "input"),
        "output_hash": _hash_of(output, "output"),
        "redactions": redactions,
        "metadata": clean_metadata,
    }

    depth = _depth(payload)
    if depth > MAX_EVENT_DEPTH:
        raise EventTooLarge(
            f"event is {depth} levels deep once redacted, over the limit of "
            f"{MAX_EVENT_DEPTH}; flatten the metadata"
        )
    return payload


def check_size(canonical_payload):
    """Raise ``EventTooLarge`` when the canonical payload exceeds 64 KiB."""
    size = len(canonical_payload)
    if size > MAX_EVENT_BYTES:
        raise EventTooLarge(
            f"event is {size} bytes once redacted, over the limit of "
            f"{MAX_EVENT_BYTES}; record large data by hash (input/output) instead"
        )
