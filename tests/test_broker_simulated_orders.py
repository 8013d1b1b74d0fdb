"""Order methods of SimulatedBackend against a freshly migrated, seeded database.

Seeded quotes: AAPL (265598) last 193.18, bid 193.06, ask 193.14; MSFT
(272093) last 374.51, bid 374.45, ask 374.55; SPY (756733) last 471.16, bid
471.14, ask 471.18. DU5550101 has positions of 10 AAPL at 172.35 and 5 MSFT
at 370.12, and U5550102 has 5 SPY at 434.93.
"""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ibkr_gateway.broker.errors import (
    BrokerAccountNotFound,
    BrokerContractNotFound,
    BrokerLoginRequired,
    BrokerOrderNotFound,
    BrokerOrderRejected,
    DuplicateClientOrderId,
    InvalidBrokerRequest,
)
from ibkr_gateway.broker.models import (
    SimulatedOrder,
    SimulatedPosition,
    SimulatedQuote,
)
from ibkr_gateway.broker.simulated import SimulatedBackend

PAPER = "DU5550101"
LIVE = "U5550102"
AAPL = 265598
MSFT = 272093
SPY = 756733

INJECTED_NOW = datetime(2025, 6, 2, 14, 30, 15, 250000, tzinfo=UTC)
INJECTED_NOW_MS = 1748874615250


def injected_clock():
    return INJECTED_NOW


@pytest.fixture
def backend(gateway_db):
    return SimulatedBackend()


def ticket(**overrides):
    """Return a ticket for a BUY LMT of 10 AAPL at 190, below the ask of 193.14."""
    values = {
        "coid": "order-1",
        "conid": AAPL,
        "side": "BUY",
        "order_type": "LMT",
        "quantity": "10",
        "price": "190",
        "tif": "DAY",
        "parent_coid": None,
    }
    values.update(overrides)
    return values


def set_quote(conid, **prices):
    """Set quote prices of ``conid``, where a value of None clears that price."""
    values = {
        name: None if value is None else Decimal(value)
        for name, value in prices.items()
    }
    SimulatedQuote.objects.filter(contract__conid=conid).update(**values)


def place(backend, account_id=PAPER, **overrides):
    """Place one ticket and return its broker order id."""
    result = backend.submit_orders(account_id, [ticket(**overrides)])
    return result["orders"][0]["broker_order_id"]


def position(account_id, conid):
    return SimulatedPosition.objects.get(
        account__account_id=account_id, contract__conid=conid
    )


def order_row(broker_order_id):
    return SimulatedOrder.objects.get(broker_order_id=broker_order_id)


# Submit and progress


def test_submit_returns_presubmitted(backend):
    result = backend.submit_orders(PAPER, [ticket()])

    assert result == {
        "orders": [
            {
                "coid": "order-1",
                "broker_order_id": "1000000001",
                "status": "PreSubmitted",
            }
        ],
        "confirmed_prompts": [],
    }


def test_broker_order_ids_follow_sequence(backend):
    first = place(backend, coid="a")
    second = place(backend, coid="b")
    third = place(backend, LIVE, coid="a")

    assert [first, second, third] == ["1000000001", "1000000002", "1000000003"]


def test_order_state_shape(backend):
    broker_order_id = place(backend, tif="GTC")

    state = backend.order_status(PAPER, broker_order_id)

    assert state == {
        "broker_order_id": "1000000001",
        "account_id": PAPER,
        "coid": "order-1",
        "conid": AAPL,
        "symbol": "AAPL",
        "side": "BUY",
        "order_type": "LMT",
        "quantity": "10",
        "filled_quantity": "0",
        "remaining_quantity": "10",
        "average_price": None,
        "price": "190",
        "status": "Submitted",
        "why_held": None,
        "parent_broker_order_id": None,
    }


