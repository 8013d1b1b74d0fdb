"""Submits whose broker outcome is lost: lookup by cOID, unknown outcome, resolve.

The simulated broker is wrapped so that its response to ``submit_orders`` is
lost after (or instead of) placing the orders. The operator commands run
as ``manage.py orders`` subprocesses on the test database with
config/example.toml, whose ``[cli]`` principal is an operator.
"""

import json
import sqlite3

import pytest

from ibkr_gateway.broker.errors import BrokerTimeout
from ibkr_gateway.broker.models import SimulatedOrder
from ibkr_gateway.broker.simulated import SimulatedBackend
from orders import modify as modify_workflow
from orders import recovery
from orders import submit as submit_workflow
from orders.models import Approval, IdempotencyRecord, LiveOrder, OrderGroup
from tests.conftest import (
    REPO_ROOT,
    TEST_CORRELATION_KEY,
    TEST_KEY,
    manage_env,
    run_manage,
)
from tests.orders_support import (
    CLOCK,
    LIVE_ACCOUNT,
    approved,
    approver_token,
    body_of,
    bracket_fields,
    order_fields,
    post,
    submit,
    trader_token,
)

EXAMPLE_CONFIG = REPO_ROOT / "config" / "example.toml"
KEY = "lost-1"


class CountingBackend(SimulatedBackend):
    """The simulated broker, counting its ``submit_orders`` calls in ``calls``."""

    calls = []

    def submit_orders(self, account_id, tickets):
        self.calls.append([ticket["coid"] for ticket in tickets])
        return super().submit_orders(account_id, tickets)


class LostResponseBackend(CountingBackend):
    """Places the orders, then times out, so the response is lost."""

    def submit_orders(self, account_id, tickets):
        super().submit_orders(account_id, tickets)
        raise BrokerTimeout()


class NotPlacedBackend(CountingBackend):
    """Times out without placing anything."""

    def submit_orders(self, account_id, tickets):
        self.calls.append([ticket["coid"] for ticket in tickets])
        raise BrokerTimeout()


class HiddenOrderBackend(LostResponseBackend):
    """Places the orders and loses the response, and its cOID lookup finds nothing."""

    def find_order_by_coid(self, account_id, coid):
        return None


def audit_events(db_path, event_type=None):
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT payload FROM audit_events ORDER BY seq").fetchall()
    payloads = [json.loads(payload) for (payload,) in rows]
    if event_type is None:
        return payloads
    return [event for event in payloads if event["event_type"] == event_type]


def cli_env(db_path, config_path, operator=True):
    """Return a ``manage.py`` environment on config/example.toml as [cli]."""
    text = EXAMPLE_CONFIG.read_text()
    assert "\noperator = true\n" in text
    if not operator:
        text = text.replace("\noperator = true\n", "\noperator = false\n")
    config_path.write_text(text)
    return manage_env(
        db_path,
        IBKR_GATEWAY_CONFIG=str(config_path),
        IBKR_AUDIT_HMAC_SECRET=TEST_KEY,
        IBKR_AUDIT_CORRELATION_SECRET=TEST_CORRELATION_KEY,
        IBKR_MARKET_CLOCK="tests.orders_support.fixed_clock",
        DJANGO_SECRET_KEY="test-secret-key-for-subprocesses-only",
    )


class Desk:
    """A trader and an approver, and the broker backend that submits use."""

    def __init__(self, db_path, tmp_path, monkeypatch):
        self.db_path = db_path
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch
        self.trader = trader_token()
        self.approver = approver_token()
        CountingBackend.calls = []
        self.use_backend(CountingBackend)

    def use_backend(self, backend_class):
        """Make the submit workflow open ``backend_class`` for either mode."""
        self.monkeypatch.setattr(
            submit_workflow, "open_backend", lambda mode: backend_class()
        )

    @property
    def broker_calls(self):
        return CountingBackend.calls

    def approved(self, fields=None, bracket=False):
        if fields is None:
            fields = order_fields(LIVE_ACCOUNT)
        return approved(self.trader, self.approver, fields, bracket)

    def submit(self, body, key=KEY):
        return submit(self.trader, "live", body, key)

    def manage(self, *args, operator=True):
        env = cli_env(self.db_path, self.tmp_path / "gateway.toml", operator)
        return run_manage(*args, db_path=self.db_path, env=env)


@pytest.fixture
def desk(trading_gateway, tmp_path, monkeypatch):
    return Desk(trading_gateway, tmp_path, monkeypatch)


def record_of(key=KEY):
    return IdempotencyRecord.objects.get(key=key)


