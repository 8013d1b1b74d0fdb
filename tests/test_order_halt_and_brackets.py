"""Trading halt, cancel-all, brackets and the paper order lifecycle.

A halt stops live submits and modifies but never a cancel, and paper orders
ignore it. Any holder of ``ibkr:trading:halt`` may halt, but only an
operator may resume. The ``manage.py trading`` commands run as subprocesses on the
test database, as an operator would run them.
"""

import json
import sqlite3

import pytest

from ibkr_gateway import scopes
from ibkr_gateway.broker.models import SimulatedOrder
from ibkr_gateway.broker.simulated_orders import order_state
from orders import trading_halt
from orders.models import Approval, LiveOrder, OrderGroup, PaperOrder
from tests.conftest import (
    REPO_ROOT,
    TEST_CORRELATION_KEY,
    TEST_KEY,
    manage_env,
    run_manage,
)
from tests.orders_support import (
    LIVE_ACCOUNT,
    PAPER_ACCOUNT,
    approved,
    approver_token,
    body_of,
    bracket_fields,
    get,
    order_fields,
    post,
    submit,
    trader_token,
)

EXAMPLE_CONFIG = REPO_ROOT / "config" / "example.toml"
OPERATOR = {"kind": "cli", "id": "cli:test-operator"}
# A BUY limit at or above the ask (193.14) fills when observed.
MARKETABLE_PRICE = "194"


def audit_events(db_path, event_type=None):
    query = "SELECT payload FROM audit_events ORDER BY seq"
    with sqlite3.connect(db_path) as db:
        rows = db.execute(query).fetchall()
    payloads = [json.loads(payload) for (payload,) in rows]
    if event_type is None:
        return payloads
    return [event for event in payloads if event["event_type"] == event_type]


def cli_env(db_path, config_path, operator):
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
    """A trader and an approver that place orders through the REST API."""

    def __init__(self):
        self.trader = trader_token()
        self.approver = approver_token()

    def approved(self, fields, bracket=False):
        return approved(self.trader, self.approver, fields, bracket)

    def place(self, mode, key, fields, bracket=False):
        response = submit(self.trader, mode, self.approved(fields, bracket), key)
        assert response.status_code == 201, response.content
        return body_of(response)["orders"]

    def modify(self, mode, broker_order_id, fields, key):
        path = f"/api/v1/orders/{mode}/{broker_order_id}/modify"
        return post(path, self.trader, self.approved(fields), key)

    def cancel(self, mode, broker_order_id, account_id, key):
        path = f"/api/v1/orders/{mode}/{broker_order_id}/cancel"
        return post(path, self.trader, {"account_id": account_id}, key)

    def status(self, mode, broker_order_id):
        response = get(f"/api/v1/orders/{mode}/{broker_order_id}", self.trader)
        assert response.status_code == 200, response.content
        return body_of(response)["orders"][0]


@pytest.fixture
def desk(trading_gateway):
    return Desk()


def halt():
    trading_halt.halt(OPERATOR, "test halt")


# Halt


def test_halt_refuses_live_submit(desk):
    halt()
    body = desk.approved(order_fields(LIVE_ACCOUNT))

    response = submit(desk.trader, "live", body, "halted")

    assert response.status_code == 409, response.content
    assert body_of(response)["error"]["code"] == "trading_halted"
    assert SimulatedOrder.objects.count() == 0


def test_halt_refuses_live_modify(desk, trading_gateway):
    (placed,) = desk.place("live", "first", order_fields(LIVE_ACCOUNT))
    halt()

    response = desk.modify(
        "live",
        placed["broker_order_id"],
        order_fields(LIVE_ACCOUNT, quantity="12"),
        "modify",
    )

    assert response.status_code == 409, response.content
    assert body_of(response)["error"]["code"] == "trading_halted"
    broker_order = SimulatedOrder.objects.get(broker_order_id=placed["broker_order_id"])
    assert broker_order.quantity == 10
    refusal = audit_events(trading_gateway, "order_refused")[-1]
    assert refusal["operation"] == "orders.live.modify"
    assert refusal["error_code"] == "trading_halted"
    # The refused modify's approval stays usable after a resume.
    assert Approval.objects.filter(status=Approval.ACTIVE).count() == 1


