"""``orders.reconcile``: transitions, outages, rebuild and recovery by cOID.

Live orders are placed through the REST API on the simulated broker; the
passes then read a scripted broker, so each test states exactly what the
broker reports on each call.
"""

import json
import sqlite3

import pytest

from ibkr_gateway.broker.errors import (
    BrokerLoginRequired,
    BrokerOrderNotFound,
    BrokerRateLimited,
    BrokerTimeout,
)
from ibkr_gateway.broker.models import SimulatedOrder
from ibkr_gateway.broker.simulated import SimulatedBackend
from orders import reconcile, recovery
from orders import submit as submit_workflow
from orders.models import IdempotencyRecord, LiveOrder, LiveOrderPending
from tests.orders_support import (
    CLOCK,
    LIVE_ACCOUNT,
    approved,
    approver_token,
    body_of,
    order_fields,
    submit,
    trader_token,
)


def events(db_path, event_type):
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT payload FROM audit_events WHERE event_type = ? ORDER BY seq",
            (event_type,),
        ).fetchall()
    return [json.loads(payload) for (payload,) in rows]


class ScriptedBroker:
    """A broker whose ``live_orders`` results come from a list, one per call.

    A result is a list of order states, or an exception to raise.
    ``order_status`` returns from ``statuses`` by broker order id, or raises
    ``BrokerOrderNotFound``.
    """

    def __init__(self, answers, statuses=None):
        self.answers = list(answers)
        self.statuses = statuses or {}
        self.list_calls = 0
        self.status_calls = []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return None

    def live_orders(self, account_id=None):
        self.list_calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def order_status(self, account_id, broker_order_id):
        self.status_calls.append(broker_order_id)
        answer = self.statuses.get(broker_order_id)
        if answer is None:
            raise BrokerOrderNotFound()
        if isinstance(answer, Exception):
            raise answer
        return answer


def state(broker_order_id, status, filled="0", remaining="10", why_held=None):
    return {
        "broker_order_id": broker_order_id,
        "account_id": LIVE_ACCOUNT,
        "coid": None,
        "status": status,
        "filled_quantity": filled,
        "remaining_quantity": remaining,
        "average_price": "190" if filled != "0" else None,
        "why_held": why_held,
    }


@pytest.fixture
def live_order(trading_gateway):
    """Place one working live order and return its broker order id."""
    trader = trader_token("alice")
    body = approved(
        trader, approver_token("bob"), order_fields(LIVE_ACCOUNT, limit_price="190")
    )
    placed = body_of(submit(trader, "live", body, "live-1"))
    return placed["orders"][0]["broker_order_id"]


def use(monkeypatch, broker):
    monkeypatch.setattr(reconcile, "open_backend", lambda mode: broker)


def live_pass(broker):
    return reconcile.reconcile_live_orders_once(broker, CLOCK.now)


def test_pending_cancel_then_filled_makes_exact_transitions(
    trading_gateway, live_order
):
    broker = ScriptedBroker(
        [
            [state(live_order, "Submitted")],
            [state(live_order, "PendingCancel")],
            [state(live_order, "Filled", filled="10", remaining="0")],
        ]
    )
    in_backlog = []
    for _ in range(3):
        live_pass(broker)
        in_backlog.append(LiveOrderPending.objects.exists())

    changes = events(trading_gateway, "live_order_lifecycle_changed")
    pairs = [
        (e["metadata"]["previous_status"], e["metadata"]["status"]) for e in changes
    ]
    assert pairs == [
        ("PreSubmitted", "Submitted"),
        ("Submitted", "PendingCancel"),
        ("PendingCancel", "Filled"),
    ]
    assert [e["metadata"]["lifecycle"] for e in changes] == [
        "working",
        "working",
        "filled",
    ]
    assert in_backlog == [True, True, False]


def test_partial_fill_without_status_change_is_recorded_once(
    trading_gateway, live_order
):
    broker = ScriptedBroker(
        [
            [state(live_order, "Submitted")],
            [state(live_order, "Submitted", filled="4", remaining="6")],
            [state(live_order, "Submitted", filled="4", remaining="6")],
        ]
    )
    reports = [live_pass(broker) for _ in range(3)]

    fills = [
        e["metadata"]["filled_quantity"]
        for e in events(trading_gateway, "live_order_lifecycle_changed")
    ]
    assert fills == ["0", "4"]
    assert [r.fills for r in reports] == [0, 1, 0]
    assert LiveOrder.objects.get().filled_quantity == 4


def test_outage_records_one_degraded_and_one_recovered_event(
    trading_gateway, live_order, monkeypatch
):
    broker = ScriptedBroker(
        [
            [],
            BrokerLoginRequired(),
            BrokerRateLimited(retry_after=5),
            [state(live_order, "Submitted")],
        ],
        statuses={live_order: state(live_order, "PreSubmitted")},
    )
    use(monkeypatch, broker)
    reports = []
    for _ in range(4):
        reports.append(reconcile.run_pass(CLOCK.now))
        CLOCK.advance(61)

    assert [r["live"].get("degraded") for r in reports] == [
        None,
        "broker_login_required",
        "broker_rate_limited",
        None,
    ]
    assert len(events(trading_gateway, "reconcile_degraded")) == 1
    assert len(events(trading_gateway, "reconcile_recovered")) == 1
    changes = events(trading_gateway, "live_order_lifecycle_changed")
    assert [e["metadata"]["status"] for e in changes] == ["Submitted"]


