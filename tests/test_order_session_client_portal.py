"""A whole trading session over the REST API against the Client Portal backend.

Paper orders go to a paper gateway at 127.0.0.1:5001 and live orders to a
live gateway at 127.0.0.1:5000, as set in ``[paper_trading]`` and ``[broker]``
of the test's runtime config. respx returns a body from tests/fixtures/cpapi
for every broker request and raises for a request without a route, so no
request leaves the process. The market clock is pinned two seconds after the
snapshot's update time, so the quote is fresh. Trading starts halted, as on
a new installation, and only ``manage.py trading resume`` opens live trading.
"""

import io
import json
import sqlite3
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import respx
from django.core.management import call_command
from django.db import connections

from ibkr_gateway import runtime_config, scopes
from tests.conftest import REPO_ROOT, TEST_CORRELATION_KEY, TEST_KEY
from tests.orders_support import (
    CLOCK,
    TRADER_SCOPES,
    approved,
    approver_token,
    body_of,
    get,
    order_fields,
    post,
    submit,
    trader_token,
)

FIXTURES = Path(__file__).parent / "fixtures" / "cpapi"
LIVE_URL = "https://127.0.0.1:5000/v1/api"
PAPER_URL = "https://127.0.0.1:5001/v1/api"
# The placeholder accounts of the fixtures (see tests/fixtures/cpapi/README.md).
PAPER_ACCOUNT = "DU1234567"
LIVE_ACCOUNT = "U7654321"
# The order id of the submit, modify, cancel and status fixtures.
ORDER_ID = "1234567890"
# The reply id of the o163 question in orders_submit_reply_question.json.
REPLY_ID = "07a13a5a-4a48-44a5-bb25-5ab37b79186c"
SUBPROCESS_SECRET_KEY = "test-secret-key-for-subprocesses-only"


def fixture_json(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())


def json_response(data):
    return httpx.Response(200, json=data)


SNAPSHOT = fixture_json("marketdata_snapshot")[0]
QUOTE_TIME = datetime.fromtimestamp(SNAPSHOT["_updated"] / 1000, UTC)


def snapshot_response(last, bid, ask):
    return json_response([{**SNAPSHOT, "31": last, "84": bid, "86": ask}])


def status_response(name, account):
    """Return an order status fixture rewritten to name ORDER_ID and ``account``.

    The filled fixture describes another order, a sell on a live account, so
    its id, account and side are replaced.
    """
    data = fixture_json(name)
    data["order_id"] = int(ORDER_ID)
    data["account"] = account
    data["order_clearing_account"] = account
    data["side"] = "B"
    return json_response(data)


def request_json(route, index=-1):
    return json.loads(route.calls[index].request.content)


def toml_line(key, value):
    # The config contains only strings, booleans, integers and string lists,
    # whose JSON form is also valid TOML.
    return f"{key} = {json.dumps(value)}"


def write_config(path):
    """Write a copy of config/example.toml that sends both modes to Client Portal."""
    with open(REPO_ROOT / "config" / "example.toml", "rb") as example:
        data = tomllib.load(example)
    data["broker"] = {
        "backend": "client_portal",
        "base_url": LIVE_URL,
        "verify_tls": False,
        # The highest rate allowed, so that request pacing sleeps least.
        "max_requests_per_second": 10,
        "confirm_message_ids": ["o163"],
    }
    data["paper_trading"].update(
        backend="client_portal",
        base_url=PAPER_URL,
        allowed_accounts=[PAPER_ACCOUNT],
    )
    data["live_trading"]["allowed_accounts"] = [LIVE_ACCOUNT]

    lines = []
    for section, table in data.items():
        key_values = {
            key: value for key, value in table.items() if not isinstance(value, dict)
        }
        if key_values:
            lines.append(f"[{section}]")
            lines.extend(toml_line(key, value) for key, value in key_values.items())
        for name, subtable in table.items():
            if isinstance(subtable, dict):
                lines.append(f"[{section}.{name}]")
                lines.extend(toml_line(key, value) for key, value in subtable.items())
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def session_gateway(gateway_db, tmp_path, monkeypatch, settings):
    """Yield ``(database path, config path)`` of a gateway set up for the session.

    Both modes use Client Portal gateways, the market is always open, and
    trading is still halted.
    """
    monkeypatch.setenv("IBKR_AUDIT_HMAC_SECRET", TEST_KEY)
    monkeypatch.setenv("IBKR_AUDIT_CORRELATION_SECRET", TEST_CORRELATION_KEY)
    config_path = write_config(tmp_path / "gateway.toml")
    config = runtime_config.load_runtime_config(config_path)
    assert config.broker.backend == "client_portal"
    assert config.trading.paper.backend == "client_portal"
    runtime_config.set_runtime_config(config)
    settings.IBKR_MARKET_CLOCK = "tests.orders_support.fixed_clock"
    settings.IBKR_MARKET_HOURS = "ibkr_gateway.market.always_open"
    CLOCK.now = QUOTE_TIME + timedelta(seconds=2)
    yield gateway_db, config_path
    CLOCK.reset()