def test_halt_allows_live_cancel(desk):
    (placed,) = desk.place("live", "first", order_fields(LIVE_ACCOUNT))
    halt()

    response = desk.cancel("live", placed["broker_order_id"], LIVE_ACCOUNT, "cancel")

    assert response.status_code == 200, response.content
    assert body_of(response)["orders"][0]["status"] == "PendingCancel"


def test_halt_leaves_paper_orders(desk):
    halt()

    (placed,) = desk.place("paper", "first", order_fields(PAPER_ACCOUNT))
    modified = desk.modify(
        "paper",
        placed["broker_order_id"],
        order_fields(PAPER_ACCOUNT, quantity="12"),
        "modify",
    )
    cancelled = desk.cancel("paper", placed["broker_order_id"], PAPER_ACCOUNT, "cancel")

    assert modified.status_code == 200, modified.content
    assert body_of(modified)["orders"][0]["quantity"] == "12"
    assert cancelled.status_code == 200, cancelled.content
    assert trading_halt.current_state().halted is True


def test_halt_endpoint_halts_and_audits(desk, trading_gateway):
    response = post("/api/v1/trading/halt", desk.trader, {"reason": "desk outage"})

    assert response.status_code == 200, response.content
    body = body_of(response)
    assert body["halted"] is True
    assert body["changed"] is True
    assert body["changed_by"].startswith("token:")
    assert trading_halt.current_state().halted is True
    event = audit_events(trading_gateway, "trading_halted")[-1]
    assert event["actor"] == {"kind": "token", "id": body["changed_by"]}
    assert event["metadata"]["reason"] == "desk outage"
    assert event["decision"] == "allow"
    refused = submit(
        desk.trader, "live", desk.approved(order_fields(LIVE_ACCOUNT)), "after-halt"
    )
    assert body_of(refused)["error"]["code"] == "trading_halted"


def test_halt_endpoint_needs_halt_scope(trading_gateway):
    reader = trader_token(owner="reader", token_scopes={scopes.ORDERS_READ})

    response = post("/api/v1/trading/halt", reader, {"reason": "desk outage"})

    assert response.status_code == 403, response.content
    assert trading_halt.current_state().halted is False
    assert audit_events(trading_gateway, "trading_halted") == []


def test_resume_refused_for_token_actor(trading_gateway):
    halt()

    with pytest.raises(trading_halt.OperatorRequired):
        trading_halt.resume({"kind": "token", "id": "token:1"}, "back to work")

    assert trading_halt.current_state().halted is True
    denied = audit_events(trading_gateway, "trading_halt_denied")[-1]
    assert denied["actor"] == {"kind": "token", "id": "token:1"}


def test_resume_cli_refused_for_non_operator(trading_gateway, tmp_path):
    halt()
    env = cli_env(trading_gateway, tmp_path / "gateway.toml", operator=False)

    result = run_manage(
        "trading", "resume", "--reason", "open", db_path=trading_gateway, env=env
    )

    assert result.returncode == 4, result.stderr
    assert trading_halt.current_state().halted is True
    denied = audit_events(trading_gateway, "trading_halt_denied")[-1]
    assert denied["actor"] == {"kind": "cli", "id": "cli:desk-operator"}
    assert denied["operation"] == "trading.resume"
    assert denied["error_code"] == "operator_required"


def test_resume_cli_by_operator(trading_gateway, tmp_path):
    halt()
    env = cli_env(trading_gateway, tmp_path / "gateway.toml", operator=True)

    result = run_manage(
        "trading", "resume", "--reason", "open", db_path=trading_gateway, env=env
    )

    assert result.returncode == 0, result.stderr
    assert trading_halt.current_state().halted is False
    resumed = audit_events(trading_gateway, "trading_resumed")[-1]
    assert resumed["actor"] == {"kind": "cli", "id": "cli:desk-operator"}


