"""Modify workflow: a working order becomes a newly previewed and approved one.

A modify passes the same gates as a submit, in the same order, but adds
nothing to the counters. A live order that is still working afterwards
stays in (or rejoins) the backlog that reconciliation follows. A lost
response is checked by reading the order: when its quantity and price match
the new order the modify completed, otherwise the outcome is unknown.
"""

from decimal import Decimal

from django.db import transaction

from ibkr_gateway import market, scopes
from ibkr_gateway.broker import errors as broker_errors
from ibkr_gateway.broker import order_status
from orders import counters, events, gates, idempotency, intent, risk
from orders.backends import open_backend
from orders.errors import GateRefused, InvalidOrder, OrderError
from orders.models import LiveOrderPending
from orders.models.choices import Lifecycle, Mode
from orders.observe import find_tracked_order, order_view
from orders.order_requests import (
    check_preview_and_approval,
    parse_request,
    run_audited,
    write_ahead_with_limits,
)
from orders.placement import (
    NOT_PLACED,
    Outcome,
    PlacementRequest,
    after_write_ahead,
    fail,
    mark_unknown,
    replay_outcome,
)
from orders.submit import tickets_for

MODIFY_SCOPES = {
    Mode.PAPER: scopes.ORDERS_PAPER_MODIFY,
    Mode.LIVE: scopes.ORDERS_LIVE_MODIFY,
}


def modify(principal, mode, broker_order_id, data, key):
    """Change a working order to the previewed and approved order in ``data``.

    Raises as ``orders.submit.submit`` does; returns an ``Outcome`` (200).
    """
    operation = f"orders.{mode}.modify"
    required = [MODIFY_SCOPES[mode]]
    return run_audited(
        principal,
        operation,
        required,
        data,
        lambda: _modify(
            principal, mode, broker_order_id, data, key, operation, required
        ),
        metadata={"broker_order_id": broker_order_id},
    )


def _modify(principal, mode, broker_order_id, data, key, operation, required):
    key, order, preview_id, approval_id, context, fields = parse_request(data, key)
    if order.is_bracket:
        raise InvalidOrder(
            "A modify changes one order; send the new order of that leg "
            "without take_profit_price and stop_loss_price.",
            code="invalid_bracket",
        )
    fields["broker_order_id"] = broker_order_id
    request_hash = intent.request_hash(fields)
    replay = idempotency.lookup(principal.id, operation, key, request_hash)
    if replay is not None:
        return replay_outcome(principal, operation, replay, order.account_id)

    gates.require_enabled(mode)
    gates.require_account(mode, order.account_id)
    tracked = _working_order(mode, order.account_id, broker_order_id)
    if tracked.symbol != order.symbol or tracked.side != order.side:
        raise OrderError(
            f"A modify keeps the symbol and side of order {broker_order_id} "
            f"({tracked.side} {tracked.symbol}). Cancel it and submit a new "
            "order instead.",
            code="modify_mismatch",
            status=422,
        )
    now = market.now()
    account_hash, preview, approval = check_preview_and_approval(
        principal,
        mode,
        order,
        preview_id,
        approval_id,
        now,
        operation=operation,
        key=key,
        request_hash=request_hash,
    )
    policy = gates.trading().policy_for(mode)
    session = counters.session_date(now, gates.trading().live)
    with open_backend(mode) as backend:
        result = risk.evaluate(order, policy, backend, now)
        request = PlacementRequest(
            principal=principal,
            mode=mode,
            action="modify",
            operation=operation,
            required=required,
            key=key,
            fields=fields,
            request_hash=request_hash,
            account_id=order.account_id,
            account_hash=account_hash,
            now=now,
            session=session,
            coid=tracked.coid,
            broker_order_id=broker_order_id,
            symbol=order.symbol,
            preview=preview,
            approval=approval,
            notional=_notional_increase(tracked, result),
            client_context=context,
            metadata={
                "mode": mode,
                "order": order.fields(),
                "preview_id": str(preview_id),
                "approval_id": str(approval_id),
                "checks": result.as_dict(),
            },
        )
        ticket = tickets_for(order, tracked.coid, result.conid)[0]
        record = write_ahead_with_limits(request, policy)
        return after_write_ahead(
            record,
            lambda: _modify_at_broker(request, record, backend, tracked, ticket),
        )


