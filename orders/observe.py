"""Record what the broker reports about a tracked order.

``record_state`` compares a broker order state with the stored order and,
on a change of status or fill, updates the row and appends
``paper_order_lifecycle_changed`` or ``live_order_lifecycle_changed``. It
keeps the bracket's group lifecycle, the live backlog and the submit's
``last_status`` in step, all in one transaction.
"""

from decimal import Decimal

from django.db import transaction

import audit
from audit.envelope import ALLOW, COMPLETED
from ibkr_gateway import market
from ibkr_gateway.broker import order_status
from orders import events
from orders.errors import NotFound
from orders.intent import decimal_text
from orders.models import IdempotencyRecord, LiveOrder, LiveOrderPending, PaperOrder
from orders.models.choices import Lifecycle, Mode


def tracked_model(mode):
    return PaperOrder if mode == Mode.PAPER else LiveOrder


def find_tracked_order(mode, account_id, broker_order_id):
    """Return the order the gateway placed under this id, or raise ``NotFound``."""
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
    return tracked


def order_view(order):
    """Return the JSON-ready description of a tracked order."""
    return {
        "broker_order_id": order.broker_order_id,
        "coid": order.coid,
        "leg": order.leg,
        "symbol": order.symbol,
        "conid": order.conid,
        "side": order.side,
        "order_type": order.order_type,
        "quantity": decimal_text(order.quantity),
        "price": decimal_text(order.price),
        "tif": order.tif,
        "status": order.status,
        "lifecycle": order.lifecycle,
        "filled_quantity": decimal_text(order.filled_quantity),
        "remaining_quantity": decimal_text(order.quantity - order.filled_quantity),
        "average_price": decimal_text(order.average_price),
    }


def _decimal(value):
    return None if value is None else Decimal(value)


def record_state(mode, order, state, actor, request_id=None):
    """Apply broker ``state`` to the tracked ``order``; return True on a change.

    ``actor`` is the audit actor that observed the state: the principal
    reading the order, or the reconciler.
    """
    status = state["status"]
    why_held = state.get("why_held")
    filled = _decimal(state.get("filled_quantity"))
    average = _decimal(state.get("average_price"))
    if filled is None:
        filled = order.filled_quantity
    lifecycle = order_status.lifecycle(status, why_held)

    if status == order.status and filled == order.filled_quantity:
        return False

    with transaction.atomic():
        previous_status = order.status
        previous_lifecycle = order.lifecycle
        order.status = status
        order.lifecycle = lifecycle
        order.filled_quantity = filled
        if average is not None:
            order.average_price = average
        order.updated_at = market.now()
        order.save()

        audit.log_event(
            events.LIFECYCLE_CHANGED[mode],
            operation=f"orders.{mode}.lifecycle",
            actor=actor,
            decision=ALLOW,
            outcome=COMPLETED,
            account_id=order.account_id,
            request_id=request_id,
            metadata={
                "broker_order_id": order.broker_order_id,
                "coid": order.coid,
                "leg": order.leg,
                "previous_status": previous_status,
                "status": status,
                "previous_lifecycle": previous_lifecycle,
                "lifecycle": lifecycle,
                "why_held": why_held,
                "filled_quantity": decimal_text(order.filled_quantity),
                "remaining_quantity": decimal_text(
                    order.quantity - order.filled_quantity
                ),
                "average_price": decimal_text(order.average_price),
            },
        )
        _update_record(order, status)
        if mode == Mode.LIVE:
            _update_backlog(order, lifecycle, status)
        if order.group_id is not None:
            _update_group(mode, order.group, actor, request_id)
    return True


def _update_record(order, status):
    if order.leg in ("single", "parent"):
        IdempotencyRecord.objects.filter(pk=order.record_id).update(last_status=status)


def _update_backlog(order, lifecycle, status):
    if lifecycle in (Lifecycle.FILLED, Lifecycle.CANCELLED, Lifecycle.REFUSED):
        LiveOrderPending.objects.filter(order=order).delete()
        return
    LiveOrderPending.objects.filter(order=order).update(last_status=status)


def group_lifecycle(legs):
    """Return a bracket's lifecycle from its legs' lifecycles."""
    lifecycles = {leg.lifecycle for leg in legs}
    if Lifecycle.WORKING in lifecycles or Lifecycle.UNKNOWN in lifecycles:
        return Lifecycle.WORKING
    if Lifecycle.FILLED in lifecycles:
        return Lifecycle.FILLED
    if lifecycles == {Lifecycle.REFUSED}:
        return Lifecycle.REFUSED
    return Lifecycle.CANCELLED


def _update_group(mode, group, actor, request_id):
    legs = list(tracked_model(mode).objects.filter(group=group))
    lifecycle = group_lifecycle(legs)
    if lifecycle == group.lifecycle:
        return
    previous = group.lifecycle
    group.lifecycle = lifecycle
    group.save(update_fields=["lifecycle"])
    audit.log_event(
        events.GROUP_LIFECYCLE_CHANGED,
        operation=f"orders.{mode}.bracket",
        actor=actor,
        decision=ALLOW,
        outcome=COMPLETED,
        account_id=legs[0].account_id,
        request_id=request_id,
        metadata={
            "parent_coid": group.parent_coid,
            "previous_lifecycle": previous,
            "lifecycle": lifecycle,
            "legs": {leg.leg: leg.status for leg in legs},
        },
    )