# Cancel-all


def test_cancel_all_cancels_working_live_orders(desk, trading_gateway, tmp_path):
    (working,) = desk.place("live", "working", order_fields(LIVE_ACCOUNT))
    bracket = desk.place("live", "bracket", bracket_fields(LIVE_ACCOUNT), bracket=True)
    (filled,) = desk.place(
        "live",
        "filled",
        order_fields(LIVE_ACCOUNT, quantity="1", limit_price=MARKETABLE_PRICE),
    )
    desk.status("live", filled["broker_order_id"])
    assert desk.status("live", filled["broker_order_id"])["status"] == "Filled"
    (paper,) = desk.place("paper", "paper", order_fields(PAPER_ACCOUNT))
    env = cli_env(trading_gateway, tmp_path / "gateway.toml", operator=True)

    result = run_manage(
        "trading",
        "cancel-all",
        "--reason",
        "end of test",
        "--json",
        db_path=trading_gateway,
        env=env,
    )

    assert result.returncode == 0, result.stderr
    working_ids = [working["broker_order_id"]]
    working_ids += [order["broker_order_id"] for order in bracket]
    cancelled = json.loads(result.stdout)["cancelled"]
    assert sorted(item["broker_order_id"] for item in cancelled) == working_ids
    for broker_order_id in working_ids:
        broker_order = SimulatedOrder.objects.get(broker_order_id=broker_order_id)
        assert broker_order.status == "PendingCancel", broker_order_id
        tracked = LiveOrder.objects.get(broker_order_id=broker_order_id)
        assert tracked.status == "PendingCancel", broker_order_id
    filled_order = SimulatedOrder.objects.get(broker_order_id=filled["broker_order_id"])
    assert filled_order.status == "Filled"
    paper_order = SimulatedOrder.objects.get(broker_order_id=paper["broker_order_id"])
    assert paper_order.status == "PreSubmitted"
    (started,) = audit_events(trading_gateway, "trading_cancel_all_started")
    assert sorted(started["metadata"]["broker_order_ids"]) == working_ids
    assert started["metadata"]["reason"] == "end of test"
    (completed,) = audit_events(trading_gateway, "trading_cancel_all_completed")
    assert completed["outcome"] == "completed"
    assert completed["metadata"]["failed"] == []


def test_cancel_all_refused_for_non_operator(desk, trading_gateway, tmp_path):
    (working,) = desk.place("live", "working", order_fields(LIVE_ACCOUNT))
    env = cli_env(trading_gateway, tmp_path / "gateway.toml", operator=False)

    result = run_manage(
        "trading", "cancel-all", "--reason", "x", db_path=trading_gateway, env=env
    )

    assert result.returncode == 4, result.stderr
    broker_order = SimulatedOrder.objects.get(
        broker_order_id=working["broker_order_id"]
    )
    assert broker_order.status == "PreSubmitted"
    denied = audit_events(trading_gateway, "trading_halt_denied")[-1]
    assert denied["metadata"]["action"] == "cancel-all"
    assert audit_events(trading_gateway, "trading_cancel_all_started") == []


# Brackets


def test_bracket_places_three_linked_orders(desk):
    body = desk.approved(bracket_fields(LIVE_ACCOUNT), bracket=True)

    response = submit(desk.trader, "live", body, "bracket")

    assert response.status_code == 201, response.content
    created = body_of(response)
    parent, take_profit, stop_loss = created["orders"]
    coid = created["coid"]
    assert [parent["leg"], take_profit["leg"], stop_loss["leg"]] == [
        "parent",
        "take_profit",
        "stop_loss",
    ]
    assert parent["coid"] == coid
    assert take_profit["coid"] == coid + "-tp"
    assert stop_loss["coid"] == coid + "-sl"
    assert take_profit["side"] == "SELL"
    assert stop_loss["order_type"] == "STP"
    states = {order.coid: order_state(order) for order in SimulatedOrder.objects.all()}
    assert states[coid]["parent_broker_order_id"] is None
    for child in (take_profit, stop_loss):
        state = states[child["coid"]]
        assert state["parent_broker_order_id"] == parent["broker_order_id"]
    group = OrderGroup.objects.get()
    assert group.parent_coid == coid
    assert group.lifecycle == "working"
    assert LiveOrder.objects.filter(group=group).count() == 3