def test_empty_list_checks_the_missing_order_by_itself(trading_gateway, live_order):
    broker = ScriptedBroker(
        [[]], statuses={live_order: state(live_order, "PreSubmitted")}
    )

    report = live_pass(broker)

    assert broker.status_calls == [live_order]
    assert report.unchanged == 1
    assert events(trading_gateway, "live_order_lifecycle_changed") == []


def test_rate_limit_backoff_honours_retry_after(
    trading_gateway, live_order, monkeypatch
):
    broker = ScriptedBroker([BrokerRateLimited(retry_after=30), []])
    use(monkeypatch, broker)

    reconcile.run_pass(CLOCK.now)
    CLOCK.advance(10)
    skipped = reconcile.run_pass(CLOCK.now)

    assert skipped["live"] == {"skipped": "backoff", "reason": "broker_rate_limited"}
    assert broker.list_calls == 1


def test_not_found_order_stays_in_backlog(trading_gateway, live_order):
    broker = ScriptedBroker([[], [], []])

    reports = [live_pass(broker) for _ in range(3)]

    row = LiveOrderPending.objects.get()
    assert row.not_found_count == 3
    assert reports[-1].unresolved == [
        {"broker_order_id": live_order, "reason": "not_found", "passes": 3}
    ]
    assert reconcile.trouble_report()["not_found"][0]["broker_order_id"] == live_order


def test_unknown_status_is_kept_verbatim_and_reported(trading_gateway, live_order):
    broker = ScriptedBroker([[state(live_order, "Frobnicated")]])

    report = live_pass(broker)

    order = LiveOrder.objects.get()
    assert order.status == "Frobnicated"
    assert order.lifecycle == "unknown"
    assert report.unresolved[0]["reason"] == "unknown_status"
    assert LiveOrderPending.objects.exists()
    (event,) = events(trading_gateway, "live_order_lifecycle_changed")
    assert event["metadata"]["status"] == "Frobnicated"


def test_inactive_with_hold_stays_working_and_is_reported(trading_gateway, live_order):
    broker = ScriptedBroker([[state(live_order, "Inactive", why_held="locate")]])

    live_pass(broker)

    assert LiveOrder.objects.get().lifecycle == "working"
    assert reconcile.trouble_report()["held"][0]["why_held"] == "locate"


def test_inactive_without_hold_is_refused_and_leaves_backlog(
    trading_gateway, live_order
):
    broker = ScriptedBroker([[state(live_order, "Inactive")]])

    report = live_pass(broker)

    assert LiveOrder.objects.get().lifecycle == "refused"
    assert report.completed == 1
    assert not LiveOrderPending.objects.exists()


def test_rebuild_restores_three_working_orders_once(trading_gateway):
    trader = trader_token("alice")
    approver = approver_token("bob")
    for index in range(3):
        fields = order_fields(LIVE_ACCOUNT, limit_price=str(188 + index))
        submit(trader, "live", approved(trader, approver, fields), f"live-{index}")
    before = sorted(LiveOrderPending.objects.values_list("broker_order_id", flat=True))
    # A restart that lost the backlog table's rows.
    LiveOrderPending.objects.all().delete()

    first = reconcile.rebuild_backlog()
    after = sorted(LiveOrderPending.objects.values_list("broker_order_id", flat=True))
    second = reconcile.rebuild_backlog()

    assert first == 3
    assert after == before
    assert second == 0
    assert LiveOrderPending.objects.count() == 3


class LostSubmitBackend(SimulatedBackend):
    """Places the order, then loses the response."""

    def submit_orders(self, account_id, tickets):
        super().submit_orders(account_id, tickets)
        raise BrokerTimeout()

    def find_order_by_coid(self, account_id, coid):
        return None


def test_pass_links_lost_submit_by_coid(trading_gateway, monkeypatch):
    trader = trader_token("alice")
    body = approved(
        trader, approver_token("bob"), order_fields(LIVE_ACCOUNT, limit_price="190")
    )
    monkeypatch.setattr(
        submit_workflow, "open_backend", lambda mode: LostSubmitBackend()
    )
    lost = submit(trader, "live", body, "live-1")
    assert body_of(lost)["error"]["code"] == "unknown_outcome"

    monkeypatch.setattr(recovery, "open_backend", lambda mode: SimulatedBackend())
    reconcile.run_pass(CLOCK.now)

    assert IdempotencyRecord.objects.get().status == "completed"
    assert SimulatedOrder.objects.count() == 1
    assert LiveOrderPending.objects.count() == 1


def test_paper_orders_fill_through_passes(trading_gateway):
    trader = trader_token("alice")
    body = approved(trader, approver_token("bob"), order_fields(limit_price="194"))
    submit(trader, "paper", body, "paper-1")

    for _ in range(4):
        reconcile.run_pass(CLOCK.now)

    statuses = [
        e["metadata"]["status"]
        for e in events(trading_gateway, "paper_order_lifecycle_changed")
    ]
    assert statuses == ["Submitted", "Submitted", "Filled"]
    assert events(trading_gateway, "paper_order_lifecycle_changed")[0]["actor"] == {
        "kind": "reconciler",
        "id": "reconciler",
    }
