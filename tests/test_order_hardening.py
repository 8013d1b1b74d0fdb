"""Faults a tester found in the order workflows, pinned so they stay fixed.

Each test names the fault it guards against: an audit failure after the
broker call that read as "nothing happened", four-eyes across the CLI and
a default-owner token, bracket legs modified alone, bracket exits on the
wrong side of a market entry, a lost modify of the time in force, two
unknown outcomes on one order, and numbers that were read leniently.
"""

import json
import sqlite3
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ibkr_gateway.broker.errors import BrokerTimeout
from ibkr_gateway.broker.models import SimulatedOrder
from ibkr_gateway.broker.simulated import SimulatedBackend
from orders import modify as modify_workflow
from orders.models import IdempotencyRecord, LiveOrder
from tests.api_support import api_events, make_token
from tests.orders_support import (
    LIVE_ACCOUNT,
    PAPER_ACCOUNT,
    approve,
    approved,
    approver_token,
    body_of,
    bracket_fields,
    order_fields,
    post,
    preview,
    submit,
    trader_token,
)


@pytest.fixture
def trader(trading_gateway):
    return trader_token("alice")


@pytest.fixture
def approver(trading_gateway):
    return approver_token("bob")


def abort_inserts_of(db_path, event_type):
    """Make the audit log refuse rows of ``event_type`` from now on."""
    with sqlite3.connect(db_path) as db:
        db.execute(
            "CREATE TRIGGER test_refuse_event BEFORE INSERT ON audit_events "
            f"WHEN NEW.event_type = '{event_type}' "
            "BEGIN SELECT RAISE(ABORT, 'refused in this test'); END"
        )


def test_unrecorded_completion_is_not_reported_as_not_performed(
    trading_gateway, trader, approver
):
    body = approved(trader, approver, order_fields(LIVE_ACCOUNT, limit_price="190"))
    abort_inserts_of(trading_gateway, "order_completed")

    response = submit(trader, "live", body, "key-1")

    assert response.status_code == 502, response.content
    assert body_of(response)["error"]["code"] == "outcome_unrecorded"
    assert "Do not send the order again" in body_of(response)["error"]["message"]
    assert SimulatedOrder.objects.count() == 1
    assert IdempotencyRecord.objects.get().status == IdempotencyRecord.PENDING


def test_failed_final_event_says_retry(trading_gateway, trader, approver):
    body = approved(trader, approver, order_fields(LIVE_ACCOUNT, limit_price="190"))
    abort_inserts_of(trading_gateway, "api_request")

    response = submit(trader, "live", body, "key-1")

    assert response.status_code == 503
    message = body_of(response)["error"]["message"]
    assert "same Idempotency-Key" in message
    assert "not performed" not in message


def test_cli_and_default_token_one_person(trading_gateway):
    out = StringIO()
    call_command(
        "orders",
        "preview",
        "--account",
        PAPER_ACCOUNT,
        "--symbol",
        "AAPL",
        "--side",
        "BUY",
        "--quantity",
        "10",
        "--type",
        "LMT",
        "--limit-price",
        "193",
        "--json",
        stdout=out,
    )
    preview_id = json.loads(out.getvalue())["preview_id"]
    _token, same_person = make_token({"ibkr:approvals:create"}, owner="desk-operator")

    response = approve(same_person, preview_id, PAPER_ACCOUNT)

    assert response.status_code == 403
    assert body_of(response)["error"]["code"] == "four_eyes_required"


def test_bracket_leg_cannot_be_modified_alone(trading_gateway, trader, approver):
    body = approved(trader, approver, bracket_fields(LIVE_ACCOUNT), bracket=True)
    placed = body_of(submit(trader, "live", body, "bracket-1"))
    child = placed["orders"][1]["broker_order_id"]
    change = approved(
        trader,
        approver,
        order_fields(LIVE_ACCOUNT, side="SELL", quantity="100", limit_price="193"),
    )

    response = post(f"/api/v1/orders/live/{child}/modify", trader, change, "mod-1")

    assert response.status_code == 409
    assert body_of(response)["error"]["code"] == "bracket_leg_not_modifiable"