def _notional_increase(tracked, result):
    """Return how much the modify raises the order's notional, or zero."""
    price = tracked.price or result.reference_price
    before = tracked.quantity * price
    return max(result.notional - before, 0)


def _working_order(mode, account_id, broker_order_id):
    tracked = find_tracked_order(mode, account_id, broker_order_id)
    if tracked.group_id is not None:
        # A leg changed alone could close more than its parent opened, or
        # move outside the bracket's band.
        raise GateRefused(
            f"Order {broker_order_id} is a bracket leg, and bracket legs cannot "
            "be modified one by one. Cancel the bracket's parent, which "
            "cancels its children, and submit a new bracket.",
            code="bracket_leg_not_modifiable",
            status=409,
        )
    if tracked.lifecycle != Lifecycle.WORKING:
        raise GateRefused(
            f"Order {broker_order_id} is {tracked.lifecycle} and can no longer "
            "be modified.",
            code="order_not_working",
            status=409,
        )
    return tracked


def _modify_at_broker(request, record, backend, tracked, ticket):
    try:
        answer = backend.modify_order(
            request.account_id, tracked.broker_order_id, ticket
        )
    except NOT_PLACED as error:
        return fail(request, record, error)
    except Exception as error:
        cause = getattr(error, "code", type(error).__name__)
        state = _status_or_none(backend, request.account_id, tracked.broker_order_id)
        if state is None or not _matches(state, ticket, tracked):
            return mark_unknown(request, record, cause)
        answer = {
            "broker_order_id": tracked.broker_order_id,
            "status": state["status"],
            "confirmed_prompts": [],
            "recovered_by": cause,
        }
    return _complete_modify(request, record, tracked, ticket, answer)


def _status_or_none(backend, account_id, broker_order_id):
    try:
        return backend.order_status(account_id, broker_order_id)
    except broker_errors.BrokerError:
        return None


def _matches(state, ticket, tracked):
    """Return whether the broker's ``state`` shows the modify as applied.

    The order state carries no time in force, so a modify that changes it
    cannot be confirmed this way.
    """
    if ticket["tif"] != tracked.tif:
        return False
    if state.get("order_type") not in (None, ticket["order_type"]):
        return False
    return state.get("quantity") == ticket["quantity"] and (
        state.get("price") == ticket["price"]
    )


def _complete_modify(request, record, tracked, ticket, answer):
    now = market.now()
    with transaction.atomic():
        tracked.quantity = Decimal(ticket["quantity"])
        tracked.price = None if ticket["price"] is None else Decimal(ticket["price"])
        tracked.order_type = ticket["order_type"]
        tracked.tif = ticket["tif"]
        tracked.status = answer["status"]
        tracked.lifecycle = order_status.lifecycle(answer["status"])
        tracked.updated_at = now
        tracked.save()
        if request.mode == Mode.LIVE and tracked.lifecycle == Lifecycle.WORKING:
            LiveOrderPending.objects.update_or_create(
                account_id=tracked.account_id,
                broker_order_id=tracked.broker_order_id,
                defaults={
                    "order": tracked,
                    "last_status": tracked.status,
                    "added_at": now,
                },
            )
        body = {"mode": request.mode, "orders": [order_view(tracked)]}
        record.status = record.COMPLETED
        record.last_status = tracked.status
        record.response_status = 200
        record.response_body = body
        record.completed_at = now
        record.save()
        gates.consume_approval(record.approval_id, record.pk, now)
        events.allowed(
            events.ORDER_COMPLETED,
            request.principal,
            request.operation,
            account_id=request.account_id,
            output=body,
            metadata={
                "idempotency_record": record.pk,
                "broker_order_id": tracked.broker_order_id,
                "status": tracked.status,
                "confirmed_prompts": answer.get("confirmed_prompts", []),
                "recovered_by": answer.get("recovered_by"),
            },
        )
    return Outcome(200, body)
