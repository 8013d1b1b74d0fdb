"""Live submit gates: each refusal code, the order of the gates, the counters.

Each refused submit must leave the simulated broker untouched, write no
idempotency record, and append an ``order_refused`` event with the code of
the first gate that failed. The gates run in this order: live trading
enabled, account allow-listed, preview unexpired, approval valid
(four-eyes), risk policy (symbol, quantity, quote, collar, notional),
counters (frequency window, session orders, session notional), trading not
halted. A cancel passes only the scope, idempotency and allow-list checks.
"""

import json
import sqlite3
from datetime import UTC, datetime

import pytest

from ibkr_gateway import runtime_config
from ibkr_gateway.broker.models import SimulatedOrder, SimulatedQuote
from orders import counters, gates, trading_halt
from orders.models import IdempotencyRecord
from orders.models.choices import Mode
from tests.conftest import REPO_ROOT
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
AAPL_CONID = 265598
PREVIEW_TTL_SECONDS = 300
OPERATOR = {"kind": "cli", "id": "cli:test-operator"}


def closed_market_hours(at):
    """Market hours under which the market never opens."""
    return False


def edited_config(edits):
    """Return config/example.toml with ``edits`` applied.

    ``edits`` maps ``(section, key)`` to the TOML text of the new value.
    """
    section = None
    applied = set()
    lines = []
    for line in EXAMPLE_CONFIG.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.strip("[]")
        else:
            key = stripped.split(" = ", 1)[0]
            if (section, key) in edits:
                line = f"{key} = {edits[(section, key)]}"
                applied.add((section, key))
        lines.append(line)
    missing = set(edits) - applied
    assert not missing, f"keys not found in {EXAMPLE_CONFIG}: {missing}"
    return "\n".join(lines) + "\n"


def audit_events(db_path, event_type):
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT payload FROM audit_events WHERE event_type = ? ORDER BY seq",
            (event_type,),
        ).fetchall()
    return [json.loads(payload) for (payload,) in rows]


class Desk:
    """A trader, an approver and the runtime config of one test."""

    def __init__(self, db_path, config_path, settings):
        self.db_path = db_path
        self.config_path = config_path
        self.settings = settings
        self.trader = trader_token()
        self.approver = approver_token()
        self.edits = {}

    def configure(self, section, key, value):
        """Load config/example.toml with this edit and the earlier ones."""
        self.edits[(section, key)] = value
        self.config_path.write_text(edited_config(self.edits))
        config = runtime_config.load_runtime_config(self.config_path)
        runtime_config.set_runtime_config(config)

    def approved(self, fields=None, bracket=False):
        if fields is None:
            fields = order_fields(LIVE_ACCOUNT)
        return approved(self.trader, self.approver, fields, bracket)

    def submit(self, body, key, token=None):
        return submit(token or self.trader, "live", body, key)

    def place(self, key, fields=None, bracket=False):
        response = self.submit(self.approved(fields, bracket), key)
        assert response.status_code == 201, response.content
        return body_of(response)

    def cancel(self, broker_order_id, key, account_id=LIVE_ACCOUNT):
        return post(
            f"/api/v1/orders/live/{broker_order_id}/cancel",
            self.trader,
            {"account_id": account_id},
            key,
        )

    def refusals(self):
        return audit_events(self.db_path, "order_refused")


@pytest.fixture
def desk(trading_gateway, tmp_path, settings):
    return Desk(trading_gateway, tmp_path / "gateway.toml", settings)


def assert_refused(desk, response, code, status, key, broker_orders):
    assert response.status_code == status, response.content
    assert body_of(response)["error"]["code"] == code
    assert SimulatedOrder.objects.count() == broker_orders
    assert not IdempotencyRecord.objects.filter(key=key).exists()
    refusal = desk.refusals()[-1]
    assert refusal["error_code"] == code
    assert refusal["operation"] == "orders.live.submit"


