"""Order reads: list and status, refreshed from the broker and recorded.

Both read the backend of the mode and pass what it reports through
``orders.observe.record_state``, so every transition the gateway sees is
audited, whichever client asked.
"""

import logging

from ibkr_gateway.broker.errors import BrokerOrderNotFound
from orders import gates
from orders.backends import open_backend
from orders.errors import InvalidOrder, NotFound
from orders.observe import order_view, record_state, tracked_model

logger = logging.getLogger(__name__)


def list_orders(principal, mode, account_id=None):
    """Return the views of the gateway's orders of ``mode``, newest first.

    The broker's live order list refreshes the orders it contains; the
    others keep their last known state (a missing order is never read as
    cancelled).
    """
    if account_id is not None:
        gates.require_account(mode, account_id)
    model = tracked_model(mode)
    tracked = model.objects.all()
    if account_id is not None:
        tracked = tracked.filter(account_id=account_id)
    tracked = list(tracked.order_by("-created_at", "-id"))
    if not tracked:
        return []

    by_key = {(order.account_id, order.broker_order_id): order for order in tracked}
    with open_backend(mode) as backend:
        states = backend.live_orders(account_id)
    for state in states:
        order = by_key.get((state.get("account_id"), state["broker_order_id"]))
        if order is not None:
            record_state(mode, order, state, principal.actor, principal.request_id)
    return [order_view(order) for order in tracked]


def order_status(principal, mode, broker_order_id):
    """Return the view of one order after reading its status at the broker."""
    if not broker_order_id.isdigit() or len(broker_order_id) > 20:
        raise InvalidOrder(
            "broker_order_id must be the digits the gateway returned.",
            code="invalid_parameter",
        )
    order = tracked_model(mode).objects.filter(broker_order_id=broker_order_id).first()
    if order is None:
        raise NotFound(
            f"No {mode} order {broker_order_id} was placed by the gateway. List "
            "the orders with GET /api/v1/orders.",
            code="order_not_found",
        )
    with open_backend(mode) as backend:
        try:
            state = backend.order_status(order.account_id, broker_order_id)
        except BrokerOrderNotFound:
            logger.warning(
                "The broker does not know %s order %s; keeping its last state",
                mode,
                broker_order_id,
            )
            return order_view(order)
    record_state(mode, order, state, principal.actor, principal.request_id)
    return order_view(order)