def mock_gateway(router, base_url, account):
    """Route the requests of one gateway and return the routes by name.

    Read routes return fixtures from the start. The test sets the response of
    each order route just before the request that needs it.
    """
    order_path = f"{base_url}/iserver/account/{account}/order/{ORDER_ID}"
    return {
        "contracts": router.get(f"{base_url}/iserver/secdef/search").mock(
            return_value=json_response(fixture_json("secdef_search_aapl"))
        ),
        "brokerage_accounts": router.get(f"{base_url}/iserver/accounts").mock(
            return_value=json_response(fixture_json("iserver_accounts"))
        ),
        "snapshot": router.get(f"{base_url}/iserver/marketdata/snapshot").mock(
            return_value=snapshot_response("193.18", "193.06", "193.14")
        ),
        "whatif": router.post(
            f"{base_url}/iserver/account/{account}/orders/whatif"
        ).mock(return_value=json_response(fixture_json("orders_whatif"))),
        "submit": router.post(f"{base_url}/iserver/account/{account}/orders"),
        "reply": router.post(f"{base_url}/iserver/reply/{REPLY_ID}"),
        "modify": router.post(order_path),
        "cancel": router.delete(order_path),
        "status": router.get(f"{base_url}/iserver/account/order/status/{ORDER_ID}"),
    }


def order_writes(routes):
    """Return the number of requests that place, confirm, change or cancel orders."""
    return sum(
        routes[name].call_count for name in ("submit", "reply", "modify", "cancel")
    )


def audit_events(db_path):
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT payload FROM audit_events ORDER BY seq").fetchall()
    return [json.loads(payload) for (payload,) in rows]