def test_cancel_bracket_parent_cancels_children(desk, trading_gateway):
    parent, take_profit, stop_loss = desk.place(
        "live", "bracket", bracket_fields(LIVE_ACCOUNT), bracket=True
    )

    response = desk.cancel("live", parent["broker_order_id"], LIVE_ACCOUNT, "cancel")
    parent_after = desk.status("live", parent["broker_order_id"])

    assert response.status_code == 200, response.content
    assert parent_after["status"] == "Cancelled"
    for child in (take_profit, stop_loss):
        tracked = LiveOrder.objects.get(broker_order_id=child["broker_order_id"])
        assert tracked.status == "Cancelled", child["leg"]
        broker_order = SimulatedOrder.objects.get(
            broker_order_id=child["broker_order_id"]
        )
        assert broker_order.status == "Cancelled", child["leg"]
    changes = audit_events(trading_gateway, "live_order_lifecycle_changed")
    child_changes = {
        event["metadata"]["leg"]: event["metadata"]
        for event in changes
        if event["metadata"]["leg"] != "parent"
    }
    assert child_changes["take_profit"]["previous_status"] == "PreSubmitted"
    assert child_changes["take_profit"]["status"] == "Cancelled"
    assert child_changes["stop_loss"]["status"] == "Cancelled"
    (group_change,) = audit_events(trading_gateway, "order_group_lifecycle_changed")
    assert group_change["metadata"]["previous_lifecycle"] == "working"
    assert group_change["metadata"]["lifecycle"] == "cancelled"
    assert group_change["metadata"]["parent_coid"] == parent["coid"]
    assert OrderGroup.objects.get().lifecycle == "cancelled"


def test_bracket_approval_of_other_preview_refused(desk, trading_gateway):
    first = desk.approved(bracket_fields(LIVE_ACCOUNT), bracket=True)
    other_bracket = {**bracket_fields(LIVE_ACCOUNT), "take_profit_price": "201"}
    second = desk.approved(other_bracket, bracket=True)
    crossed = {**second, "approval_id": first["approval_id"]}

    response = submit(desk.trader, "live", crossed, "crossed")

    assert response.status_code == 403, response.content
    assert body_of(response)["error"]["code"] == "approval_preview_mismatch"
    assert SimulatedOrder.objects.count() == 0
    refusal = audit_events(trading_gateway, "order_refused")[-1]
    assert refusal["error_code"] == "approval_preview_mismatch"
    assert Approval.objects.filter(status=Approval.ACTIVE).count() == 2


# Paper order lifecycle


def test_paper_order_lifecycle_is_audited(desk, trading_gateway):
    (placed,) = desk.place(
        "paper",
        "marketable",
        order_fields(PAPER_ACCOUNT, limit_price=MARKETABLE_PRICE),
    )
    broker_order_id = placed["broker_order_id"]

    statuses = [desk.status("paper", broker_order_id)["status"] for _ in range(4)]

    assert placed["status"] == "PreSubmitted"
    assert statuses == ["Submitted", "Submitted", "Filled", "Filled"]
    changes = [
        event["metadata"]
        for event in audit_events(trading_gateway, "paper_order_lifecycle_changed")
    ]
    steps = [
        (change["previous_status"], change["status"], change["filled_quantity"])
        for change in changes
    ]
    assert steps == [
        ("PreSubmitted", "Submitted", "0"),
        ("Submitted", "Submitted", "5"),
        ("Submitted", "Filled", "10"),
    ]
    assert changes[-1]["lifecycle"] == "filled"
    assert changes[-1]["average_price"] == "193.14"
    tracked = PaperOrder.objects.get(broker_order_id=broker_order_id)
    assert tracked.lifecycle == "filled"