def unknown_outcome_submit(desk, backend_class=NotPlacedBackend):
    """Submit through ``backend_class`` and return the request body, after a 502."""
    desk.use_backend(backend_class)
    body = desk.approved()
    response = desk.submit(body)
    assert response.status_code == 502, response.content
    assert body_of(response)["error"]["code"] == "unknown_outcome"
    return body


# Lost response, order found by cOID


def test_lost_response_completed_by_coid(desk):
    desk.use_backend(LostResponseBackend)
    body = desk.approved()

    response = desk.submit(body)

    assert response.status_code == 201, response.content
    created = body_of(response)
    assert SimulatedOrder.objects.count() == 1
    assert SimulatedOrder.objects.get().coid == created["coid"]
    assert created["orders"][0]["broker_order_id"] == (
        SimulatedOrder.objects.get().broker_order_id
    )
    assert record_of().status == IdempotencyRecord.COMPLETED
    completed = audit_events(desk.db_path, "order_completed")[-1]
    assert completed["metadata"]["recovered_by"] == "broker_timeout"
    assert Approval.objects.get().status == Approval.CONSUMED


def test_lost_response_retry_replays(desk):
    desk.use_backend(LostResponseBackend)
    body = desk.approved()
    first = desk.submit(body)

    retry = desk.submit(body)

    assert retry.status_code == 201, retry.content
    assert retry["Idempotent-Replayed"] == "true"
    assert body_of(retry) == body_of(first)
    assert len(desk.broker_calls) == 1
    assert SimulatedOrder.objects.count() == 1


def test_lost_bracket_response_completed(desk):
    desk.use_backend(LostResponseBackend)
    body = desk.approved(bracket_fields(LIVE_ACCOUNT), bracket=True)

    response = desk.submit(body)

    assert response.status_code == 201, response.content
    legs = [order["leg"] for order in body_of(response)["orders"]]
    assert legs == ["parent", "take_profit", "stop_loss"]
    assert SimulatedOrder.objects.count() == 3
    assert OrderGroup.objects.count() == 1
    assert LiveOrder.objects.filter(group__isnull=False).count() == 3


# Unknown outcome and the operator's resolve


def test_unfound_submit_becomes_unknown_outcome(desk):
    unknown_outcome_submit(desk)

    record = record_of()
    assert record.status == IdempotencyRecord.UNKNOWN_OUTCOME
    assert SimulatedOrder.objects.count() == 0
    assert LiveOrder.objects.count() == 0
    event = audit_events(desk.db_path, "order_outcome_unknown")[-1]
    assert event["error_code"] == "unknown_outcome"
    assert event["metadata"]["cause"] == "broker_timeout"
    assert event["metadata"]["coid"] == record.coid
    # The approval stays reserved until an operator resolves the request.
    assert Approval.objects.get().status == Approval.RESERVED


def test_unknown_outcome_blocks_key(desk):
    body = unknown_outcome_submit(desk)

    retry = desk.submit(body)

    assert retry.status_code == 409, retry.content
    assert body_of(retry)["error"]["code"] == "unknown_outcome"
    assert len(desk.broker_calls) == 1


def test_unknown_outcome_is_listed_as_unresolved(desk):
    unknown_outcome_submit(desk)

    result = desk.manage("orders", "unresolved", "--json")

    assert result.returncode == 0, result.stderr
    (listed,) = json.loads(result.stdout)["records"]
    assert listed["coid"] == record_of().coid
    assert listed["status"] == IdempotencyRecord.UNKNOWN_OUTCOME


def test_resolve_as_not_placed_frees_key(desk):
    body = unknown_outcome_submit(desk)
    coid = record_of().coid

    result = desk.manage(
        "orders", "resolve", coid, "--as-not-placed", "--reason", "not at broker"
    )
    desk.use_backend(CountingBackend)
    retry = desk.submit(body)
    fresh = desk.submit(body, key="lost-2")

    assert result.returncode == 0, result.stderr
    assert record_of().status == IdempotencyRecord.FAILED_AFTER_BROKER
    resolved = audit_events(desk.db_path, "order_outcome_resolved")[-1]
    assert resolved["metadata"]["as"] == "not_placed"
    assert resolved["metadata"]["reason"] == "not at broker"
    assert resolved["actor"] == {"kind": "cli", "id": "cli:desk-operator"}
    assert retry.status_code == 502, retry.content
    assert retry["Idempotent-Replayed"] == "true"
    assert body_of(retry)["error"]["code"] == "order_not_placed"
    assert fresh.status_code == 201, fresh.content
    assert SimulatedOrder.objects.count() == 1
    assert len(desk.broker_calls) == 2