def test_marketable_limit_full_progress(backend):
    broker_order_id = place(backend, price="193.2")

    submitted = backend.order_status(PAPER, broker_order_id)
    assert submitted["status"] == "Submitted"
    assert submitted["filled_quantity"] == "0"

    partial = backend.order_status(PAPER, broker_order_id)
    assert partial["status"] == "Submitted"
    assert partial["filled_quantity"] == "5"
    assert partial["remaining_quantity"] == "5"
    assert partial["average_price"] == "193.14"

    # The second half fills at the new ask, so the average moves.
    set_quote(AAPL, ask="193.1")
    filled = backend.order_status(PAPER, broker_order_id)
    assert filled["status"] == "Filled"
    assert filled["filled_quantity"] == "10"
    assert filled["remaining_quantity"] == "0"
    assert filled["average_price"] == "193.12"


def test_filled_order_stays_filled(backend):
    broker_order_id = place(backend, price="193.2")
    for _ in range(3):
        backend.order_status(PAPER, broker_order_id)

    state = backend.order_status(PAPER, broker_order_id)

    assert state["status"] == "Filled"
    assert state["filled_quantity"] == "10"


def test_observation_counter_counts_reads(backend):
    broker_order_id = place(backend)
    backend.order_status(PAPER, broker_order_id)
    backend.live_orders(PAPER)

    assert order_row(broker_order_id).observations == 2


def test_marketable_sell_fills_at_bid(backend):
    broker_order_id = place(
        backend, coid="sell", conid=MSFT, side="SELL", quantity="3", price="374"
    )
    backend.order_status(PAPER, broker_order_id)

    partial = backend.order_status(PAPER, broker_order_id)
    filled = backend.order_status(PAPER, broker_order_id)

    assert partial["filled_quantity"] == "1"
    assert partial["average_price"] == "374.45"
    assert filled["status"] == "Filled"
    assert filled["filled_quantity"] == "3"
    assert filled["average_price"] == "374.45"


def test_single_share_fills_in_one_step(backend):
    broker_order_id = place(backend, order_type="MKT", quantity="1", price=None)
    backend.order_status(PAPER, broker_order_id)

    state = backend.order_status(PAPER, broker_order_id)

    assert state["status"] == "Filled"
    assert state["filled_quantity"] == "1"
    assert state["average_price"] == "193.14"


def test_buy_uses_last_without_ask(backend):
    set_quote(AAPL, ask=None)
    broker_order_id = place(backend, quantity="1", price="193.2")
    backend.order_status(PAPER, broker_order_id)

    state = backend.order_status(PAPER, broker_order_id)

    assert state["status"] == "Filled"
    assert state["average_price"] == "193.18"


def test_limit_not_marketable_without_prices(backend):
    set_quote(AAPL, ask=None, last=None)
    broker_order_id = place(backend, price="1000")
    for _ in range(3):
        backend.order_status(PAPER, broker_order_id)

    assert backend.order_status(PAPER, broker_order_id)["filled_quantity"] == "0"


def test_non_marketable_limit_stays_submitted(backend):
    broker_order_id = place(backend, price="190")
    for _ in range(5):
        backend.order_status(PAPER, broker_order_id)

    state = backend.order_status(PAPER, broker_order_id)

    assert state["status"] == "Submitted"
    assert state["filled_quantity"] == "0"
    assert state["average_price"] is None


def test_halted_contract_does_not_fill(backend):
    SimulatedQuote.objects.filter(contract__conid=AAPL).update(halted=True)
    broker_order_id = place(backend, order_type="MKT", price=None)
    for _ in range(3):
        backend.order_status(PAPER, broker_order_id)

    assert backend.order_status(PAPER, broker_order_id)["filled_quantity"] == "0"


def test_stop_held_until_triggered(backend):
    broker_order_id = place(
        backend, side="SELL", order_type="STP", quantity="1", price="190"
    )
    held = [backend.order_status(PAPER, broker_order_id) for _ in range(3)]

    set_quote(AAPL, last="189.5", bid="189.4", ask="189.6")
    triggered = backend.order_status(PAPER, broker_order_id)
    filled = backend.order_status(PAPER, broker_order_id)

    assert [state["status"] for state in held] == ["PreSubmitted"] * 3
    assert triggered["status"] == "Submitted"
    assert filled["status"] == "Filled"
    assert filled["average_price"] == "189.4"