def update_quote(**fields):
    SimulatedQuote.objects.filter(contract__conid=AAPL_CONID).update(**fields)


# Each breaker below makes one gate fail for an AAPL order that is already approved.


def disable_live(desk):
    desk.configure("live_trading", "enabled", "false")


def drop_account(desk):
    desk.configure("live_trading", "allowed_accounts", '["U5559999"]')


def expire_preview(desk):
    CLOCK.advance(PREVIEW_TTL_SECONDS + 1)


def drop_symbol(desk):
    desk.configure("risk_policies.small", "allowed_symbols", '["MSFT", "SPY"]')


def lower_max_quantity(desk):
    desk.configure("risk_policies.small", "max_quantity", "5")


def lower_max_notional(desk):
    desk.configure("risk_policies.small", "max_notional", '"1000"')


def move_last_price(desk):
    # 193 is 16% from 230, outside the 5% collar.
    update_quote(last="230", bid="229.9", ask="230.1")


def clear_quote(desk):
    update_quote(last=None, bid=None, ask=None)


def age_quote(desk):
    minute_ago = CLOCK.now.timestamp() - 60
    update_quote(updated_ms=int(minute_ago * 1000))


def halt_contract(desk):
    update_quote(halted=True)


def close_market(desk):
    desk.settings.IBKR_MARKET_HOURS = f"{__name__}.closed_market_hours"


def mark_previous_close(desk):
    update_quote(previous_close=True)


def halt_trading(desk):
    trading_halt.halt(OPERATOR, "test halt")


SINGLE_GATES = [
    pytest.param("live_trading_disabled", 403, disable_live, id="live-disabled"),
    pytest.param("account_not_allowed", 403, drop_account, id="account"),
    pytest.param("preview_expired", 409, expire_preview, id="preview-expired"),
    pytest.param("symbol_not_allowed", 422, drop_symbol, id="symbol"),
    pytest.param("quantity_limit", 422, lower_max_quantity, id="quantity"),
    pytest.param("notional_limit", 422, lower_max_notional, id="notional"),
    pytest.param("price_collar", 422, move_last_price, id="collar"),
    pytest.param("quote_missing", 422, clear_quote, id="quote-missing"),
    pytest.param("quote_stale", 422, age_quote, id="quote-stale"),
    pytest.param("quote_halted", 422, halt_contract, id="quote-halted"),
    pytest.param("market_closed", 422, close_market, id="market-hours-closed"),
    pytest.param("market_closed", 422, mark_previous_close, id="previous-close"),
    pytest.param("trading_halted", 409, halt_trading, id="trading-halted"),
]


@pytest.mark.parametrize(("code", "status", "breaker"), SINGLE_GATES)
def test_single_gate_refuses_submit(desk, code, status, breaker):
    body = desk.approved()
    breaker(desk)
    broker_orders = SimulatedOrder.objects.count()

    response = desk.submit(body, "refused-1")

    assert_refused(desk, response, code, status, "refused-1", broker_orders)


def test_approval_expired_refuses_submit(desk):
    desk.configure("risk_policies.small", "approval_ttl_seconds", "60")
    body = desk.approved()
    CLOCK.advance(61)

    response = desk.submit(body, "refused-1")

    assert_refused(desk, response, "approval_expired", 409, "refused-1", 0)


def test_approval_consumed_refuses_second_submit(desk):
    body = desk.approved()
    first = desk.submit(body, "first")

    second = desk.submit(body, "second")

    assert first.status_code == 201, first.content
    assert_refused(desk, second, "approval_consumed", 409, "second", 1)


def test_four_eyes_refuses_approver_submitting(desk):
    body = desk.approved()
    approver_as_trader = trader_token(owner="approver")

    response = desk.submit(body, "refused-1", token=approver_as_trader)

    assert_refused(desk, response, "four_eyes_required", 403, "refused-1", 0)
    refusal = desk.refusals()[-1]
    assert refusal["decision"] == "deny"
    assert refusal["outcome"] == "denied"