def test_market_bracket_exits_must_straddle_the_quote(trading_gateway, trader):
    fields = order_fields(
        LIVE_ACCOUNT,
        order_type="MKT",
        limit_price=None,
        take_profit_price="0.02",
        stop_loss_price="0.01",
    )

    response = preview(trader, fields, bracket=True)

    assert response.status_code == 422
    assert body_of(response)["error"]["code"] == "invalid_bracket"


class LostModifyBackend(SimulatedBackend):
    """Times out on ``modify_order`` without changing the order."""

    def modify_order(self, account_id, broker_order_id, ticket):
        raise BrokerTimeout()


def test_lost_tif_only_modify_is_unknown(
    trading_gateway, trader, approver, monkeypatch
):
    body = approved(trader, approver, order_fields(LIVE_ACCOUNT, limit_price="190"))
    placed = body_of(submit(trader, "live", body, "key-1"))
    order_id = placed["orders"][0]["broker_order_id"]
    monkeypatch.setattr(
        modify_workflow, "open_backend", lambda mode: LostModifyBackend()
    )
    change = approved(
        trader, approver, order_fields(LIVE_ACCOUNT, limit_price="190", tif="GTC")
    )

    response = post(f"/api/v1/orders/live/{order_id}/modify", trader, change, "m-1")

    assert response.status_code == 502
    assert body_of(response)["error"]["code"] == "unknown_outcome"
    assert LiveOrder.objects.get(broker_order_id=order_id).tif == "DAY"


def test_resolve_names_one_of_two_unknown_changes(
    trading_gateway, trader, approver, monkeypatch
):
    body = approved(trader, approver, order_fields(LIVE_ACCOUNT, limit_price="190"))
    placed = body_of(submit(trader, "live", body, "key-1"))
    order_id = placed["orders"][0]["broker_order_id"]
    monkeypatch.setattr(
        modify_workflow, "open_backend", lambda mode: LostModifyBackend()
    )
    for key, price in (("m-1", "191"), ("m-2", "192")):
        change = approved(
            trader, approver, order_fields(LIVE_ACCOUNT, limit_price=price)
        )
        post(f"/api/v1/orders/live/{order_id}/modify", trader, change, key)
    coid = LiveOrder.objects.get(broker_order_id=order_id).coid
    second = IdempotencyRecord.objects.get(key="m-2")

    with pytest.raises(CommandError) as ambiguous:
        call_command(
            "orders",
            "resolve",
            coid,
            "--as-not-placed",
            "--reason",
            "x",
            stdout=StringIO(),
        )
    call_command(
        "orders",
        "resolve",
        coid,
        "--as-not-placed",
        "--reason",
        "checked",
        "--record",
        str(second.pk),
        stdout=StringIO(),
    )

    assert "--record" in str(ambiguous.value)
    second.refresh_from_db()
    assert second.status == IdempotencyRecord.FAILED_AFTER_BROKER
    assert IdempotencyRecord.objects.get(key="m-1").status == "unknown_outcome"


@pytest.mark.parametrize(
    "quantity", ["1e1", "+10", "0010", " 10", "10\n", "1_0", "\u0661\u0660", "1e999999"]
)
def test_quantity_must_be_plain_decimal(trading_gateway, trader, quantity):
    response = preview(trader, order_fields(quantity=quantity))

    assert response.status_code == 400
    assert body_of(response)["error"]["code"] == "invalid_quantity"
    assert len(response.content) < 1000


@pytest.mark.parametrize("price", ["1.93e2", "193.", "19_3", "+193", "1e999999"])
def test_price_must_be_plain_decimal(trading_gateway, trader, price):
    response = preview(trader, order_fields(limit_price=price))

    assert response.status_code == 400
    assert body_of(response)["error"]["code"] == "invalid_price"


def test_integer_beyond_canonical_range_is_refused(trading_gateway, trader):
    fields = order_fields(client_context={"ticket": 2**60})

    response = preview(trader, fields)

    assert response.status_code == 400
    assert body_of(response)["error"]["code"] == "number_too_large"
    assert api_events(trading_gateway)[0]["outcome"] == "refused"


def test_half_bracket_submit_names_the_missing_price(trading_gateway, trader, approver):
    body = approved(trader, approver, order_fields())
    body["take_profit_price"] = "200"

    response = submit(trader, "paper", body, "key-1")

    assert response.status_code == 400
    assert body_of(response)["error"]["code"] == "missing_field"
    assert "stop_loss_price" in body_of(response)["error"]["message"]