def test_triggered_stop_fills_after_recovery(backend):
    broker_order_id = place(backend, order_type="STP", quantity="1", price="193")
    backend.order_status(PAPER, broker_order_id)

    # The buy stop triggered at last 193.18, so it fills as a market order
    # even after the last price falls back below the stop price.
    set_quote(AAPL, last="192")
    state = backend.order_status(PAPER, broker_order_id)

    assert state["status"] == "Filled"
    assert state["average_price"] == "193.14"


# Positions


def test_buy_fills_update_position(backend):
    broker_order_id = place(backend, price="193.2")
    backend.order_status(PAPER, broker_order_id)
    backend.order_status(PAPER, broker_order_id)
    set_quote(AAPL, ask="193.1")
    backend.order_status(PAPER, broker_order_id)

    row = position(PAPER, AAPL)

    assert row.quantity == Decimal("20")
    # (10 * 172.35 + 5 * 193.14 + 5 * 193.1) / 20
    assert row.average_cost == Decimal("182.735")


def test_partial_fill_updates_position(backend):
    broker_order_id = place(backend, price="193.2")
    backend.order_status(PAPER, broker_order_id)
    backend.order_status(PAPER, broker_order_id)

    row = position(PAPER, AAPL)

    assert row.quantity == Decimal("15")
    # (10 * 172.35 + 5 * 193.14) / 15
    assert row.average_cost == Decimal("179.28")


def test_sell_fills_realize_pnl(backend):
    broker_order_id = place(
        backend, coid="sell", conid=MSFT, side="SELL", quantity="3", price="374"
    )
    for _ in range(3):
        backend.order_status(PAPER, broker_order_id)

    row = position(PAPER, MSFT)

    assert row.quantity == Decimal("2")
    assert row.average_cost == Decimal("370.12")
    # 3 * (374.45 - 370.12)
    assert row.realized_pnl == Decimal("12.99")


def test_sell_through_zero_opens_short(backend):
    broker_order_id = place(
        backend,
        LIVE,
        conid=SPY,
        side="SELL",
        order_type="MKT",
        quantity="7",
        price=None,
    )
    for _ in range(3):
        backend.order_status(LIVE, broker_order_id)

    row = position(LIVE, SPY)

    assert row.quantity == Decimal("-2")
    assert row.average_cost == Decimal("471.14")
    # 5 * (471.14 - 434.93)
    assert row.realized_pnl == Decimal("181.05")


def test_first_buy_creates_position(backend):
    broker_order_id = place(backend, LIVE, order_type="MKT", quantity="1", price=None)
    backend.order_status(LIVE, broker_order_id)
    backend.order_status(LIVE, broker_order_id)

    row = position(LIVE, AAPL)

    assert row.quantity == Decimal("1")
    assert row.average_cost == Decimal("193.14")


def test_positions_read_reflects_fills(backend):
    broker_order_id = place(backend, order_type="MKT", quantity="1", price=None)
    backend.order_status(PAPER, broker_order_id)
    backend.order_status(PAPER, broker_order_id)

    (aapl, *_) = backend.positions(PAPER)

    assert aapl["quantity"] == "11"


# Cancel


def test_cancel_goes_through_pending_cancel(backend):
    broker_order_id = place(backend)
    backend.order_status(PAPER, broker_order_id)

    answer = backend.cancel_order(PAPER, broker_order_id)
    state = backend.order_status(PAPER, broker_order_id)

    assert answer == {"broker_order_id": broker_order_id, "status": "PendingCancel"}
    assert state["status"] == "Cancelled"
    assert state["remaining_quantity"] == "10"


def test_pending_cancel_does_not_fill(backend):
    broker_order_id = place(backend, price="193.2")
    backend.order_status(PAPER, broker_order_id)
    backend.cancel_order(PAPER, broker_order_id)

    state = backend.order_status(PAPER, broker_order_id)

    assert state["status"] == "Cancelled"
    assert state["filled_quantity"] == "0"


