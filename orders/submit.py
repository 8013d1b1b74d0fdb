"""Submit and modify workflows for paper and live orders.

Both run the same steps: validate the body, look the idempotency key up,
pass the gates in DESIGN 6's order (trading enabled, account allow-listed,
preview unexpired, approval valid with four-eyes, risk policy with a fresh
quote, counters, trading not halted for live orders, audit available),
write the pending record, call the broker once, and record the outcome.
Every refusal before the broker call is audited and leaves no record.
"""

import logging
from decimal import Decimal

from django.db import transaction

from ibkr_gateway import market, scopes
from ibkr_gateway.broker import errors as broker_errors
from ibkr_gateway.broker import order_status
from orders import counters, events, gates, idempotency, intent, risk
from orders.backends import open_backend
from orders.errors import GateRefused, InvalidOrder, NotFound, OrderError
from orders.models import LiveOrderPending, OrderGroup
from orders.models.choices import Kind, Leg, Lifecycle, Mode
from orders.observe import order_view, tracked_model
from orders.placement import (
    NOT_PLACED,
    KeyReplayed,
    Outcome,
    PlacementRequest,
    fail,
    mark_unknown,
    replay_outcome,
    write_ahead,
)

logger = logging.getLogger(__name__)

SUBMIT_SCOPES = {
    Mode.PAPER: scopes.ORDERS_PAPER_SUBMIT,
    Mode.LIVE: scopes.ORDERS_LIVE_SUBMIT,
}
MODIFY_SCOPES = {
    Mode.PAPER: scopes.ORDERS_PAPER_MODIFY,
    Mode.LIVE: scopes.ORDERS_LIVE_MODIFY,
}
SUBMIT_FIELDS = ("account_id", "preview_id", "approval_id", *intent.ORDER_FIELDS)
# ``counters`` is accepted so that clients that send their own counts are
# not refused, but its value is never read: the counters are computed here.
OPTIONAL_FIELDS = (
    "limit_price",
    "client_context",
    "counters",
    *intent.BRACKET_FIELDS,
)


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


def _parse(data, key, extra_required=()):
    key = idempotency.validate_key(key)
    if not isinstance(data, dict):
        raise InvalidOrder(
            "The request body must be a JSON object.", code="malformed_json"
        )
    intent.check_fields(data, (*SUBMIT_FIELDS, *extra_required), OPTIONAL_FIELDS)
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


def _check_gates_or_in_flight(principal, operation, key, request_hash, *args):
    """Run ``_check_preview_and_approval``, reporting a same-key race as such.

    A request with the same key can reserve the approval between this
    request's key lookup and its approval read. That must be answered as the
    key being in flight, so the client retries with the same key rather
    than under a new one.
    """
    try:
        return _check_preview_and_approval(principal, *args)
    except GateRefused as error:
        if error.code != "approval_reserved":
            raise
        replay = idempotency.lookup(principal.id, operation, key, request_hash)
        if replay is not None:
            raise KeyReplayed(replay) from None
        raise


def _check_preview_and_approval(principal, mode, order, preview_id, approval_id, now):
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


def _safe_account(data):
    value = data.get("account_id") if isinstance(data, dict) else None
    try:
        return intent.account_id(value)
    except OrderError:
        return None


def submit(principal, mode, data, key):
    """Place the previewed and approved order in ``data``; return an ``Outcome``.

    Raises ``OrderError`` (already audited) for a refusal before the broker
    call and ``AuditUnavailable`` when the audit log cannot be written, in
    which case the broker was not called.
    """
    operation = f"orders.{mode}.submit"
    required = [SUBMIT_SCOPES[mode]]
    try:
        key, order, preview_id, approval_id, context, fields = _parse(data, key)
        request_hash = intent.request_hash(fields)
        replay = idempotency.lookup(principal.id, operation, key, request_hash)
        if replay is not None:
            return replay_outcome(principal, operation, replay, order.account_id)

        gates.require_enabled(mode)
        gates.require_account(mode, order.account_id)
        now = market.now()
        account_hash, preview, approval = _check_gates_or_in_flight(
            principal,
            operation,
            key,
            request_hash,
            mode,
            order,
            preview_id,
            approval_id,
            now,
        )
        policy = gates.trading().policy_for(mode)
        session = counters.session_date(now, gates.trading().live)
        with open_backend(mode) as backend:
            result = risk.evaluate(order, policy, backend, now)
            coid = idempotency.derive_coid(
                order.account_id, principal.id, operation, key
            )
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
            record = _write_ahead(request, policy)
            return _place(request, record, backend, tickets, order)
    except KeyReplayed as replayed:
        return replay_outcome(
            principal, operation, replayed.replay, _safe_account(data)
        )
    except OrderError as error:
        events.refused(
            events.ORDER_REFUSED,
            principal,
            operation,
            error,
            account_id=_safe_account(data),
            required=required,
            input=data if isinstance(data, dict) else None,
        )
        raise
    except broker_errors.BrokerError as error:
        # Only the quote and contract reads before the write-ahead get here.
        events.failed(
            events.ORDER_REFUSED,
            principal,
            operation,
            error.code,
            account_id=_safe_account(data),
            required=required,
        )
        raise


def _write_ahead(request, policy):
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


def _place(request, record, backend, tickets, order):
    try:
        answer = backend.submit_orders(request.account_id, tickets)
    except NOT_PLACED as error:
        return fail(request, record, error)
    except Exception as error:
        cause = getattr(error, "code", type(error).__name__)
        logger.warning(
            "Submit %s (cOID %s) lost its answer (%s); looking the order up",
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
    """Return the submit answer rebuilt from a lookup by cOID, or None."""
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


def complete_submit(request, record, tickets, order, answer, actor_request=None):
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


def modify(principal, mode, broker_order_id, data, key):
    """Change a working order to the previewed and approved order in ``data``."""
    operation = f"orders.{mode}.modify"
    required = [MODIFY_SCOPES[mode]]
    try:
        key, order, preview_id, approval_id, context, fields = _parse(data, key)
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
        account_hash, preview, approval = _check_gates_or_in_flight(
            principal,
            operation,
            key,
            request_hash,
            mode,
            order,
            preview_id,
            approval_id,
            now,
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
            record = _write_ahead(request, policy)
            return _modify_at_broker(request, record, backend, tracked, ticket)
    except KeyReplayed as replayed:
        return replay_outcome(
            principal, operation, replayed.replay, _safe_account(data)
        )
    except OrderError as error:
        events.refused(
            events.ORDER_REFUSED,
            principal,
            operation,
            error,
            account_id=_safe_account(data),
            required=required,
            input=data if isinstance(data, dict) else None,
            metadata={"broker_order_id": broker_order_id},
        )
        raise
    except broker_errors.BrokerError as error:
        events.failed(
            events.ORDER_REFUSED,
            principal,
            operation,
            error.code,
            account_id=_safe_account(data),
            required=required,
        )
        raise


def _working_order(mode, account_id, broker_order_id):
    tracked = (
        tracked_model(mode)
        .objects.filter(account_id=account_id, broker_order_id=broker_order_id)
        .first()
    )
    if tracked is None:
        raise NotFound(
            f"No {mode} order {broker_order_id} placed by the gateway exists for "
            "this account. List the orders with GET /api/v1/orders.",
            code="order_not_found",
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
        if state is None or not _matches(state, ticket):
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


def _matches(state, ticket):
    quantity = state.get("quantity")
    price = state.get("price")
    return quantity == ticket["quantity"] and price == ticket["price"]


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