def test_frequency_limit_refuses_over_window(desk):
    desk.configure("risk_policies.small", "max_orders_per_window", "2")
    desk.place("first")
    desk.place("second")
    body = desk.approved()

    response = desk.submit(body, "third")

    assert_refused(desk, response, "frequency_limit", 429, "third", 2)
    assert response["Retry-After"] == "60"


def test_frequency_window_frees_after_its_length(desk):
    desk.configure("risk_policies.small", "max_orders_per_window", "1")
    desk.place("first")
    CLOCK.advance(61)

    desk.place("second")

    assert SimulatedOrder.objects.count() == 2


def test_session_order_limit_refuses(desk):
    desk.configure("risk_policies.small", "max_orders_per_session", "2")
    desk.place("first")
    desk.place("second")
    body = desk.approved()

    response = desk.submit(body, "third")

    assert_refused(desk, response, "session_order_limit", 422, "third", 2)


def test_session_notional_limit_refuses(desk):
    # Each order of 10 AAPL at 193 has a notional of 1930.
    desk.configure("risk_policies.small", "max_notional_per_session", '"3000"')
    desk.place("first")
    body = desk.approved()

    response = desk.submit(body, "second")

    assert_refused(desk, response, "session_notional_limit", 422, "second", 1)


def test_refused_submit_keeps_approval_usable(desk):
    body = desk.approved()
    halt_trading(desk)
    refused = desk.submit(body, "while-halted")
    trading_halt.resume(OPERATOR, "test resume")

    response = desk.submit(body, "after-resume")

    assert body_of(refused)["error"]["code"] == "trading_halted"
    assert response.status_code == 201, response.content


def test_replay_precedes_gates(desk):
    body = desk.approved()
    first = desk.submit(body, "first")
    halt_trading(desk)
    disable_live(desk)

    retry = desk.submit(body, "first")

    assert retry.status_code == 201, retry.content
    assert retry["Idempotent-Replayed"] == "true"
    assert body_of(retry) == body_of(first)
    assert SimulatedOrder.objects.count() == 1


# Gate order: with two gates failing, the earlier one is reported.

BREAKER_PAIRS = [
    pytest.param(
        "live_trading_disabled", 403, [disable_live, drop_account], id="enabled-account"
    ),
    pytest.param(
        "account_not_allowed", 403, [drop_account, expire_preview], id="account-preview"
    ),
    pytest.param(
        "symbol_not_allowed",
        422,
        [drop_symbol, lower_max_quantity],
        id="symbol-quantity",
    ),
    pytest.param(
        "quantity_limit",
        422,
        [lower_max_quantity, lower_max_notional],
        id="quantity-notional",
    ),
    pytest.param(
        "quote_halted", 422, [halt_contract, mark_previous_close], id="halted-closed"
    ),
    pytest.param(
        "market_closed", 422, [close_market, clear_quote], id="closed-missing"
    ),
    pytest.param("quote_missing", 422, [clear_quote, age_quote], id="missing-stale"),
    pytest.param("quote_stale", 422, [age_quote, move_last_price], id="stale-collar"),
    pytest.param(
        "notional_limit",
        422,
        [lower_max_notional, move_last_price],
        id="notional-collar",
    ),
    pytest.param(
        "symbol_not_allowed", 422, [drop_symbol, halt_trading], id="risk-halt"
    ),
]


@pytest.mark.parametrize(("code", "status", "breakers"), BREAKER_PAIRS)
def test_gate_order_reports_earlier_gate(desk, code, status, breakers):
    body = desk.approved()
    for breaker in breakers:
        breaker(desk)

    response = desk.submit(body, "refused-1")

    assert_refused(desk, response, code, status, "refused-1", 0)


def test_gate_order_preview_before_approval(desk):
    body = desk.approved()
    desk.submit(body, "first")
    CLOCK.advance(PREVIEW_TTL_SECONDS + 1)

    response = desk.submit(body, "second")

    assert_refused(desk, response, "preview_expired", 409, "second", 1)