def test_resolve_as_placed_records_order(desk):
    body = unknown_outcome_submit(desk, HiddenOrderBackend)
    coid = record_of().coid
    broker_order = SimulatedOrder.objects.get(coid=coid)

    result = desk.manage(
        "orders",
        "resolve",
        coid,
        "--as-placed",
        broker_order.broker_order_id,
        "--reason",
        "seen in TWS",
    )
    retry = desk.submit(body)

    assert result.returncode == 0, result.stderr
    record = record_of()
    assert record.status == IdempotencyRecord.COMPLETED
    assert record.broker_order_id == broker_order.broker_order_id
    tracked = LiveOrder.objects.get(coid=coid)
    assert tracked.broker_order_id == broker_order.broker_order_id
    completed = audit_events(desk.db_path, "order_completed")[-1]
    assert completed["metadata"]["recovered_by"] == "operator"
    assert Approval.objects.get().status == Approval.CONSUMED
    assert retry.status_code == 201, retry.content
    assert retry["Idempotent-Replayed"] == "true"
    assert body_of(retry)["orders"][0]["broker_order_id"] == (
        broker_order.broker_order_id
    )
    assert SimulatedOrder.objects.count() == 1


def test_resolve_needs_operator(desk):
    unknown_outcome_submit(desk)
    coid = record_of().coid

    result = desk.manage(
        "orders", "resolve", coid, "--as-not-placed", "--reason", "x", operator=False
    )

    assert result.returncode == 4, result.stderr
    assert record_of().status == IdempotencyRecord.UNKNOWN_OUTCOME
    assert audit_events(desk.db_path, "order_outcome_resolved") == []


def test_recover_completes_order_found_later(desk):
    # The lookup at submit time misses the order, but the recovery lookup finds it.
    unknown_outcome_submit(desk, HiddenOrderBackend)

    results = recovery.recover_outcomes()

    assert [item.result for item in results] == ["completed"]
    assert record_of().status == IdempotencyRecord.COMPLETED
    assert LiveOrder.objects.count() == 1
    completed = audit_events(desk.db_path, "order_completed")[-1]
    assert completed["metadata"]["recovered_by"] == "coid_lookup"
    assert completed["actor"] == {"kind": "reconciler", "id": "reconciler"}


def test_recover_leaves_unfound_unknown_outcome(desk):
    unknown_outcome_submit(desk)
    before = audit_events(desk.db_path)

    results = recovery.recover_outcomes()

    assert [item.result for item in results] == ["unknown"]
    assert record_of().status == IdempotencyRecord.UNKNOWN_OUTCOME
    assert audit_events(desk.db_path) == before


# A crash between the broker call and the commit


def crash_once(monkeypatch, name):
    """Make ``orders.submit.<name>`` raise once, then behave as before."""
    original = getattr(submit_workflow, name)
    crashes = []

    def crashing(*args, **kwargs):
        if not crashes:
            crashes.append(name)
            raise RuntimeError(f"simulated crash in {name}")
        return original(*args, **kwargs)

    monkeypatch.setattr(submit_workflow, name, crashing)


def crashed_submit(desk, body):
    response = desk.submit(body)
    assert response.status_code == 502, response.content
    assert body_of(response)["error"]["code"] == "outcome_unrecorded"


def test_crash_after_broker_leaves_pending(desk, monkeypatch):
    crash_once(monkeypatch, "complete_submit")
    body = desk.approved()

    crashed = desk.submit(body)
    retry = desk.submit(body)

    assert crashed.status_code == 502, crashed.content
    assert body_of(crashed)["error"]["code"] == "outcome_unrecorded"
    assert record_of().status == IdempotencyRecord.PENDING
    assert SimulatedOrder.objects.count() == 1
    assert LiveOrder.objects.count() == 0
    assert retry.status_code == 409, retry.content
    assert body_of(retry)["error"]["code"] == "request_in_flight"
    assert len(desk.broker_calls) == 1


def test_recover_waits_for_grace_period(desk, monkeypatch):
    crash_once(monkeypatch, "complete_submit")
    body = desk.approved()
    crashed_submit(desk, body)
    CLOCK.advance(recovery.PENDING_GRACE_SECONDS - 1)

    results = recovery.recover_outcomes()

    assert results == []
    assert record_of().status == IdempotencyRecord.PENDING


def test_recover_completes_pending_after_grace(desk, monkeypatch):
    crash_once(monkeypatch, "complete_submit")
    body = desk.approved()
    crashed_submit(desk, body)
    CLOCK.advance(recovery.PENDING_GRACE_SECONDS + 1)

    results = recovery.recover_outcomes()
    retry = desk.submit(body)

    assert [item.result for item in results] == ["completed"]
    assert results[0].coid == record_of().coid
    assert record_of().status == IdempotencyRecord.COMPLETED
    tracked = LiveOrder.objects.get()
    assert tracked.broker_order_id == SimulatedOrder.objects.get().broker_order_id
    completed = audit_events(desk.db_path, "order_completed")[-1]
    assert completed["metadata"]["recovered_by"] == "coid_lookup"
    assert Approval.objects.get().status == Approval.CONSUMED
    assert retry.status_code == 201, retry.content
    assert len(desk.broker_calls) == 1


