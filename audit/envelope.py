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
from audit.redaction import InvalidEventValue, redact, scrub_text
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

_EVENT_TYPE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_OPERATION = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*")
_ERROR_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_SCOPE = re.compile(r"[a-z][a-z0-9_-]*(?::[a-z0-9_-]+)+")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# Messages name the field and the rule but never the value: a value that
# breaks a rule may be a secret passed in the wrong place, and exceptions
# end up in logs.


def _require(condition, message):
    if not condition:
        raise InvalidEvent(message)


def _matches(pattern, value, max_length=128):
    return (
        isinstance(value, str)
        and len(value) <= max_length
        and pattern.fullmatch(value) is not None
    )


def _check_decision(decision, outcome, error_code):
    allowed = OUTCOMES_BY_DECISION.get(decision) if isinstance(decision, str) else None
    _require(
        allowed is not None,
        "decision is invalid; use 'allow', 'deny' or 'refuse'",
    )
    _require(
        outcome in allowed,
        f"outcome does not go with decision {decision!r}; use one of "
        f"{', '.join(allowed)}",
    )
    if outcome == COMPLETED:
        _require(
            error_code is None,
            "error_code is given for a completed outcome; pass None",
        )
        return
    _require(
        _matches(_ERROR_CODE, error_code),
        f"error_code is missing or invalid for outcome {outcome!r}; give a "
        "lowercase snake_case code such as 'scope_denied'",
    )


def _check_actor(actor):
    _require(
        isinstance(actor, dict) and set(actor) == {"kind", "id"},
        "actor is invalid; pass a dict with exactly the keys 'kind' and 'id'",
    )
    _require(
        actor["kind"] in ACTOR_KINDS,
        f"actor kind is invalid; use one of {', '.join(sorted(ACTOR_KINDS))}",
    )
    _require(
        isinstance(actor["id"], str)
        and 0 < len(actor["id"]) <= 200
        and actor["id"].isprintable(),
        "actor id is invalid; pass a printable string of 1 to 200 characters",
    )


def _scrub_actor_id(actor, account_hash):
    """Scrub the part of a principal id after its ``kind:`` prefix.

    Principal ids such as ``token:17`` would otherwise read as a secret
    assignment; the prefix is the fixed identity form and stays as it is.
    """
    prefix = f"{actor['kind']}:"
    actor_id = actor["id"]
    if not actor_id.startswith(prefix):
        return scrub_text(actor_id, path="actor.id", account_hash=account_hash)
    rest, found = scrub_text(
        actor_id[len(prefix) :], path="actor.id", account_hash=account_hash
    )
    return prefix + rest, found


def _scope_list(scopes, name):
    values = scopes.get(name) or ()
    _require(
        isinstance(values, (list, tuple, set, frozenset)),
        f"scopes[{name!r}] is invalid; pass a list of scope strings",
    )
    for scope in values:
        _require(
            _matches(_SCOPE, scope, max_length=100),
            f"a scope in scopes[{name!r}] is invalid; scopes look like "
            "'ibkr:audit:read'",
        )
    return sorted(set(values))


def _scopes(scopes):
    if scopes is None:
        return {"granted": [], "required": []}
    _require(
        isinstance(scopes, dict) and set(scopes) <= {"required", "granted"},
        "scopes is invalid; pass {'required': [...], 'granted': [...]}",
    )
    return {
        "granted": _scope_list(scopes, "granted"),
        "required": _scope_list(scopes, "required"),
    }


def _hash_of(value, name):
    # NOTE: the hash is plain SHA-256 so that a reviewer with the request can
    # check it. A low-entropy input (a bare account id) can be guessed from
    # it, so callers pass whole requests, never a lone secret.
    if value is None:
        return None
    try:
        return hashlib.sha256(dumps(value)).hexdigest()
    except CanonicalizationError as exc:
        where = f"{name}.{exc.path}" if exc.path else name
        raise InvalidEvent(
            f"{name} cannot be hashed: the value at {where} is not valid JSON "
            "data; pass dicts, lists, strings, ints, bools and None"
        ) from None


def _depth(value):
    """Return the nesting depth of containers in ``value`` (a scalar is 0)."""
    if isinstance(value, dict):
        children = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return 0
    deepest = 0
    for child in children:
        # Recursing only into containers keeps this cheap on wide metadata.
        if isinstance(child, (dict, list)):
            deepest = max(deepest, _depth(child))
    return deepest + 1


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

    Raises ``InvalidEvent`` naming the field at fault; nothing is written.
    """
    _require(
        _matches(_EVENT_TYPE, event_type),
        "event_type is invalid; use lowercase snake_case of at most 64 characters",
    )
    _require(
        _matches(_OPERATION, operation),
        "operation is invalid; use dotted lowercase such as 'audit.tail'",
    )
    _check_actor(actor)
    _check_decision(decision, outcome, error_code)

    if request_id is None:
        request_id = current_request_id()
    _require(
        request_id is None or _matches(_UUID, request_id),
        "request_id is invalid; pass the server-generated id (a lowercase UUID)",
    )

    def account_hash(account):
        return correlation_hash(correlation_key, ACCOUNT, account)

    for name, value in (("account_id", account_id), ("token_id", token_id)):
        _require(
            value is None
            or (isinstance(value, str) and value != "")
            or (isinstance(value, int) and not isinstance(value, bool)),
            f"{name} is invalid; pass the raw id as a non-empty string",
        )

    redactions = []
    actor_id, found = _scrub_actor_id(actor, account_hash)
    redactions.extend(found)

    _require(
        metadata is None or isinstance(metadata, dict),
        f"metadata must be a dict or None, not {type(metadata).__name__}",
    )
    clean_metadata = {}
    if metadata is not None:
        try:
            clean_metadata, found = redact(
                metadata, path="metadata", account_hash=account_hash
            )
        except InvalidEventValue as exc:
            raise InvalidEvent(str(exc)) from None
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

    # The envelope's own fields (actor, scopes, redactions) nest two levels
    # below the event, so only the metadata can push the event deeper.
    depth = 1 + max(2, _depth(clean_metadata))
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