def test_gate_order_approval_before_four_eyes(desk):
    desk.configure("risk_policies.small", "approval_ttl_seconds", "60")
    body = desk.approved()
    CLOCK.advance(61)
    approver_as_trader = trader_token(owner="approver")

    response = desk.submit(body, "refused-1", token=approver_as_trader)

    assert_refused(desk, response, "approval_expired", 409, "refused-1", 0)


def test_gate_order_approval_before_halt(desk):
    desk.configure("risk_policies.small", "approval_ttl_seconds", "60")
    body = desk.approved()
    CLOCK.advance(61)
    halt_trading(desk)

    response = desk.submit(body, "refused-1")

    assert_refused(desk, response, "approval_expired", 409, "refused-1", 0)


def test_gate_order_four_eyes_before_risk(desk):
    body = desk.approved()
    drop_symbol(desk)
    approver_as_trader = trader_token(owner="approver")

    response = desk.submit(body, "refused-1", token=approver_as_trader)

    assert_refused(desk, response, "four_eyes_required", 403, "refused-1", 0)


def test_gate_order_risk_before_counters(desk):
    desk.configure("risk_policies.small", "max_orders_per_window", "1")
    desk.place("first")
    body = desk.approved()
    move_last_price(desk)

    response = desk.submit(body, "second")

    assert_refused(desk, response, "price_collar", 422, "second", 1)


def test_gate_order_frequency_before_session_limits(desk):
    desk.configure("risk_policies.small", "max_orders_per_window", "1")
    desk.configure("risk_policies.small", "max_orders_per_session", "1")
    desk.configure("risk_policies.small", "max_notional_per_session", '"2000"')
    desk.place("first")
    body = desk.approved()

    response = desk.submit(body, "second")

    assert_refused(desk, response, "frequency_limit", 429, "second", 1)


def test_gate_order_session_orders_before_notional(desk):
    desk.configure("risk_policies.small", "max_orders_per_session", "1")
    desk.configure("risk_policies.small", "max_notional_per_session", '"2000"')
    desk.place("first")
    body = desk.approved()

    response = desk.submit(body, "second")

    assert_refused(desk, response, "session_order_limit", 422, "second", 1)


def test_gate_order_counters_before_halt(desk):
    desk.configure("risk_policies.small", "max_notional_per_session", '"3000"')
    desk.place("first")
    body = desk.approved()
    halt_trading(desk)

    response = desk.submit(body, "second")

    assert_refused(desk, response, "session_notional_limit", 422, "second", 1)


# Session counters, brackets, cancels and modifies.

SESSION_LIMITS = [
    pytest.param("max_orders_per_session", "1", "session_order_limit", id="orders"),
    pytest.param(
        "max_notional_per_session", '"2000"', "session_notional_limit", id="notional"
    ),
]


@pytest.mark.parametrize(("key", "value", "code"), SESSION_LIMITS)
def test_new_session_resets_counters(desk, key, value, code):
    # The clock starts at 10:00 New York time, and sessions start at 04:00 there.
    desk.configure("risk_policies.small", key, value)
    desk.place("day-one")
    CLOCK.now = datetime(2026, 12, 4, 8, 59, tzinfo=UTC)
    before_start = desk.submit(desk.approved(), "before-start")
    CLOCK.now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)

    at_start = desk.submit(desk.approved(), "at-start")

    assert body_of(before_start)["error"]["code"] == code
    assert at_start.status_code == 201, at_start.content
    sessions = IdempotencyRecord.objects.order_by("pk").values_list(
        "session_date", flat=True
    )
    assert [str(day) for day in sessions] == ["2026-12-03", "2026-12-04"]