def test_cancel_filled_order_rejected(backend):
    broker_order_id = place(backend, quantity="1", price="193.2")
    backend.order_status(PAPER, broker_order_id)
    backend.order_status(PAPER, broker_order_id)

    with pytest.raises(BrokerOrderRejected) as caught:
        backend.cancel_order(PAPER, broker_order_id)

    assert "Filled" in caught.value.message
    assert broker_order_id in caught.value.message


def test_cancel_cancelled_order_rejected(backend):
    broker_order_id = place(backend)
    backend.cancel_order(PAPER, broker_order_id)
    backend.order_status(PAPER, broker_order_id)

    with pytest.raises(BrokerOrderRejected) as caught:
        backend.cancel_order(PAPER, broker_order_id)

    assert "Cancelled" in caught.value.message


def test_cancel_unknown_order_not_found(backend):
    with pytest.raises(BrokerOrderNotFound) as caught:
        backend.cancel_order(PAPER, "1999999999")

    assert "1999999999" in caught.value.message


def test_status_unknown_order_not_found(backend):
    with pytest.raises(BrokerOrderNotFound):
        backend.order_status(PAPER, "1999999999")


def test_other_account_order_not_found(backend):
    broker_order_id = place(backend, LIVE)

    with pytest.raises(BrokerOrderNotFound):
        backend.order_status(PAPER, broker_order_id)
    with pytest.raises(BrokerOrderNotFound):
        backend.cancel_order(PAPER, broker_order_id)
    with pytest.raises(BrokerOrderNotFound):
        backend.modify_order(PAPER, broker_order_id, ticket())


@pytest.mark.parametrize("broker_order_id", ["", "abc", "0123", "1 ", None, True])
def test_invalid_broker_order_id(backend, broker_order_id):
    with pytest.raises(InvalidBrokerRequest):
        backend.order_status(PAPER, broker_order_id)


# Duplicate cOIDs


def test_duplicate_coid_raises(backend):
    place(backend, coid="dup")

    with pytest.raises(DuplicateClientOrderId) as caught:
        backend.submit_orders(PAPER, [ticket(coid="fresh"), ticket(coid="dup")])

    assert caught.value.coid == "dup"
    assert caught.value.status == 409


def test_duplicate_coid_places_nothing(backend):
    place(backend, coid="dup")

    with pytest.raises(DuplicateClientOrderId):
        backend.submit_orders(PAPER, [ticket(coid="fresh"), ticket(coid="dup")])

    assert SimulatedOrder.objects.count() == 1
    assert backend.find_order_by_coid(PAPER, "fresh") is None


def test_same_coid_in_other_account(backend):
    place(backend, coid="shared")

    broker_order_id = place(backend, LIVE, coid="shared")

    assert order_row(broker_order_id).account.account_id == LIVE


def test_repeated_coid_in_request_rejected(backend):
    with pytest.raises(InvalidBrokerRequest) as caught:
        backend.submit_orders(PAPER, [ticket(coid="x"), ticket(coid="x")])

    assert "'x'" in caught.value.message
    assert SimulatedOrder.objects.count() == 0


# Brackets


def bracket(parent_price="193.2"):
    """Return a bracket: buy 10 AAPL, take profit at 200, stop loss at 180."""
    return [
        ticket(coid="parent", price=parent_price),
        ticket(
            coid="profit", side="SELL", price="200", tif="GTC", parent_coid="parent"
        ),
        ticket(
            coid="stop",
            side="SELL",
            order_type="STP",
            price="180",
            tif="GTC",
            parent_coid="parent",
        ),
    ]


def test_bracket_children_name_parent(backend):
    result = backend.submit_orders(PAPER, bracket())
    parent_id, profit_id, _ = (row["broker_order_id"] for row in result["orders"])

    state = backend.order_status(PAPER, profit_id)

    assert [row["coid"] for row in result["orders"]] == ["parent", "profit", "stop"]
    assert state["parent_broker_order_id"] == parent_id


def test_bracket_children_held_until_parent_fills(backend):
    result = backend.submit_orders(PAPER, bracket(parent_price="190"))
    _, profit_id, _ = (row["broker_order_id"] for row in result["orders"])

    # Only the parent is read here, and it cannot fill below the ask.
    states = [backend.order_status(PAPER, profit_id) for _ in range(4)]

    assert [state["status"] for state in states] == ["PreSubmitted"] * 4


