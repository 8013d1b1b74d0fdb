"""Submit workflow for paper and live orders and brackets.

A submit validates the body, looks the idempotency key up, passes the gates
in their documented order (trading enabled, account allow-listed, preview
unexpired, approval valid with four-eyes, risk policy with a fresh quote,
counters, trading not halted for live orders, audit available), writes the
pending record, calls the broker once, and records the outcome. Every
refusal before the broker call is audited and leaves no record.
"""

import logging
from decimal import Decimal

from django.db import transaction

from ibkr_gateway import market, scopes
from ibkr_gateway.broker import errors as broker_errors
from ibkr_gateway.broker import order_status
from orders import counters, events, gates, idempotency, intent, risk
from orders.backends import open_backend
from orders.models import LiveOrderPending, OrderGroup
from orders.models.choices import Leg, Lifecycle, Mode
from orders.observe import order_view, tracked_model
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

logger = logging.getLogger(__name__)

SUBMIT_SCOPES = {
    Mode.PAPER: scopes.ORDERS_PAPER_SUBMIT,
    Mode.LIVE: scopes.ORDERS_LIVE_SUBMIT,
}


def tickets_for(order, coid, conid):
    """Return the broker tickets of ``order``: one, or a bracket's three legs."""
    parent = {
        "coid": coid,
        "conid": conid,
        "side": order.side,
        "order_type": order.order_type,
        "quantity": intent.decimal_text(order.quantity),
        "price": intent.decimal_text(order.limit_price),
        "tif": order.tif,
        "parent_coid": None,
    }
    if not order.is_bracket:
        return [parent]
    exit_leg = {**parent, "side": order.exit_side, "parent_coid": coid}
    take_profit = {
        **exit_leg,
        "coid": coid + idempotency.TAKE_PROFIT_SUFFIX,
        "order_type": "LMT",
        "price": intent.decimal_text(order.take_profit_price),
    }
    stop_loss = {
        **exit_leg,
        "coid": coid + idempotency.STOP_LOSS_SUFFIX,
        "order_type": "STP",
        "price": intent.decimal_text(order.stop_loss_price),
    }
    return [parent, take_profit, stop_loss]


def submit(principal, mode, data, key):
    """Place the previewed and approved order in ``data``; return an ``Outcome``.

    Raises ``OrderError`` (already audited) for a refusal before the broker
    call and ``AuditUnavailable`` when the audit log cannot be written, in
    which case the broker was not called.
    """
    operation = f"orders.{mode}.submit"
    required = [SUBMIT_SCOPES[mode]]
    return run_audited(
        principal,
        operation,
        required,
        data,
        lambda: _submit(principal, mode, data, key, operation, required),
    )


def _submit(principal, mode, data, key, operation, required):
    key, order, preview_id, approval_id, context, fields = parse_request(data, key)
    request_hash = intent.request_hash(fields)
    replay = idempotency.lookup(principal.id, operation, key, request_hash)
    if replay is not None:
        return replay_outcome(principal, operation, replay, order.account_id)

    gates.require_enabled(mode)
    gates.require_account(mode, order.account_id)
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
        coid = idempotency.derive_coid(order.account_id, principal.id, operation, key)
        request = PlacementRequest(
            principal=principal,
            mode=mode,
            action="submit",
            operation=operation,
            required=required,
            key=key,
            fields=fields,
            request_hash=request_hash,
            account_id=order.account_id,
            account_hash=account_hash,
            now=now,
            session=session,
            coid=coid,
            symbol=order.symbol,
            preview=preview,
            approval=approval,
            order_count=order.order_count,
            notional=result.notional,
            client_context=context,
            metadata={
                "mode": mode,
                "order": order.fields(),
                "preview_id": str(preview_id),
                "approval_id": str(approval_id),
                "checks": result.as_dict(),
                "caller_counters_ignored": "counters" in data,
            },
        )
        tickets = tickets_for(order, coid, result.conid)
        record = write_ahead_with_limits(request, policy)
        return after_write_ahead(
            record, lambda: _place(request, record, backend, tickets, order)
        )


