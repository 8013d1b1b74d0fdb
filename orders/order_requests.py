"""Steps that submit and modify share: parsing, preview and approval, limits.

Both requests carry the order fields of a preview plus ``preview_id`` and
``approval_id``. ``run_audited`` wraps a workflow so that every refusal
before the broker call is audited once, and a request that lost a same-key
race gets the stored response.
"""

from ibkr_gateway.broker.errors import BrokerError
from orders import counters, events, gates, idempotency, intent
from orders.errors import GateRefused, InvalidOrder, OrderError
from orders.models.choices import Kind, Mode
from orders.placement import KeyReplayed, replay_outcome, write_ahead

REQUIRED_FIELDS = ("account_id", "preview_id", "approval_id", *intent.ORDER_FIELDS)
# ``counters`` is accepted so that clients that send their own counts are
# not refused, but its value is never read: the counters are computed here.
OPTIONAL_FIELDS = (
    "limit_price",
    "client_context",
    "counters",
    *intent.BRACKET_FIELDS,
)


def parse_request(data, key):
    """Return ``(key, intent, preview_id, approval_id, client_context, fields)``.

    ``fields`` are the validated request fields that the idempotency check
    hashes; ``client_context`` and ``counters`` are not among them.
    """
    key = idempotency.validate_key(key)
    if not isinstance(data, dict):
        raise InvalidOrder(
            "The request body must be a JSON object.", code="malformed_json"
        )
    intent.check_fields(data, REQUIRED_FIELDS, OPTIONAL_FIELDS)
    bracket = any(name in data for name in intent.BRACKET_FIELDS)
    order = intent.order_intent(data, bracket=bracket)
    preview_id = intent.uuid_value(data["preview_id"], "preview_id")
    approval_id = intent.uuid_value(data["approval_id"], "approval_id")
    context = intent.client_context(data.get("client_context"))
    fields = {
        "account_id": order.account_id,
        "preview_id": str(preview_id),
        "approval_id": str(approval_id),
        **order.fields(),
    }
    return key, order, preview_id, approval_id, context, fields


def _preview_and_approval(principal, mode, order, preview_id, approval_id, now):
    account_hash = gates.account_hash(order.account_id)
    preview = gates.load_preview(preview_id)
    gates.require_preview(preview, mode, account_hash, now)
    expected_kind = Kind.BRACKET if order.is_bracket else Kind.SINGLE
    if preview.kind != expected_kind or preview.intent != order.fields():
        raise OrderError(
            f"The order differs from preview {preview_id}. Send exactly the "
            "order that was previewed, or preview the new order.",
            code="preview_mismatch",
            status=422,
        )
    approval = gates.load_approval(approval_id)
    four_eyes = gates.mode_settings(mode).four_eyes
    gates.require_approval(approval, preview, account_hash, principal, four_eyes, now)
    return account_hash, preview, approval


def check_preview_and_approval(
    principal,
    mode,
    order,
    preview_id,
    approval_id,
    now,
    *,
    operation,
    key,
    request_hash,
):
    """Return ``(account_hash, preview, approval)`` or raise the failing gate.

    A request with the same key can reserve the approval between this
    request's key lookup and its approval read. That is reported as the key
    being in flight (or replayed), so the client retries with the same key
    rather than under a new one.
    """
    try:
        return _preview_and_approval(
            principal, mode, order, preview_id, approval_id, now
        )
    except GateRefused as error:
        if error.code != "approval_reserved":
            raise
        replay = idempotency.lookup(principal.id, operation, key, request_hash)
        if replay is not None:
            raise KeyReplayed(replay) from None
        raise


def write_ahead_with_limits(request, policy):
    """Write the pending record after the counters and, for live, the halt."""

    def check_counters():
        return counters.check(
            request.mode,
            policy,
            request.now,
            request.session,
            request.order_count,
            request.notional,
        )

    checks = [check_counters]
    if request.mode == Mode.LIVE:
        checks.append(gates.require_not_halted)
    return write_ahead(request, checks=checks)


def run_audited(principal, operation, required, data, step, metadata=None):
    """Return ``step()``, auditing a refusal or a broker read error before raising.

    Only errors raised before the write-ahead reach these handlers: after
    it, the workflow records the outcome itself.
    """
    try:
        return step()
    except KeyReplayed as replayed:
        account_id = intent.safe_account_id(data)
        return replay_outcome(principal, operation, replayed.replay, account_id)
    except OrderError as error:
        events.refused(
            events.ORDER_REFUSED,
            principal,
            operation,
            error,
            account_id=intent.safe_account_id(data),
            required=required,
            input=data if isinstance(data, dict) else None,
            metadata=metadata,
        )
        raise
    except BrokerError as error:
        # The contract and quote reads of the risk check end here.
        events.failed(
            events.ORDER_REFUSED,
            principal,
            operation,
            error.code,
            account_id=intent.safe_account_id(data),
            required=required,
            metadata=metadata,
        )
        raise