def test_bracket_children_work_after_parent_fills(backend):
    backend.submit_orders(PAPER, bracket())

    rounds = [backend.live_orders(PAPER) for _ in range(3)]

    statuses = [[state["status"] for state in states] for states in rounds]
    assert statuses[0] == ["Submitted", "PreSubmitted", "PreSubmitted"]
    assert statuses[1] == ["Submitted", "PreSubmitted", "PreSubmitted"]
    # The stop loss stays held because the last price 193.18 is above 180.
    assert statuses[2] == ["Filled", "Submitted", "PreSubmitted"]


def test_bracket_child_fill_cancels_sibling(backend):
    backend.submit_orders(PAPER, bracket())
    for _ in range(3):
        backend.live_orders(PAPER)

    set_quote(AAPL, bid="200.5")
    parent, profit, stop = backend.live_orders(PAPER)

    assert parent["status"] == "Filled"
    assert profit["filled_quantity"] == "5"
    assert profit["average_price"] == "200.5"
    assert stop["status"] == "Cancelled"


def test_parent_cancel_cancels_children(backend):
    result = backend.submit_orders(PAPER, bracket(parent_price="190"))
    parent_id, profit_id, stop_id = (row["broker_order_id"] for row in result["orders"])

    backend.cancel_order(PAPER, parent_id)
    pending = [order_row(child).status for child in (profit_id, stop_id)]
    cancelled = [
        backend.order_status(PAPER, child)["status"] for child in (profit_id, stop_id)
    ]

    assert pending == ["PendingCancel", "PendingCancel"]
    assert cancelled == ["Cancelled", "Cancelled"]


@pytest.mark.parametrize(
    "tickets",
    [
        [ticket(coid="child", parent_coid="parent"), ticket(coid="parent")],
        [ticket(coid="child", parent_coid="missing")],
        [
            ticket(coid="parent"),
            ticket(coid="child", parent_coid="parent"),
            ticket(coid="grandchild", parent_coid="child"),
        ],
    ],
    ids=["parent-after-child", "unknown-parent", "grandchild"],
)
def test_bracket_parent_must_precede(backend, tickets):
    with pytest.raises(InvalidBrokerRequest):
        backend.submit_orders(PAPER, tickets)

    assert SimulatedOrder.objects.count() == 0


# Modify


def test_modify_changes_working_order(backend):
    broker_order_id = place(backend)
    backend.order_status(PAPER, broker_order_id)

    answer = backend.modify_order(
        PAPER, broker_order_id, ticket(quantity="20", price="191.5", tif="GTC")
    )
    state = backend.order_status(PAPER, broker_order_id)
    row = order_row(broker_order_id)

    assert answer == {
        "broker_order_id": broker_order_id,
        "status": "Submitted",
        "confirmed_prompts": [],
    }
    assert state["quantity"] == "20"
    assert state["price"] == "191.5"
    assert row.tif == "GTC"
    assert row.coid == "order-1"


def test_modify_to_marketable_price_fills(backend):
    broker_order_id = place(backend, quantity="1")
    backend.order_status(PAPER, broker_order_id)

    backend.modify_order(PAPER, broker_order_id, ticket(quantity="1", price="194"))
    state = backend.order_status(PAPER, broker_order_id)

    assert state["status"] == "Filled"
    assert state["average_price"] == "193.14"


def test_modify_to_stop_holds_again(backend):
    broker_order_id = place(backend)
    backend.order_status(PAPER, broker_order_id)

    answer = backend.modify_order(
        PAPER, broker_order_id, ticket(order_type="STP", price="200")
    )

    assert answer["status"] == "PreSubmitted"
    assert backend.order_status(PAPER, broker_order_id)["status"] == "PreSubmitted"


def test_modify_to_filled_quantity_completes(backend):
    broker_order_id = place(backend, price="193.2")
    backend.order_status(PAPER, broker_order_id)
    backend.order_status(PAPER, broker_order_id)
    set_quote(AAPL, ask="195")

    backend.modify_order(PAPER, broker_order_id, ticket(quantity="5", price="193.2"))
    state = backend.order_status(PAPER, broker_order_id)

    assert state["status"] == "Filled"
    assert state["filled_quantity"] == "5"