def _place(request, record, backend, tickets, order):
    try:
        answer = backend.submit_orders(request.account_id, tickets)
    except NOT_PLACED as error:
        return fail(request, record, error)
    except Exception as error:
        cause = getattr(error, "code", type(error).__name__)
        logger.warning(
            "Submit %s (cOID %s) got no response (%s); looking the order up by cOID",
            record.pk,
            record.coid,
            cause,
        )
        placed = _find_placed(backend, request.account_id, tickets)
        if placed is None:
            return mark_unknown(request, record, cause)
        answer = {"orders": placed, "confirmed_prompts": [], "recovered_by": cause}
    return complete_submit(request, record, tickets, order, answer)


def _find_placed(backend, account_id, tickets):
    """Return the submit result rebuilt from a lookup by cOID, or None."""
    placed = []
    try:
        for ticket in tickets:
            state = backend.find_order_by_coid(account_id, ticket["coid"])
            if state is None:
                return None
            placed.append(
                {
                    "coid": ticket["coid"],
                    "broker_order_id": state["broker_order_id"],
                    "status": state["status"],
                }
            )
    except broker_errors.BrokerError as error:
        logger.warning("Lookup by cOID failed: %s", error.code)
        return None
    return placed


LEGS = (Leg.PARENT, Leg.TAKE_PROFIT, Leg.STOP_LOSS)


def complete_submit(request, record, tickets, order, answer):
    """Record the placed orders of ``answer`` and return the 201 ``Outcome``."""
    now = market.now()
    model = tracked_model(request.mode)
    placed = answer["orders"]
    with transaction.atomic():
        group = None
        if len(tickets) > 1:
            group = OrderGroup.objects.create(
                mode=request.mode,
                account_hash=request.account_hash,
                parent_coid=tickets[0]["coid"],
                created_at=now,
            )
        views = []
        for index, (ticket, result) in enumerate(zip(tickets, placed, strict=True)):
            status = result["status"]
            tracked = model.objects.create(
                account_id=request.account_id,
                account_hash=request.account_hash,
                broker_order_id=result["broker_order_id"],
                coid=ticket["coid"],
                leg=LEGS[index] if group else Leg.SINGLE,
                symbol=order.symbol,
                conid=ticket["conid"],
                side=ticket["side"],
                order_type=ticket["order_type"],
                quantity=Decimal(ticket["quantity"]),
                price=None if ticket["price"] is None else Decimal(ticket["price"]),
                tif=ticket["tif"],
                status=status,
                lifecycle=order_status.lifecycle(status),
                group=group,
                record=record,
                created_at=now,
                updated_at=now,
            )
            if request.mode == Mode.LIVE and tracked.lifecycle not in (
                Lifecycle.FILLED,
                Lifecycle.CANCELLED,
                Lifecycle.REFUSED,
            ):
                LiveOrderPending.objects.create(
                    account_id=request.account_id,
                    broker_order_id=tracked.broker_order_id,
                    order=tracked,
                    last_status=status,
                    added_at=now,
                )
            views.append(order_view(tracked))

        body = {
            "mode": request.mode,
            "coid": record.coid,
            "idempotency_key": record.key,
            "orders": views,
        }
        record.status = record.COMPLETED
        record.broker_order_id = placed[0]["broker_order_id"]
        record.last_status = placed[0]["status"]
        record.response_status = 201
        record.response_body = body
        record.completed_at = now
        record.save()
        if record.approval_id is not None:
            gates.consume_approval(record.approval_id, record.pk, now)
        events.allowed(
            events.ORDER_COMPLETED,
            request.principal,
            request.operation,
            account_id=request.account_id,
            output=body,
            metadata={
                "idempotency_record": record.pk,
                "coid": record.coid,
                "broker_order_ids": [result["broker_order_id"] for result in placed],
                "statuses": [result["status"] for result in placed],
                "confirmed_prompts": answer.get("confirmed_prompts", []),
                "recovered_by": answer.get("recovered_by"),
            },
        )
    return Outcome(201, body)
