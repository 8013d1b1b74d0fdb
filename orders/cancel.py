"""Cancel workflow, gated only by scope, idempotency key, allow-list and audit.

A cancel is never blocked by a halt, a disabled trading mode, a preview, an
approval or a counter, so a trader can always pull an order. It must name
an order the gateway placed for that account; an unknown order is refused
without a broker call. Cancelling a bracket parent cancels its children at
the broker, and the children's new states are recorded at once.
"""

import logging

from django.db import transaction

from ibkr_gateway import market, scopes
from ibkr_gateway.broker import errors as broker_errors
from ibkr_gateway.broker import order_status
from orders import counters, events, gates, idempotency, intent
from orders.backends import open_backend
from orders.errors import OrderError
from orders.models.choices import Mode
from orders.observe import (
    find_tracked_order,
    order_view,
    record_state,
    tracked_model,
)
from orders.order_requests import run_audited
from orders.placement import (
    NOT_PLACED,
    Outcome,
    PlacementRequest,
    after_write_ahead,
    fail,
    mark_unknown,
    replay_outcome,
    write_ahead,
)

logger = logging.getLogger(__name__)

CANCEL_SCOPES = {
    Mode.PAPER: scopes.ORDERS_PAPER_CANCEL,
    Mode.LIVE: scopes.ORDERS_LIVE_CANCEL,
}
CANCELLED_OR_PENDING = ("PendingCancel", "PreCancelled")


def cancel(principal, mode, broker_order_id, data, key):
    """Ask the broker to cancel a tracked order; return an ``Outcome``.

    Raises ``OrderError`` (already audited) for a refusal and
    ``AuditUnavailable`` when the audit log cannot be written, in which
    case the broker was not called.
    """
    operation = f"orders.{mode}.cancel"
    required = [CANCEL_SCOPES[mode]]

    def step():
        return _cancel(principal, mode, broker_order_id, data, key, operation, required)

    return run_audited(
        principal,
        operation,
        required,
        data,
        step,
        metadata={"broker_order_id": broker_order_id},
    )


def _cancel(principal, mode, broker_order_id, data, key, operation, required):
    key = idempotency.validate_key(key)
    if not isinstance(data, dict):
        raise OrderError(
            "The request body must be a JSON object.", code="malformed_json"
        )
    intent.check_fields(data, ("account_id",), ("client_context",))
    account_id = intent.account_id(data["account_id"])
    context = intent.client_context(data.get("client_context"))
    fields = {"account_id": account_id, "broker_order_id": broker_order_id}
    request_hash = intent.request_hash(fields)
    replay = idempotency.lookup(principal.id, operation, key, request_hash)
    if replay is not None:
        return replay_outcome(principal, operation, replay, account_id)

    gates.require_account(mode, account_id)
    tracked = find_tracked_order(mode, account_id, broker_order_id)
    now = market.now()
    request = PlacementRequest(
        principal=principal,
        mode=mode,
        action="cancel",
        operation=operation,
        required=required,
        key=key,
        fields=fields,
        request_hash=request_hash,
        account_id=account_id,
        account_hash=gates.account_hash(account_id),
        now=now,
        session=counters.session_date(now, gates.trading().live),
        coid=tracked.coid,
        broker_order_id=broker_order_id,
        symbol=tracked.symbol,
        client_context=context,
        metadata={"mode": mode, "leg": tracked.leg},
    )
    record = write_ahead(request)
    with open_backend(mode) as backend:
        return after_write_ahead(
            record, lambda: _cancel_at_broker(request, record, backend, tracked)
        )


def _cancel_at_broker(request, record, backend, tracked):
    try:
        answer = backend.cancel_order(request.account_id, tracked.broker_order_id)
    except NOT_PLACED as error:
        return fail(request, record, error)
    except Exception as error:
        cause = getattr(error, "code", type(error).__name__)
        try:
            state = backend.order_status(request.account_id, tracked.broker_order_id)
        except broker_errors.BrokerError:
            return mark_unknown(request, record, cause)
        lifecycle = order_status.lifecycle(state["status"], state.get("why_held"))
        if state["status"] not in CANCELLED_OR_PENDING and lifecycle != "cancelled":
            return mark_unknown(request, record, cause)
        answer = {"broker_order_id": tracked.broker_order_id, "status": state["status"]}
    return _complete(request, record, backend, tracked, answer)


def _complete(request, record, backend, tracked, answer):
    now = market.now()
    mode = request.mode
    with transaction.atomic():
        record_state(
            mode,
            tracked,
            {"status": answer["status"]},
            request.principal.actor,
            request.principal.request_id,
        )
        body = {"mode": mode, "orders": [order_view(tracked)]}
        record.status = record.COMPLETED
        record.last_status = tracked.status
        record.response_status = 200
        record.response_body = body
        record.completed_at = now
        record.save()
        events.allowed(
            events.ORDER_COMPLETED,
            request.principal,
            request.operation,
            account_id=request.account_id,
            output=body,
            metadata={
                "idempotency_record": record.pk,
                "broker_order_id": tracked.broker_order_id,
                "status": answer["status"],
            },
        )

    # The broker cancels a parent's children itself; reading them now
    # records that in the audit log without waiting for reconciliation.
    if tracked.group_id is not None and tracked.leg == "parent":
        _observe_children(mode, tracked, backend, request.principal)
    return Outcome(200, body)


def _observe_children(mode, parent, backend, principal):
    children = tracked_model(mode).objects.filter(group_id=parent.group_id)
    for child in children.exclude(pk=parent.pk):
        try:
            state = backend.order_status(child.account_id, child.broker_order_id)
        except broker_errors.BrokerError as error:
            logger.warning(
                "Reading bracket child %s after a parent cancel failed: %s",
                child.broker_order_id,
                error.code,
            )
            continue
        record_state(mode, child, state, principal.actor, principal.request_id)