def test_modify_below_filled_rejected(backend):
    broker_order_id = place(backend, price="193.2")
    backend.order_status(PAPER, broker_order_id)
    backend.order_status(PAPER, broker_order_id)

    with pytest.raises(BrokerOrderRejected) as caught:
        backend.modify_order(PAPER, broker_order_id, ticket(quantity="4"))

    assert "below the 5 already filled" in caught.value.message


@pytest.mark.parametrize(
    ("changes", "mentions"),
    [
        ({"side": "SELL"}, "BUY order"),
        ({"conid": MSFT}, "conid 265598"),
    ],
)
def test_modify_other_contract_or_side_rejected(backend, changes, mentions):
    broker_order_id = place(backend)

    with pytest.raises(BrokerOrderRejected) as caught:
        backend.modify_order(PAPER, broker_order_id, ticket(**changes))

    assert mentions in caught.value.message


def test_modify_final_order_rejected(backend):
    broker_order_id = place(backend)
    backend.cancel_order(PAPER, broker_order_id)

    with pytest.raises(BrokerOrderRejected) as caught:
        backend.modify_order(PAPER, broker_order_id, ticket(price="191"))

    assert "PendingCancel" in caught.value.message


def test_rejected_modify_changes_nothing(backend):
    broker_order_id = place(backend)

    with pytest.raises(BrokerOrderRejected):
        backend.modify_order(PAPER, broker_order_id, ticket(side="SELL", price="1"))

    assert order_row(broker_order_id).price == Decimal("190")


# Submit validation


@pytest.mark.parametrize(
    ("changes", "mentions"),
    [
        ({"side": "buy"}, "side"),
        ({"order_type": "LIMIT"}, "order type"),
        ({"tif": "IOC"}, "tif"),
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "-5"}, "quantity"),
        ({"quantity": 10.0}, "quantity"),
        ({"quantity": "1e3"}, "quantity"),
        ({"quantity": " 10"}, "quantity"),
        ({"quantity": "NaN"}, "quantity"),
        ({"quantity": None}, "quantity"),
        ({"quantity": "0.000000001"}, "decimal places"),
        ({"quantity": "1000000000000"}, "too large"),
        ({"price": None}, "without a price"),
        ({"price": "abc"}, "price"),
        ({"order_type": "MKT"}, "Remove the price"),
        ({"coid": ""}, "Client order id"),
        ({"coid": "has space"}, "Client order id"),
        ({"coid": None}, "Client order id"),
        ({"conid": 0}, "Conid"),
        ({"conid": "AAPL"}, "Conid"),
        ({"colour": "red"}, "unknown"),
    ],
)
def test_invalid_ticket_rejected(backend, changes, mentions):
    with pytest.raises(InvalidBrokerRequest) as caught:
        backend.submit_orders(PAPER, [ticket(**changes)])

    assert mentions in caught.value.message
    assert SimulatedOrder.objects.count() == 0


@pytest.mark.parametrize("tickets", [[], None, "order-1", ticket(), [["order-1"]]])
def test_invalid_ticket_list_rejected(backend, tickets):
    with pytest.raises(InvalidBrokerRequest):
        backend.submit_orders(PAPER, tickets)


def test_invalid_account_id_rejected(backend):
    with pytest.raises(InvalidBrokerRequest):
        backend.submit_orders("du5550101", [ticket()])


def test_unknown_account_not_found(backend):
    with pytest.raises(BrokerAccountNotFound) as caught:
        backend.submit_orders("DU7777777", [ticket()])

    assert "DU7777777" in caught.value.message


def test_unknown_contract_places_nothing(backend):
    with pytest.raises(BrokerContractNotFound) as caught:
        backend.submit_orders(PAPER, [ticket(), ticket(coid="b", conid=999999)])

    assert "999999" in caught.value.message
    assert SimulatedOrder.objects.count() == 0


