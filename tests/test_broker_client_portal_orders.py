"""ClientPortalBackend order methods against respx mocks of the order endpoints.

Responses come from tests/fixtures/cpapi. The base URL uses the reserved
``.invalid`` domain and respx rejects any request without a route, so no test
can reach a real gateway.
"""

import json
import logging
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import respx

from ibkr_gateway.broker.client_portal import ClientPortalBackend
from ibkr_gateway.broker.config import BrokerSettings
from ibkr_gateway.broker.errors import (
    BrokerLoginRequired,
    BrokerOrderNotFound,
    BrokerOrderRejected,
    BrokerPromptRefused,
    BrokerReplyExpired,
    BrokerResponseInvalid,
    BrokerTimeout,
    BrokerUnavailable,
    DuplicateClientOrderId,
    InvalidBrokerRequest,
)

FIXTURES = Path(__file__).parent / "fixtures" / "cpapi"
BASE_URL = "https://gateway.invalid/v1/api"
ACCOUNT = "DU1234567"
SUBMIT_PATH = f"/iserver/account/{ACCOUNT}/orders"
ORDER_PATH = f"/iserver/account/{ACCOUNT}/order/1234567890"
# Reply ids of the question fixtures.
FIRST_REPLY = "/iserver/reply/07a13a5a-4a48-44a5-bb25-5ab37b79186c"
CHAIN_REPLY = "/iserver/reply/9f3d2c1b-6a5e-4f70-8b19-2d4c6e8a0b17"
MULTI_REPLY = "/iserver/reply/5b1e0c3a-8d2f-4a67-9e41-3c7b2a9f0d58"
MODIFY_REPLY = "/iserver/reply/a12b34c5-d678-9e01-2f34-567a890b12cd"


def fixture_bytes(name):
    return (FIXTURES / f"{name}.json").read_bytes()


def fixture_json(name):
    return json.loads(fixture_bytes(name), parse_float=Decimal)


def json_response(name, status=200):
    return httpx.Response(
        status,
        content=fixture_bytes(name),
        headers={"Content-Type": "application/json"},
    )


def request_json(route, index=-1):
    """Return the JSON body of a call to ``route``, with fractions as Decimal."""
    return json.loads(route.calls[index].request.content, parse_float=Decimal)


def assert_no_floats(value):
    if isinstance(value, dict):
        for item in value.values():
            assert_no_floats(item)
    elif isinstance(value, list):
        for item in value:
            assert_no_floats(item)
    else:
        assert not isinstance(value, float), value


def ticket(**overrides):
    values = {
        "coid": "DEMO-AAPL-BUY-0001",
        "conid": 265598,
        "side": "BUY",
        "order_type": "LMT",
        "quantity": "5",
        "price": "150.00",
        "tif": "DAY",
        "parent_coid": None,
    }
    values.update(overrides)
    return values


def bracket_tickets():
    parent = "DEMO-AAPL-BRKT-0001"
    common = {"conid": 265598, "quantity": "50", "tif": "GTC"}
    return [
        ticket(coid=parent, side="BUY", price="150.0", **common),
        ticket(
            coid=f"{parent}-tp",
            side="SELL",
            price="160.0",
            parent_coid=parent,
            **common,
        ),
        ticket(
            coid=f"{parent}-sl",
            side="SELL",
            order_type="STP",
            price="145.0",
            parent_coid=parent,
            **common,
        ),
    ]


