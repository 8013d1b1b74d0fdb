"""Refusals that only the broker or the preview binding can catch, over REST.

A prompt off the allow-list ends the request refused with the approval
released; an order that differs from its approved preview, or a single
order and a bracket swapped, is refused before the broker call.
"""

import json
import sqlite3

import pytest

from ibkr_gateway.broker.errors import BrokerPromptRefused
from ibkr_gateway.broker.models import SimulatedOrder
from ibkr_gateway.broker.simulated import SimulatedBackend
from orders import submit as submit_workflow
from orders.models import Approval, IdempotencyRecord
from tests.orders_support import (
    LIVE_ACCOUNT,
    approved,
    approver_token,
    body_of,
    bracket_fields,
    get,
    order_fields,
    submit,
    trader_token,
)

PROMPT = {"message_id": "o999", "text": "This order may be very unusual. Continue?"}


def events(db_path, event_type):
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT payload FROM audit_events WHERE event_type = ? ORDER BY seq",
            (event_type,),
        ).fetchall()
    return [json.loads(payload) for (payload,) in rows]


class PromptingBackend(SimulatedBackend):
    """Answers every submit with a question the gateway may not confirm."""

    def submit_orders(self, account_id, tickets):
        raise BrokerPromptRefused(prompts=[PROMPT])


@pytest.fixture
def desk(trading_gateway):
    return trader_token("alice"), approver_token("bob")


@pytest.fixture
def refused_prompt(trading_gateway, desk, monkeypatch):
    trader, approver = desk
    body = approved(trader, approver, order_fields(LIVE_ACCOUNT, limit_price="190"))
    monkeypatch.setattr(
        submit_workflow, "open_backend", lambda mode: PromptingBackend()
    )
    return body, submit(trader, "live", body, "prompt-1")


def test_unknown_prompt_ends_refused_with_422(refused_prompt):
    _body, response = refused_prompt

    assert response.status_code == 422
    assert body_of(response)["error"]["code"] == "broker_prompt_refused"


def test_unknown_prompt_places_nothing_and_releases_approval(refused_prompt):
    body, _response = refused_prompt

    assert SimulatedOrder.objects.count() == 0
    assert Approval.objects.get(approval_id=body["approval_id"]).status == "active"
    assert IdempotencyRecord.objects.get().status == "failed_after_broker"


def test_unknown_prompt_text_is_in_the_audit(trading_gateway, refused_prompt):
    (event,) = events(trading_gateway, "order_failed")

    assert event["decision"] == "refuse"
    assert event["error_code"] == "broker_prompt_refused"
    assert event["metadata"]["prompts"] == [PROMPT]


def test_quantity_above_the_approved_preview_is_refused(trading_gateway, desk):
    trader, approver = desk
    body = approved(trader, approver, order_fields(LIVE_ACCOUNT, limit_price="190"))
    body["quantity"] = "20"

    response = submit(trader, "live", body, "bigger-1")

    assert response.status_code == 422
    assert body_of(response)["error"]["code"] == "preview_mismatch"
    assert SimulatedOrder.objects.count() == 0


def test_single_approval_cannot_place_a_bracket(trading_gateway, desk):
    trader, approver = desk
    body = approved(trader, approver, order_fields(LIVE_ACCOUNT))
    body.update(take_profit_price="200", stop_loss_price="185")

    response = submit(trader, "live", body, "swap-1")

    assert response.status_code == 422
    assert body_of(response)["error"]["code"] == "preview_mismatch"


def test_bracket_approval_cannot_place_a_single_order(trading_gateway, desk):
    trader, approver = desk
    body = approved(trader, approver, bracket_fields(LIVE_ACCOUNT), bracket=True)
    del body["take_profit_price"]
    del body["stop_loss_price"]

    response = submit(trader, "live", body, "swap-2")

    assert response.status_code == 422
    assert body_of(response)["error"]["code"] == "preview_mismatch"


def test_order_list_refreshes_from_the_broker(trading_gateway, desk):
    trader, approver = desk
    for key, price in (("a", "189"), ("b", "190")):
        body = approved(trader, approver, order_fields(LIVE_ACCOUNT, limit_price=price))
        submit(trader, "live", body, key)

    response = get(f"/api/v1/orders?mode=live&account_id={LIVE_ACCOUNT}", trader)

    listed = body_of(response)["orders"]
    assert response.status_code == 200
    assert [order["price"] for order in listed] == ["190", "189"]
    assert {order["status"] for order in listed} == {"Submitted"}
    assert len(events(trading_gateway, "live_order_lifecycle_changed")) == 2