def test_ticket_defaults_to_day(backend):
    values = ticket()
    del values["tif"]
    del values["parent_coid"]

    broker_order_id = backend.submit_orders(PAPER, [values])["orders"][0][
        "broker_order_id"
    ]

    assert order_row(broker_order_id).tif == "DAY"


def test_order_methods_require_login(gateway_db):
    backend = SimulatedBackend(authenticated=False)
    calls = [
        lambda: backend.submit_orders(PAPER, [ticket()]),
        lambda: backend.modify_order(PAPER, "1000000001", ticket()),
        lambda: backend.cancel_order(PAPER, "1000000001"),
        lambda: backend.order_status(PAPER, "1000000001"),
        lambda: backend.live_orders(),
        lambda: backend.find_order_by_coid(PAPER, "order-1"),
        lambda: backend.whatif(PAPER, ticket()),
    ]

    for call in calls:
        with pytest.raises(BrokerLoginRequired):
            call()


# Live orders and cOID lookup


def test_live_orders_filter_by_account(backend):
    paper_id = place(backend, coid="paper")
    live_id = place(backend, LIVE, coid="live")

    everything = backend.live_orders()
    paper_only = backend.live_orders(PAPER)

    assert [row["broker_order_id"] for row in everything] == [paper_id, live_id]
    assert [row["broker_order_id"] for row in paper_only] == [paper_id]
    assert paper_only[0]["account_id"] == PAPER


def test_live_orders_list_final_orders(backend):
    broker_order_id = place(backend)
    backend.cancel_order(PAPER, broker_order_id)
    backend.live_orders(PAPER)

    (state,) = backend.live_orders(PAPER)

    assert state["status"] == "Cancelled"


def test_live_orders_empty_without_orders(backend):
    assert backend.live_orders(LIVE) == []


def test_live_orders_unknown_account(backend):
    with pytest.raises(BrokerAccountNotFound):
        backend.live_orders("DU7777777")


def test_find_order_by_coid(backend):
    broker_order_id = place(backend, coid="wanted")
    place(backend, coid="other")

    found = backend.find_order_by_coid(PAPER, "wanted")

    assert found["broker_order_id"] == broker_order_id
    assert found["coid"] == "wanted"


def test_find_order_by_coid_missing(backend):
    place(backend, LIVE, coid="wanted")

    assert backend.find_order_by_coid(PAPER, "wanted") is None


# What-if


def test_whatif_limit_estimate(backend):
    estimate = backend.whatif(PAPER, ticket(quantity="100", price="193"))

    assert estimate == {
        "commission": "1",
        "initial_margin_change": "4825",
        "maintenance_margin_change": "4825",
        "equity_change": "-1",
        "warning": None,
        "error": None,
    }


def test_whatif_market_uses_last(backend):
    estimate = backend.whatif(
        PAPER, ticket(conid=MSFT, order_type="MKT", quantity="1000", price=None)
    )

    # Commission is 0.005 * 1000, and margin is 0.25 * 1000 * 374.51.
    assert estimate["commission"] == "5"
    assert estimate["equity_change"] == "-5"
    assert estimate["initial_margin_change"] == "93627.5"
    assert estimate["maintenance_margin_change"] == "93627.5"


def test_whatif_market_without_last(backend):
    set_quote(AAPL, last=None)

    estimate = backend.whatif(PAPER, ticket(order_type="MKT", price=None))

    assert estimate["initial_margin_change"] is None
    assert "265598" in estimate["error"]


def test_whatif_places_nothing(backend):
    backend.whatif(PAPER, ticket())

    assert SimulatedOrder.objects.count() == 0


def test_whatif_unknown_contract(backend):
    with pytest.raises(BrokerContractNotFound):
        backend.whatif(PAPER, ticket(conid=999999))


# Quote time


def test_snapshot_time_from_injected_clock(backend, settings):
    settings.IBKR_MARKET_CLOCK = "tests.test_broker_simulated_orders.injected_clock"

    quotes = backend.market_snapshot([AAPL, SPY])

    assert [quote["updated_ms"] for quote in quotes] == [INJECTED_NOW_MS] * 2