def test_recover_twice_changes_nothing(desk, monkeypatch):
    crash_once(monkeypatch, "complete_submit")
    body = desk.approved()
    crashed_submit(desk, body)
    CLOCK.advance(recovery.PENDING_GRACE_SECONDS + 1)
    recovery.recover_outcomes()
    events_after_first = audit_events(desk.db_path)
    tracked_after_first = list(LiveOrder.objects.values())

    second = recovery.recover_outcomes()

    assert second == []
    assert audit_events(desk.db_path) == events_after_first
    assert list(LiveOrder.objects.values()) == tracked_after_first
    assert SimulatedOrder.objects.count() == 1


def test_crash_before_broker_becomes_unknown(desk, monkeypatch):
    crash_once(monkeypatch, "_place")
    body = desk.approved()
    crashed_submit(desk, body)
    CLOCK.advance(recovery.PENDING_GRACE_SECONDS + 1)

    first = recovery.recover_outcomes()
    events_after_first = audit_events(desk.db_path)
    second = recovery.recover_outcomes()

    assert [item.result for item in first] == ["unknown"]
    assert [item.result for item in second] == ["unknown"]
    assert record_of().status == IdempotencyRecord.UNKNOWN_OUTCOME
    assert audit_events(desk.db_path) == events_after_first
    unknown = audit_events(desk.db_path, "order_outcome_unknown")[-1]
    assert unknown["metadata"]["cause"] == "pending_after_restart"
    assert desk.broker_calls == []
    assert SimulatedOrder.objects.count() == 0


def place_manual_order(desk):
    """Place an order at the broker outside the gateway and return its broker id."""
    ticket = {
        "coid": "manual-1",
        "conid": 265598,
        "side": "SELL",
        "order_type": "LMT",
        "quantity": "1",
        "price": "200",
        "tif": "DAY",
    }
    placed = SimulatedBackend().submit_orders(LIVE_ACCOUNT, [ticket])
    return placed["orders"][0]["broker_order_id"]


def place_gateway_order(desk):
    """Place another order through the gateway and return its broker id."""
    response = desk.submit(desk.approved(), key="other")
    assert response.status_code == 201, response.content
    return body_of(response)["orders"][0]["broker_order_id"]


@pytest.mark.parametrize(
    "place_other",
    [
        pytest.param(place_manual_order, id="untracked-order"),
        pytest.param(place_gateway_order, id="tracked-order"),
    ],
)
def test_resolve_as_placed_refuses_other_coid(desk, place_other):
    other_id = place_other(desk)
    unknown_outcome_submit(desk)
    record = record_of()

    result = desk.manage(
        "orders",
        "resolve",
        record.coid,
        "--as-placed",
        other_id,
        "--reason",
        "wrong id typed",
    )

    assert result.returncode == 5, result.stderr
    assert record_of().status == IdempotencyRecord.UNKNOWN_OUTCOME
    assert not LiveOrder.objects.filter(coid=record.coid).exists()


class LostModifyBackend(SimulatedBackend):
    """Times out on ``modify_order`` without changing the order."""

    def modify_order(self, account_id, broker_order_id, ticket):
        raise BrokerTimeout()


def test_lost_modify_becomes_unknown_and_resolves_to_new_fields(desk, monkeypatch):
    placed = desk.submit(desk.approved())
    broker_order_id = body_of(placed)["orders"][0]["broker_order_id"]
    monkeypatch.setattr(
        modify_workflow, "open_backend", lambda mode: LostModifyBackend()
    )
    changed = desk.approved(order_fields(LIVE_ACCOUNT, limit_price="191"))

    response = post(
        f"/api/v1/orders/live/{broker_order_id}/modify", desk.trader, changed, "mod-1"
    )
    assert response.status_code == 502
    assert body_of(response)["error"]["code"] == "unknown_outcome"

    coid = LiveOrder.objects.get(broker_order_id=broker_order_id).coid
    result = desk.manage(
        "orders", "resolve", coid, "--as-placed", broker_order_id, "--reason", "seen"
    )

    assert result.returncode == 0, result.stderr
    tracked = LiveOrder.objects.get(broker_order_id=broker_order_id)
    assert str(tracked.price) == "191.00000000"
    assert IdempotencyRecord.objects.get(action="modify").status == "completed"