def test_bracket_counts_three_orders(desk):
    desk.configure("risk_policies.small", "max_orders_per_window", "4")
    desk.place("bracket", bracket_fields(LIVE_ACCOUNT), bracket=True)
    policy = gates.trading().policy_for(Mode.LIVE)
    session = counters.session_date(CLOCK.now, gates.trading().live)
    after_bracket = counters.current_counts(Mode.LIVE, policy, CLOCK.now, session)
    desk.place("fourth")
    body = desk.approved()

    response = desk.submit(body, "fifth")

    assert after_bracket["window_order_count"] == 3
    assert after_bracket["session_order_count"] == 3
    assert_refused(desk, response, "frequency_limit", 429, "fifth", 4)


def test_cancel_and_modify_do_not_count(desk):
    desk.configure("risk_policies.small", "max_orders_per_window", "2")
    placed = desk.place("first")
    broker_order_id = placed["orders"][0]["broker_order_id"]
    change = desk.approved(order_fields(LIVE_ACCOUNT, quantity="12"))
    modified = post(
        f"/api/v1/orders/live/{broker_order_id}/modify", desk.trader, change, "modify"
    )
    cancelled = desk.cancel(broker_order_id, "cancel")
    policy = gates.trading().policy_for(Mode.LIVE)
    session = counters.session_date(CLOCK.now, gates.trading().live)
    counts = counters.current_counts(Mode.LIVE, policy, CLOCK.now, session)
    desk.place("second")
    body = desk.approved()

    third = desk.submit(body, "third")

    assert modified.status_code == 200, modified.content
    assert cancelled.status_code == 200, cancelled.content
    assert counts["window_order_count"] == 1
    assert counts["session_order_count"] == 1
    # The modify from 10 to 12 shares at 193 adds its increase, 386.
    assert counts["session_notional"] == 2316
    assert_refused(desk, third, "frequency_limit", 429, "third", 2)


def test_modify_that_grows_past_session_notional_is_refused(desk):
    desk.configure("risk_policies.small", "max_notional_per_session", '"3000"')
    placed = desk.place("first")
    broker_order_id = placed["orders"][0]["broker_order_id"]
    change = desk.approved(order_fields(LIVE_ACCOUNT, quantity="20"))

    modified = post(
        f"/api/v1/orders/live/{broker_order_id}/modify", desk.trader, change, "grow"
    )

    assert modified.status_code == 422, modified.content
    assert body_of(modified)["error"]["code"] == "session_notional_limit"


CANCEL_CONDITIONS = [
    pytest.param([halt_trading], id="halted"),
    pytest.param([disable_live], id="live-disabled"),
    pytest.param([halt_trading, disable_live], id="halted-and-disabled"),
]


@pytest.mark.parametrize("breakers", CANCEL_CONDITIONS)
def test_cancel_passes_halt_and_disabled_mode(desk, breakers):
    placed = desk.place("first")
    broker_order_id = placed["orders"][0]["broker_order_id"]
    for breaker in breakers:
        breaker(desk)

    response = desk.cancel(broker_order_id, "cancel")

    assert response.status_code == 200, response.content
    assert body_of(response)["orders"][0]["status"] == "PendingCancel"
    broker_order = SimulatedOrder.objects.get(broker_order_id=broker_order_id)
    assert broker_order.status == "PendingCancel"
    completed = audit_events(desk.db_path, "order_completed")[-1]
    assert completed["operation"] == "orders.live.cancel"
    assert desk.refusals() == []


def test_cancel_rejects_unlisted_account(desk):
    placed = desk.place("first")
    broker_order_id = placed["orders"][0]["broker_order_id"]
    drop_account(desk)

    response = desk.cancel(broker_order_id, "cancel")

    assert response.status_code == 403, response.content
    assert body_of(response)["error"]["code"] == "account_not_allowed"
    broker_order = SimulatedOrder.objects.get(broker_order_id=broker_order_id)
    assert broker_order.status == "PreSubmitted"
    assert desk.refusals()[-1]["operation"] == "orders.live.cancel"