def test_client_portal_trading_session(session_gateway, manage):
    db_path, config_path = session_gateway
    trader = trader_token()
    approver = approver_token()

    with respx.mock(assert_all_called=False) as router:
        paper = mock_gateway(router, PAPER_URL, PAPER_ACCOUNT)
        live = mock_gateway(router, LIVE_URL, LIVE_ACCOUNT)

        # Paper: preview, approval by another person, one submit.
        paper["submit"].mock(
            return_value=json_response(fixture_json("orders_submit_placed"))
        )
        paper_fields = order_fields(PAPER_ACCOUNT, quantity="5", limit_price="193")
        paper_body = approved(trader, approver, paper_fields)
        placed = submit(trader, "paper", paper_body, "session-paper-1")

        assert placed.status_code == 201, placed.content
        (paper_order,) = body_of(placed)["orders"]
        assert paper_order["broker_order_id"] == ORDER_ID
        assert paper_order["status"] == "Submitted"
        assert paper_order["lifecycle"] == "working"
        assert paper["submit"].call_count == 1
        (sent,) = request_json(paper["submit"])["orders"]
        assert sent["acctId"] == PAPER_ACCOUNT
        assert sent["cOID"] == body_of(placed)["coid"]
        assert sent["conid"] == 265598
        assert sent["price"] == 193
        assert sent["quantity"] == 5

        # The same key returns the stored response and sends nothing.
        replayed = submit(trader, "paper", paper_body, "session-paper-1")

        assert replayed.status_code == 201, replayed.content
        assert replayed.headers["Idempotent-Replayed"] == "true"
        assert body_of(replayed) == body_of(placed)
        assert paper["submit"].call_count == 1

        # Paper: status reads until the order is filled.
        paper["status"].mock(
            side_effect=[
                status_response("order_status_submitted", PAPER_ACCOUNT),
                status_response("order_status_partially_filled", PAPER_ACCOUNT),
                status_response("order_status_filled", PAPER_ACCOUNT),
            ]
        )
        reads = []
        while len(reads) < 3:
            read = get(f"/api/v1/orders/paper/{ORDER_ID}", trader)
            assert read.status_code == 200, read.content
            (state,) = body_of(read)["orders"]
            reads.append(state)
            if state["lifecycle"] == "filled":
                break

        assert [state["status"] for state in reads] == [
            "Submitted",
            "Submitted",
            "Filled",
        ]
        assert [state["filled_quantity"] for state in reads] == ["0", "2", "5"]
        assert reads[-1]["remaining_quantity"] == "0"
        assert reads[-1]["lifecycle"] == "filled"
        assert paper["status"].call_count == 3
        assert order_writes(paper) == 1

        # Live: refused while halted, with no order request to the gateway.
        live["submit"].mock(
            return_value=json_response(fixture_json("orders_submit_reply_question"))
        )
        live["reply"].mock(return_value=json_response(fixture_json("reply_placed")))
        live_fields = order_fields(LIVE_ACCOUNT, quantity="5", limit_price="193")
        live_body = approved(trader, approver, live_fields)
        halted = submit(trader, "live", live_body, "session-live-1")

        assert halted.status_code == 409, halted.content
        assert body_of(halted)["error"]["code"] == "trading_halted"
        assert order_writes(live) == 0

        # An operator resumes trading through the command.
        output = io.StringIO()
        call_command("trading", "resume", "--reason", "session open", stdout=output)

        assert output.getvalue().strip() == "Trading is now running."

        # Live: the refusal used up neither the key nor the approval, so the same
        # request now places the order. The o163 question is confirmed once.
        placed_live = submit(trader, "live", live_body, "session-live-1")

        assert placed_live.status_code == 201, placed_live.content
        (live_order,) = body_of(placed_live)["orders"]
        assert live_order["broker_order_id"] == ORDER_ID
        assert live_order["status"] == "Submitted"
        assert live["submit"].call_count == 1
        assert request_json(live["submit"])["orders"][0]["acctId"] == LIVE_ACCOUNT
        assert live["reply"].call_count == 1
        assert live["reply"].calls.last.request.content == b'{"confirmed":true}'

        # Live: modify to a new price with a new preview and approval.
        live["modify"].mock(
            return_value=json_response(fixture_json("order_modify_placed"))
        )
        modify_fields = order_fields(LIVE_ACCOUNT, quantity="5", limit_price="194")
        modify_body = approved(trader, approver, modify_fields)
        modified = post(
            f"/api/v1/orders/live/{ORDER_ID}/modify",
            trader,
            modify_body,
            "session-live-modify-1",
        )

        assert modified.status_code == 200, modified.content
        (modified_order,) = body_of(modified)["orders"]
        assert modified_order["price"] == "194"
        assert modified_order["status"] == "Submitted"
        assert live["modify"].call_count == 1
        change = request_json(live["modify"])
        assert change["price"] == 194
        assert change["quantity"] == 5
        assert "cOID" not in change

        # Live: cancel.
        cancel_answer = fixture_json("order_cancel")
        cancel_answer["account"] = LIVE_ACCOUNT
        live["cancel"].mock(return_value=json_response(cancel_answer))
        cancelled = post(
            f"/api/v1/orders/live/{ORDER_ID}/cancel",
            trader,
            {"account_id": LIVE_ACCOUNT},
            "session-live-cancel-1",
        )

        assert cancelled.status_code == 200, cancelled.content
        (cancelled_order,) = body_of(cancelled)["orders"]
        assert cancelled_order["status"] == "PendingCancel"
        assert live["cancel"].call_count == 1
        assert order_writes(live) == 4

        # Live: the market moves 8% between approval and submit, so the
        # submit's fresh quote puts the price outside the 5% collar.
        collar_body = approved(trader, approver, live_fields)
        live["snapshot"].mock(
            return_value=snapshot_response("210.00", "209.90", "210.10")
        )
        snapshots_before = live["snapshot"].call_count
        collared = submit(trader, "live", collar_body, "session-live-2")

        assert collared.status_code == 422, collared.content
        assert body_of(collared)["error"]["code"] == "price_collar"
        assert live["snapshot"].call_count == snapshots_before + 1
        assert order_writes(live) == 4

        # A token without ibkr:orders:live:submit reaches no gateway.
        viewer = trader_token(
            owner="viewer", token_scopes=TRADER_SCOPES - {scopes.ORDERS_LIVE_SUBMIT}
        )
        broker_calls_before = len(router.calls)
        denied = submit(viewer, "live", collar_body, "session-live-3")

        assert denied.status_code == 403, denied.content
        assert body_of(denied)["error"]["code"] == "scope_denied"
        assert len(router.calls) == broker_calls_before

    connections["default"].close()
    verify = manage(
        "audit",
        "verify",
        "--json",
        IBKR_GATEWAY_CONFIG=str(config_path),
        IBKR_AUDIT_HMAC_SECRET=TEST_KEY,
        IBKR_AUDIT_CORRELATION_SECRET=TEST_CORRELATION_KEY,
        DJANGO_SECRET_KEY=SUBPROCESS_SECRET_KEY,
    )

    assert verify.returncode == 0, verify.stderr
    report = json.loads(verify.stdout)
    assert report["chain_valid"] is True
    assert report["breaks"] == 0
    assert report["key_ids"] == ["k1"]

    events = audit_events(db_path)
    workflow = [
        (event["event_type"], event["operation"])
        for event in events
        if event["event_type"] != "api_request"
    ]
    assert workflow == [
        ("order_preview_created", "orders.preview"),
        ("approval_granted", "orders.approve"),
        ("order_requested", "orders.paper.submit"),
        ("order_completed", "orders.paper.submit"),
        ("order_replayed", "orders.paper.submit"),
        ("paper_order_lifecycle_changed", "orders.paper.lifecycle"),
        ("paper_order_lifecycle_changed", "orders.paper.lifecycle"),
        ("order_preview_created", "orders.preview"),
        ("approval_granted", "orders.approve"),
        ("order_refused", "orders.live.submit"),
        ("trading_resumed", "trading.resume"),
        ("order_requested", "orders.live.submit"),
        ("order_completed", "orders.live.submit"),
        ("order_preview_created", "orders.preview"),
        ("approval_granted", "orders.approve"),
        ("order_requested", "orders.live.modify"),
        ("order_completed", "orders.live.modify"),
        ("order_requested", "orders.live.cancel"),
        ("live_order_lifecycle_changed", "orders.live.lifecycle"),
        ("order_completed", "orders.live.cancel"),
        ("order_preview_created", "orders.preview"),
        ("approval_granted", "orders.approve"),
        ("order_refused", "orders.live.submit"),
        ("audit_verification", "audit.verify"),
    ]

    def find(event_type, operation, **metadata):
        return [
            event
            for event in events
            if event["event_type"] == event_type
            and event["operation"] == operation
            and all(event["metadata"].get(k) == v for k, v in metadata.items())
        ]

    (paper_approval,) = find("approval_granted", "orders.approve", mode="paper")
    assert paper_approval["actor"] != events[0]["actor"]

    lifecycle = find("paper_order_lifecycle_changed", "orders.paper.lifecycle")
    assert [event["metadata"]["previous_status"] for event in lifecycle] == [
        "Submitted",
        "Submitted",
    ]
    assert [event["metadata"]["status"] for event in lifecycle] == [
        "Submitted",
        "Filled",
    ]
    assert [event["metadata"]["filled_quantity"] for event in lifecycle] == ["2", "5"]
    assert lifecycle[-1]["metadata"]["lifecycle"] == "filled"

    (resumed,) = find("trading_resumed", "trading.resume")
    assert resumed["actor"] == {"kind": "cli", "id": "cli:desk-operator"}
    assert resumed["metadata"]["reason"] == "session open"

    (live_completed,) = find("order_completed", "orders.live.submit")
    prompts = live_completed["metadata"]["confirmed_prompts"]
    assert [prompt["message_id"] for prompt in prompts] == ["o163"]
    assert live_completed["metadata"]["broker_order_ids"] == [ORDER_ID]

    refusals = find("order_refused", "orders.live.submit")
    assert [event["error_code"] for event in refusals] == [
        "trading_halted",
        "price_collar",
    ]
    assert refusals[-1]["decision"] == "refuse"
    assert refusals[-1]["outcome"] == "refused"

    api_requests = [event for event in events if event["event_type"] == "api_request"]
    denial = api_requests[-1]
    assert denial["operation"] == "api.orders.live.submit"
    assert denial["decision"] == "deny"
    assert denial["outcome"] == "denied"
    assert denial["error_code"] == "scope_denied"
    assert denial["scopes"]["required"] == [scopes.ORDERS_LIVE_SUBMIT]
    assert scopes.ORDERS_LIVE_SUBMIT not in denial["scopes"]["granted"]
    assert events.index(denial) > events.index(refusals[-1])
    assert [event for event in api_requests if event["decision"] == "deny"] == [denial]
