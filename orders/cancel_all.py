"""Pull every working live order of the allow-listed live accounts.

``cancel_all`` reads the broker's order list of each live account, writes
one event naming every order it is about to cancel, cancels them one by
one, records the states it learns, and writes one closing event with each
order's result. Orders the gateway did not place are cancelled too: in an
emergency nothing working may stay at the broker.
"""

import logging

import audit
from audit.envelope import ALLOW, COMPLETED, FAILED
from ibkr_gateway.broker import order_status
from ibkr_gateway.broker.errors import BrokerError
from orders import gates
from orders.backends import open_backend
from orders.models import LiveOrder
from orders.models.choices import Mode
from orders.observe import record_state

logger = logging.getLogger(__name__)

ALREADY_CANCELLING = frozenset({"PendingCancel", "PreCancelled"})


def _working(states):
    return [
        state
        for state in states
        if order_status.lifecycle(state["status"], state.get("why_held")) == "working"
        and state["status"] not in ALREADY_CANCELLING
    ]


def cancel_all(actor, reason):
    """Cancel every working live order; return the cancelled and failed ones.

    ``actor`` is the operator's audit actor. Raises ``AuditUnavailable``
    before any broker call when the first event cannot be written.
    """
    accounts = sorted(gates.mode_settings(Mode.LIVE).allowed_accounts)
    results = {"cancelled": [], "failed": []}
    with open_backend(Mode.LIVE) as backend:
        targets = []
        for account_id in accounts:
            try:
                states = backend.live_orders(account_id)
            except BrokerError as error:
                logger.error("cancel-all could not list orders: %s", error.code)
                results["failed"].append({"account_hash": None, "error": error.code})
                continue
            targets.extend((account_id, state) for state in _working(states))

        audit.log_event(
            "trading_cancel_all_started",
            operation="trading.cancel_all",
            actor=actor,
            decision=ALLOW,
            outcome=COMPLETED,
            metadata={
                "reason": reason,
                "broker_order_ids": [state["broker_order_id"] for _, state in targets],
            },
        )
        for account_id, state in targets:
            _cancel_one(backend, actor, account_id, state, results)

    failed = bool(results["failed"])
    audit.log_event(
        "trading_cancel_all_completed",
        operation="trading.cancel_all",
        actor=actor,
        decision=ALLOW,
        outcome=FAILED if failed else COMPLETED,
        error_code="cancel_failed" if failed else None,
        metadata={"reason": reason, **results},
    )
    return results


def _cancel_one(backend, actor, account_id, state, results):
    broker_order_id = state["broker_order_id"]
    try:
        answer = backend.cancel_order(account_id, broker_order_id)
    except BrokerError as error:
        logger.error("cancel-all: cancel of %s failed: %s", broker_order_id, error.code)
        results["failed"].append(
            {"broker_order_id": broker_order_id, "error": error.code}
        )
        return
    results["cancelled"].append(
        {"broker_order_id": broker_order_id, "status": answer["status"]}
    )
    tracked = LiveOrder.objects.filter(
        account_id=account_id, broker_order_id=broker_order_id
    ).first()
    if tracked is not None:
        record_state(Mode.LIVE, tracked, {"status": answer["status"]}, actor)