class FakeClock:
    """A monotonic clock that advances only when ``sleep`` is called."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.fixture
def router():
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mocked:
        yield mocked


def make_backend(**overrides):
    values = {
        "backend": "client_portal",
        "base_url": BASE_URL,
        "max_requests_per_second": 10.0,
        "timeout_seconds": 2.0,
        "confirm_message_ids": ("o163", "o354", "o10331"),
    }
    values.update(overrides)
    clock = FakeClock()
    return ClientPortalBackend(BrokerSettings(**values), clock=clock, sleep=clock.sleep)


@pytest.fixture
def backend():
    with make_backend() as instance:
        yield instance


# Submit: placed, questions and prompts


def test_submit_placed_directly(router, backend):
    route = router.post(SUBMIT_PATH).mock(
        return_value=json_response("orders_submit_placed")
    )

    result = backend.submit_orders(ACCOUNT, [ticket()])

    assert route.call_count == 1
    request = route.calls.last.request
    assert request.headers["Content-Type"] == "application/json"
    assert request_json(route) == {
        "orders": [
            {
                "acctId": ACCOUNT,
                "conid": 265598,
                "cOID": "DEMO-AAPL-BUY-0001",
                "orderType": "LMT",
                "side": "BUY",
                "price": 150,
                "quantity": 5,
                "tif": "DAY",
            }
        ]
    }
    assert result == {
        "orders": [
            {
                "coid": "DEMO-AAPL-BUY-0001",
                "broker_order_id": "1234567890",
                "status": "Submitted",
            }
        ],
        "confirmed_prompts": [],
    }


def test_submit_market_order_has_no_price(router, backend):
    route = router.post(SUBMIT_PATH).mock(
        return_value=json_response("orders_submit_placed")
    )

    backend.submit_orders(ACCOUNT, [ticket(order_type="MKT", price=None)])

    (order,) = request_json(route)["orders"]
    assert "price" not in order
    assert order["orderType"] == "MKT"


def test_allowed_prompt_confirmed_once(router, backend):
    router.post(SUBMIT_PATH).mock(
        return_value=json_response("orders_submit_reply_question")
    )
    reply = router.post(FIRST_REPLY).mock(return_value=json_response("reply_placed"))

    result = backend.submit_orders(ACCOUNT, [ticket()])

    assert reply.call_count == 1
    assert reply.calls.last.request.content == b'{"confirmed":true}'
    assert result["orders"][0]["broker_order_id"] == "1234567890"
    assert result["orders"][0]["status"] == "Submitted"
    (prompt,) = result["confirmed_prompts"]
    assert prompt["message_id"] == "o163"
    assert "Percentage constraint of 3%" in prompt["text"]


def test_unlisted_prompt_not_confirmed(router):
    router.post(SUBMIT_PATH).mock(
        return_value=json_response("orders_submit_reply_question")
    )
    reply = router.post(url__regex=r"/iserver/reply/").mock(
        return_value=json_response("reply_placed")
    )

    with make_backend(confirm_message_ids=("o354",)) as backend:
        with pytest.raises(BrokerPromptRefused) as caught:
            backend.submit_orders(ACCOUNT, [ticket()])

    assert reply.call_count == 0
    error = caught.value
    assert error.code == "broker_prompt_refused"
    assert error.status == 422
    assert "o163" in error.message
    assert "confirm_message_ids" in error.message
    assert "Percentage constraint" not in error.message
    (prompt,) = error.prompts
    assert prompt["message_id"] == "o163"
    assert "Percentage constraint of 3%" in prompt["text"]


def test_default_settings_confirm_nothing(router):
    router.post(SUBMIT_PATH).mock(
        return_value=json_response("orders_submit_reply_question")
    )
    reply = router.post(url__regex=r"/iserver/reply/").mock(
        return_value=json_response("reply_placed")
    )

    with make_backend(confirm_message_ids=()) as backend:
        with pytest.raises(BrokerPromptRefused):
            backend.submit_orders(ACCOUNT, [ticket()])

    assert reply.call_count == 0


def test_question_without_message_ids_refused(router, backend):
    question = [{"id": "07a13a5a-4a48-44a5-bb25-5ab37b79186c", "message": ["Sure?"]}]
    router.post(SUBMIT_PATH).mock(return_value=httpx.Response(200, json=question))
    reply = router.post(url__regex=r"/iserver/reply/").mock(
        return_value=json_response("reply_placed")
    )

    with pytest.raises(BrokerPromptRefused) as caught:
        backend.submit_orders(ACCOUNT, [ticket()])

    assert reply.call_count == 0
    assert caught.value.prompts == [{"message_id": None, "text": "Sure?"}]
    assert "none given" in caught.value.message


def test_question_with_invalid_reply_id_refused(router, backend):
    question = [{"id": "../orders", "message": ["Sure?"], "messageIds": ["o163"]}]
    router.post(SUBMIT_PATH).mock(return_value=httpx.Response(200, json=question))
    reply = router.post(url__regex=r"/iserver/").mock(
        return_value=json_response("reply_placed")
    )

    with pytest.raises(BrokerPromptRefused) as caught:
        backend.submit_orders(ACCOUNT, [ticket()])

    assert reply.call_count == 0
    assert "reply id" in caught.value.message
    assert caught.value.prompts == [{"message_id": "o163", "text": "Sure?"}]


def test_two_question_chain_confirmed(router, backend):
    router.post(SUBMIT_PATH).mock(
        return_value=json_response("orders_submit_reply_question")
    )
    first = router.post(FIRST_REPLY).mock(
        return_value=json_response("reply_question_chain")
    )
    second = router.post(CHAIN_REPLY).mock(return_value=json_response("reply_placed"))

    result = backend.submit_orders(ACCOUNT, [ticket()])

    assert first.call_count == 1
    assert second.call_count == 1
    assert second.calls.last.request.content == b'{"confirmed":true}'
    ids = [prompt["message_id"] for prompt in result["confirmed_prompts"]]
    assert ids == ["o163", "o354"]
    assert result["orders"][0]["broker_order_id"] == "1234567890"


def test_more_questions_than_rounds_refused(router):
    router.post(SUBMIT_PATH).mock(
        return_value=json_response("orders_submit_reply_question")
    )
    first = router.post(FIRST_REPLY).mock(
        return_value=json_response("reply_question_chain")
    )
    second = router.post(CHAIN_REPLY).mock(return_value=json_response("reply_placed"))

    with make_backend(max_reply_rounds=1) as backend:
        with pytest.raises(BrokerPromptRefused) as caught:
            backend.submit_orders(ACCOUNT, [ticket()])

    assert first.call_count == 1
    assert second.call_count == 0
    assert "max_reply_rounds" in caught.value.message
    ids = [prompt["message_id"] for prompt in caught.value.prompts]
    assert ids == ["o163", "o354"]


def test_multi_message_question_needs_every_id(router):
    router.post(SUBMIT_PATH).mock(
        return_value=json_response("orders_submit_reply_question_multi")
    )
    reply = router.post(MULTI_REPLY).mock(return_value=json_response("reply_placed"))

    with make_backend(confirm_message_ids=("o354",)) as backend:
        with pytest.raises(BrokerPromptRefused) as caught:
            backend.submit_orders(ACCOUNT, [ticket()])

    assert reply.call_count == 0
    assert "o383" in caught.value.message
    assert [p["message_id"] for p in caught.value.prompts] == ["o354", "o383"]
    assert "Size Limit of 500" in caught.value.prompts[1]["text"]


def test_multi_message_question_confirmed(router):
    router.post(SUBMIT_PATH).mock(
        return_value=json_response("orders_submit_reply_question_multi")
    )
    reply = router.post(MULTI_REPLY).mock(return_value=json_response("reply_placed"))

    with make_backend(confirm_message_ids=("o354", "o383")) as backend:
        result = backend.submit_orders(ACCOUNT, [ticket()])

    assert reply.call_count == 1
    ids = [prompt["message_id"] for prompt in result["confirmed_prompts"]]
    assert ids == ["o354", "o383"]


@pytest.mark.parametrize(
    "response",
    [
        json_response("reply_error_not_found_400", status=400),
        httpx.Response(503),
    ],
    ids=["400-not-found", "503"],
)
def test_reply_expired(router, backend, response):
    submit = router.post(SUBMIT_PATH).mock(
        return_value=json_response("orders_submit_reply_question")
    )
    reply = router.post(FIRST_REPLY).mock(return_value=response)

    with pytest.raises(BrokerReplyExpired) as caught:
        backend.submit_orders(ACCOUNT, [ticket()])

    assert caught.value.code == "broker_reply_expired"
    assert submit.call_count == 1
    assert reply.call_count == 1


def test_reply_server_error_unavailable(router, backend):
    router.post(SUBMIT_PATH).mock(
        return_value=json_response("orders_submit_reply_question")
    )
    reply = router.post(FIRST_REPLY).mock(return_value=httpx.Response(500))

    # Unlike a 503, a 500 does not say the question expired, so the outcome
    # stays unknown.
    with pytest.raises(BrokerUnavailable):
        backend.submit_orders(ACCOUNT, [ticket()])

    assert reply.call_count == 1


def test_submit_503_unavailable_not_expired(router, backend):
    router.post(SUBMIT_PATH).mock(return_value=httpx.Response(503))

    with pytest.raises(BrokerUnavailable) as caught:
        backend.submit_orders(ACCOUNT, [ticket()])

    assert caught.value.status == 502


# Submit: errors


@pytest.mark.parametrize("status", [200, 400])
def test_duplicate_coid(router, backend, status):
    router.post(SUBMIT_PATH).mock(
        return_value=json_response("orders_submit_error_duplicate_coid", status)
    )

    with pytest.raises(DuplicateClientOrderId) as caught:
        backend.submit_orders(ACCOUNT, [ticket()])

    assert caught.value.code == "duplicate_coid"
    assert caught.value.status == 409
    assert caught.value.coid == "DEMO-AAPL-BUY-0001"


def test_duplicate_coid_of_bracket_child(router, backend):
    text = "Order couldn't be submitted: Local order ID=DEMO-AAPL-BRKT-0001-sl is"
    router.post(SUBMIT_PATH).mock(
        return_value=httpx.Response(200, json={"error": text + " already registered."})
    )

    with pytest.raises(DuplicateClientOrderId) as caught:
        backend.submit_orders(ACCOUNT, bracket_tickets())

    assert caught.value.coid == "DEMO-AAPL-BRKT-0001-sl"


@pytest.mark.parametrize("status", [200, 400])
def test_reject_object(router, backend, status, caplog):
    router.post(SUBMIT_PATH).mock(
        return_value=json_response("orders_submit_error_reject", status)
    )

    with caplog.at_level(logging.WARNING, logger="ibkr_gateway.broker"):
        with pytest.raises(BrokerOrderRejected) as caught:
            backend.submit_orders(ACCOUNT, [ticket()])

    error = caught.value
    assert error.code == "broker_order_rejected"
    assert error.status == 422
    assert error.detail.startswith("We cannot accept an order at the limit price")
    assert len(error.detail) == 200
    assert "limit price" not in error.message
    assert "broker_order_rejected" in caplog.text
    assert ACCOUNT not in caplog.text
    assert "limit price" not in caplog.text


def test_reject_after_confirmed_question(router, backend):
    router.post(SUBMIT_PATH).mock(
        return_value=json_response("orders_submit_reply_question")
    )
    reply = router.post(FIRST_REPLY).mock(
        return_value=json_response("orders_submit_error_reject")
    )

    with pytest.raises(BrokerOrderRejected) as caught:
        backend.submit_orders(ACCOUNT, [ticket()])

    assert reply.call_count == 1
    assert "after the gateway confirmed" in caught.value.message
    assert caught.value.detail.startswith("We cannot accept")


def test_inactive_status_returned_as_is(router, backend):
    router.post(SUBMIT_PATH).mock(
        return_value=httpx.Response(
            200, json=[{"order_id": "1234567895", "order_status": "Inactive"}]
        )
    )

    result = backend.submit_orders(ACCOUNT, [ticket()])

    assert result["orders"][0]["status"] == "Inactive"


def test_placed_response_without_status_invalid(router, backend):
    router.post(SUBMIT_PATH).mock(
        return_value=httpx.Response(200, json=[{"order_id": "1234567890"}])
    )

    with pytest.raises(BrokerResponseInvalid) as caught:
        backend.submit_orders(ACCOUNT, [ticket()])

    assert "look the order up" in caught.value.message


def test_submit_timeout_sent_once(router, backend):
    route = router.post(SUBMIT_PATH).mock(side_effect=httpx.ReadTimeout("timed out"))

    with pytest.raises(BrokerTimeout) as caught:
        backend.submit_orders(ACCOUNT, [ticket()])

    assert caught.value.code == "broker_timeout"
    assert route.call_count == 1


def test_submit_connect_error_sent_once(router, backend):
    route = router.post(SUBMIT_PATH).mock(
        side_effect=httpx.ConnectError("connection refused")
    )

    with pytest.raises(BrokerUnavailable):
        backend.submit_orders(ACCOUNT, [ticket()])

    assert route.call_count == 1


def test_submit_401_requires_login(router, backend):
    route = router.post(SUBMIT_PATH).mock(return_value=httpx.Response(401))

    with pytest.raises(BrokerLoginRequired):
        backend.submit_orders(ACCOUNT, [ticket()])

    assert route.call_count == 1


def test_submit_no_bridge_requires_login(router, backend):
    router.post(SUBMIT_PATH).mock(
        return_value=json_response("iserver_no_bridge_400", status=400)
    )

    with pytest.raises(BrokerLoginRequired):
        backend.submit_orders(ACCOUNT, [ticket()])


# Brackets and exact numbers


def test_bracket_request_body(router, backend):
    route = router.post(SUBMIT_PATH).mock(
        return_value=json_response("orders_submit_bracket_placed")
    )

    backend.submit_orders(ACCOUNT, bracket_tickets())

    expected = fixture_json("orders_submit_bracket_request")
    # The stored request gives children only a parentId. The backend also
    # sends each child's own cOID, so live orders report it as order_ref.
    expected["orders"][1]["cOID"] = "DEMO-AAPL-BRKT-0001-tp"
    expected["orders"][2]["cOID"] = "DEMO-AAPL-BRKT-0001-sl"
    assert request_json(route) == expected
    parent, take_profit, stop_loss = request_json(route)["orders"]
    assert "parentId" not in parent
    assert take_profit["parentId"] == parent["cOID"]
    assert stop_loss["parentId"] == parent["cOID"]


def test_bracket_response_in_ticket_order(router, backend):
    router.post(SUBMIT_PATH).mock(
        return_value=json_response("orders_submit_bracket_placed")
    )

    result = backend.submit_orders(ACCOUNT, bracket_tickets())

    assert result["orders"] == [
        {
            "coid": "DEMO-AAPL-BRKT-0001",
            "broker_order_id": "1234567901",
            "status": "Submitted",
        },
        {
            "coid": "DEMO-AAPL-BRKT-0001-tp",
            "broker_order_id": "1234567902",
            "status": "PreSubmitted",
        },
        {
            "coid": "DEMO-AAPL-BRKT-0001-sl",
            "broker_order_id": "1234567903",
            "status": "PreSubmitted",
        },
    ]


def test_bracket_response_count_mismatch_invalid(router, backend):
    router.post(SUBMIT_PATH).mock(return_value=json_response("orders_submit_placed"))

    with pytest.raises(BrokerResponseInvalid) as caught:
        backend.submit_orders(ACCOUNT, bracket_tickets())

    assert "1 orders for 3 tickets" in caught.value.message


def test_prices_sent_as_exact_literals(router, backend):
    route = router.post(SUBMIT_PATH).mock(
        return_value=json_response("orders_submit_placed")
    )

    backend.submit_orders(ACCOUNT, [ticket(price="150.25", quantity="0.0001")])

    raw = route.calls.last.request.content.decode()
    assert '"price":150.25,' in raw
    assert '"quantity":0.0001,' in raw
    assert "150.2500" not in raw
    assert "e-" not in raw.lower()


def test_long_decimal_keeps_every_digit(router, backend):
    route = router.post(SUBMIT_PATH).mock(
        return_value=json_response("orders_submit_placed")
    )

    # A float keeps about 17 significant digits, so it would lose the last one.
    backend.submit_orders(ACCOUNT, [ticket(price="123456789012.0000000003")])

    raw = route.calls.last.request.content.decode()
    assert '"price":123456789012.0000000003,' in raw


# Ticket validation


@pytest.mark.parametrize(
    "overrides",
    [
        {"price": 150.25},
        {"price": "1e2"},
        {"price": "-1"},
        {"price": "0"},
        {"price": None},
        {"quantity": "5.5.5"},
        {"quantity": 5},
        {"order_type": "MKT", "price": "150"},
        {"order_type": "STP_LMT"},
        {"side": "buy"},
        {"tif": "IOC"},
        {"coid": ""},
        {"coid": "a b"},
        {"coid": "x" * 65},
        {"conid": 0},
        {"parent_coid": "OTHER-0001"},
        {"outside_rth": True},
    ],
)
def test_invalid_ticket_sends_nothing(router, backend, overrides):
    with pytest.raises(InvalidBrokerRequest) as caught:
        backend.submit_orders(ACCOUNT, [ticket(**overrides)])

    assert caught.value.code == "invalid_broker_request"
    assert router.calls.call_count == 0


@pytest.mark.parametrize(
    "tickets",
    [
        [],
        ticket(),
        [ticket(), ticket(coid="B-1", parent_coid="DEMO-AAPL-BUY-0001")] * 2,
        [ticket(), ticket(parent_coid="DEMO-AAPL-BUY-0001")],
        [ticket(), ticket(coid="B-1", parent_coid="B-2")],
        [ticket(), ticket(coid="B-1")],
    ],
    ids=["empty", "not-a-list", "too-many", "repeated-coid", "wrong-parent", "no-link"],
)
def test_invalid_ticket_list_sends_nothing(router, backend, tickets):
    with pytest.raises(InvalidBrokerRequest):
        backend.submit_orders(ACCOUNT, tickets)

    assert router.calls.call_count == 0


def test_invalid_account_sends_nothing(router, backend):
    with pytest.raises(InvalidBrokerRequest):
        backend.submit_orders("DU1234567/../x", [ticket()])

    assert router.calls.call_count == 0


@pytest.mark.parametrize(
    "order_id", ["", "abc", "../1", "1/2", "12 3", "0", "-1", 0, -5, True, 1.5, None]
)
def test_invalid_order_id_sends_nothing(router, backend, order_id):
    with pytest.raises(InvalidBrokerRequest):
        backend.cancel_order(ACCOUNT, order_id)
    with pytest.raises(InvalidBrokerRequest):
        backend.modify_order(ACCOUNT, order_id, ticket())
    with pytest.raises(InvalidBrokerRequest):
        backend.order_status(ACCOUNT, order_id)

    assert router.calls.call_count == 0


# Modify


def test_modify_with_prompt(router, backend):
    modify = router.post(ORDER_PATH).mock(
        return_value=json_response("order_modify_reply_question")
    )
    reply = router.post(MODIFY_REPLY).mock(
        return_value=json_response("order_modify_placed")
    )

    result = backend.modify_order(ACCOUNT, 1234567890, ticket(price="149.5", coid=None))

    assert request_json(modify) == {
        "acctId": ACCOUNT,
        "conid": 265598,
        "orderType": "LMT",
        "side": "BUY",
        "price": Decimal("149.5"),
        "quantity": 5,
        "tif": "DAY",
    }
    assert reply.call_count == 1
    assert reply.calls.last.request.content == b'{"confirmed":true}'
    assert result["broker_order_id"] == "1234567890"
    assert result["status"] == "Submitted"
    assert [p["message_id"] for p in result["confirmed_prompts"]] == ["o10331"]


def test_modify_prompt_off_list_refused(router):
    router.post(ORDER_PATH).mock(
        return_value=json_response("order_modify_reply_question")
    )
    reply = router.post(MODIFY_REPLY).mock(
        return_value=json_response("order_modify_placed")
    )

    with make_backend(confirm_message_ids=("o163",)) as backend:
        with pytest.raises(BrokerPromptRefused):
            backend.modify_order(ACCOUNT, "1234567890", ticket())

    assert reply.call_count == 0


@pytest.mark.parametrize("status", [200, 400])
def test_modify_unknown_order(router, backend, status):
    router.post(ORDER_PATH).mock(
        return_value=httpx.Response(
            status, json={"error": "OrderID 1234567890 doesn't exist"}
        )
    )

    with pytest.raises(BrokerOrderNotFound) as caught:
        backend.modify_order(ACCOUNT, "1234567890", ticket())

    assert caught.value.status == 404


def test_modify_timeout_sent_once(router, backend):
    route = router.post(ORDER_PATH).mock(side_effect=httpx.ReadTimeout("timed out"))

    with pytest.raises(BrokerTimeout):
        backend.modify_order(ACCOUNT, "1234567890", ticket())

    assert route.call_count == 1


# Cancel


def test_cancel_submitted_pending(router, backend):
    route = router.delete(ORDER_PATH).mock(return_value=json_response("order_cancel"))

    result = backend.cancel_order(ACCOUNT, "1234567890")

    assert route.call_count == 1
    assert result == {"broker_order_id": "1234567890", "status": "PendingCancel"}


def test_cancel_immediate_cancelled(router, backend):
    router.delete(ORDER_PATH).mock(return_value=json_response("order_cancel_immediate"))

    result = backend.cancel_order(ACCOUNT, 1234567890)

    assert result == {"broker_order_id": "1234567890", "status": "Cancelled"}


@pytest.mark.parametrize("status", [200, 400, 404])
def test_cancel_unknown_order(router, backend, status):
    route = router.delete(f"/iserver/account/{ACCOUNT}/order/1234567899").mock(
        return_value=json_response("order_cancel_error", status)
    )

    with pytest.raises(BrokerOrderNotFound):
        backend.cancel_order(ACCOUNT, "1234567899")

    assert route.call_count == 1


def test_cancel_other_error_rejected(router, backend):
    router.delete(ORDER_PATH).mock(
        return_value=httpx.Response(
            400, json={"error": "Order 1234567890 is already filled"}
        )
    )

    with pytest.raises(BrokerOrderRejected) as caught:
        backend.cancel_order(ACCOUNT, "1234567890")

    assert caught.value.detail == "Order 1234567890 is already filled"


def test_cancel_timeout_sent_once(router, backend):
    route = router.delete(ORDER_PATH).mock(side_effect=httpx.ReadTimeout("timed out"))

    with pytest.raises(BrokerTimeout):
        backend.cancel_order(ACCOUNT, "1234567890")

    assert route.call_count == 1


# Order status


@pytest.mark.parametrize(
    ("name", "status", "quantity", "filled", "remaining", "average"),
    [
        ("order_status_submitted", "Submitted", "5", "0", "5", None),
        ("order_status_partially_filled", "Submitted", "5", "2", "3", "149.98"),
        ("order_status_inactive", "Inactive", "5", "0", "5", None),
        ("order_status_cancelled", "Cancelled", "5", "0", "0", None),
    ],
)
def test_order_status_fixtures(
    router, backend, name, status, quantity, filled, remaining, average
):
    data = fixture_json(name)
    order_id = str(data["order_id"])
    router.get(f"/iserver/account/order/status/{order_id}").mock(
        return_value=json_response(name)
    )

    state = backend.order_status(ACCOUNT, order_id)

    assert state["broker_order_id"] == order_id
    assert state["account_id"] == ACCOUNT
    assert state["status"] == status
    assert state["quantity"] == quantity
    assert state["filled_quantity"] == filled
    assert state["remaining_quantity"] == remaining
    assert state["average_price"] == average
    assert state["side"] == "BUY"
    assert state["order_type"] == "LMT"
    assert state["price"] == "150"
    assert state["conid"] == 265598
    assert state["symbol"] == "AAPL"
    assert state["coid"] is None
    assert state["why_held"] is None
    assert state["parent_broker_order_id"] is None
    assert_no_floats(state)


def test_order_status_filled(router, backend):
    router.get("/iserver/account/order/status/1799796559").mock(
        return_value=json_response("order_status_filled")
    )

    state = backend.order_status("U7654321", "1799796559")

    assert state == {
        "broker_order_id": "1799796559",
        "account_id": "U7654321",
        "coid": None,
        "conid": 265598,
        "symbol": "AAPL",
        "side": "SELL",
        "order_type": "MKT",
        "quantity": "5",
        "filled_quantity": "5",
        "remaining_quantity": "0",
        "average_price": "192.26",
        "price": None,
        "status": "Filled",
        "why_held": None,
        "parent_broker_order_id": None,
    }


def test_order_status_reads_coid_and_why_held(router, backend):
    data = fixture_json("order_status_inactive")
    data["order_ref"] = "DEMO-AAPL-BUY-0005"
    data["whyHeld"] = "locate"
    router.get("/iserver/account/order/status/1234567895").mock(
        return_value=httpx.Response(200, content=json.dumps(data, default=str))
    )

    state = backend.order_status(ACCOUNT, "1234567895")

    assert state["coid"] == "DEMO-AAPL-BUY-0005"
    assert state["why_held"] == "locate"


def test_order_status_other_account_not_found(router, backend):
    router.get("/iserver/account/order/status/1799796559").mock(
        return_value=json_response("order_status_filled")
    )

    # The filled fixture belongs to U7654321.
    with pytest.raises(BrokerOrderNotFound):
        backend.order_status(ACCOUNT, "1799796559")


@pytest.mark.parametrize("status", [200, 400])
def test_order_status_unknown_order(router, backend, status):
    router.get("/iserver/account/order/status/1234567899").mock(
        return_value=json_response("order_cancel_error", status)
    )

    with pytest.raises(BrokerOrderNotFound):
        backend.order_status(ACCOUNT, "1234567899")


# Live orders


def test_live_orders_full(router, backend):
    router.get("/iserver/account/orders").mock(
        return_value=json_response("orders_live")
    )

    orders = backend.live_orders()

    assert [order["broker_order_id"] for order in orders] == [
        "1234567890",
        "1210386759",
        "1234568790",
    ]
    assert orders[0] == {
        "broker_order_id": "1234567890",
        "account_id": ACCOUNT,
        "coid": "DEMO-AAPL-BUY-0001",
        "conid": 265598,
        "symbol": "AAPL",
        "side": "BUY",
        "order_type": "LMT",
        "quantity": "5",
        "filled_quantity": "0",
        "remaining_quantity": "5",
        "average_price": None,
        "price": "150",
        "status": "Submitted",
        "why_held": None,
        "parent_broker_order_id": None,
    }
    filled = orders[2]
    assert filled["status"] == "Filled"
    assert filled["side"] == "SELL"
    assert filled["order_type"] == "MKT"
    assert filled["filled_quantity"] == "5"
    assert filled["remaining_quantity"] == "0"
    assert filled["average_price"] == "192.26"
    assert filled["price"] is None
    assert_no_floats(orders)


def test_live_orders_empty(router, backend):
    router.get("/iserver/account/orders").mock(
        return_value=json_response("orders_live_empty")
    )

    assert backend.live_orders() == []
    assert backend.live_orders(ACCOUNT) == []


def test_live_orders_bare_list(router, backend):
    router.get("/iserver/account/orders").mock(
        return_value=httpx.Response(200, json=[])
    )

    assert backend.live_orders() == []


def test_live_orders_filtered_by_account(router, backend):
    data = fixture_json("orders_live")
    data["orders"][1]["acct"] = "U7654321"
    data["orders"][1]["account"] = "U7654321"
    del data["orders"][2]["acct"]
    del data["orders"][2]["account"]
    router.get("/iserver/account/orders").mock(
        return_value=httpx.Response(200, content=json.dumps(data, default=str))
    )

    own = backend.live_orders(ACCOUNT)
    other = backend.live_orders("U7654321")
    every = backend.live_orders()

    assert [order["broker_order_id"] for order in own] == ["1234567890"]
    assert [order["broker_order_id"] for order in other] == ["1210386759"]
    assert len(every) == 3


def test_find_order_by_coid(router, backend):
    router.get("/iserver/account/orders").mock(
        return_value=json_response("orders_live")
    )

    found = backend.find_order_by_coid(ACCOUNT, "DEMO-AAPL-BUY-0001")
    missing = backend.find_order_by_coid(ACCOUNT, "DEMO-AAPL-BUY-0002")

    assert found["broker_order_id"] == "1234567890"
    assert missing is None


def test_live_orders_invalid_account_sends_nothing(router, backend):
    with pytest.raises(InvalidBrokerRequest):
        backend.live_orders("du1234567")

    assert router.calls.call_count == 0


# WhatIf


def test_whatif_parsed(router, backend):
    route = router.post(f"/iserver/account/{ACCOUNT}/orders/whatif").mock(
        return_value=json_response("orders_whatif")
    )

    result = backend.whatif(ACCOUNT, ticket(quantity="10"))

    (order,) = request_json(route)["orders"]
    assert "cOID" not in order
    assert order["quantity"] == 10
    assert result["commission"] == "1"
    assert result["initial_margin_change"] == "652"
    assert result["maintenance_margin_change"] == "592"
    assert result["equity_change"] == "-1"
    assert result["warning"].startswith("21/You are trying to submit an order")
    assert result["error"] is None
    assert_no_floats(result)


def test_whatif_thousands_and_fraction(router, backend):
    data = fixture_json("orders_whatif")
    data["amount"]["commission"] = "1,234.50 USD (10 Shares)"
    data["initial"]["change"] = "-1,000"
    router.post(f"/iserver/account/{ACCOUNT}/orders/whatif").mock(
        return_value=httpx.Response(200, content=json.dumps(data, default=str))
    )

    result = backend.whatif(ACCOUNT, ticket())

    assert result["commission"] == "1234.5"
    assert result["initial_margin_change"] == "-1000"


def test_whatif_unreadable_amount_invalid(router, backend):
    data = fixture_json("orders_whatif")
    data["amount"]["commission"] = "about one dollar"
    router.post(f"/iserver/account/{ACCOUNT}/orders/whatif").mock(
        return_value=httpx.Response(200, content=json.dumps(data, default=str))
    )

    with pytest.raises(BrokerResponseInvalid) as caught:
        backend.whatif(ACCOUNT, ticket())

    assert "commission" in caught.value.message


def test_whatif_reject_object(router, backend):
    router.post(f"/iserver/account/{ACCOUNT}/orders/whatif").mock(
        return_value=json_response("orders_submit_error_reject")
    )

    result = backend.whatif(ACCOUNT, ticket())

    assert result["commission"] is None
    assert result["error"].startswith("We cannot accept an order")


def test_whatif_http_error_rejected(router, backend):
    router.post(f"/iserver/account/{ACCOUNT}/orders/whatif").mock(
        return_value=json_response("orders_submit_error_reject", status=400)
    )

    with pytest.raises(BrokerOrderRejected) as caught:
        backend.whatif(ACCOUNT, ticket())

    assert "whatif" in caught.value.message
    assert caught.value.detail.startswith("We cannot accept an order")
