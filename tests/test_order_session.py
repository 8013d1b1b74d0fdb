"""A whole trading session over REST against the simulated broker.

It follows the README's session with ``config/example.toml``: preview,
approval by a second person, a paper order until it fills, an operator
resuming trading, a live order that is modified and cancelled, a refused
gate and a scope denial. The audit log must then verify and tell the story
in order.
"""

import json
import sqlite3

import pytest

from ibkr_gateway import runtime_config
from orders.trading_halt import current_state
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
    PAPER_ACCOUNT,
    approved,
    approver_token,
    body_of,
    get,
    order_fields,
    post,
    submit,
    trader_token,
)

EXAMPLE = REPO_ROOT / "config" / "example.toml"


STORY = [
    ("order_preview_created", None),
    ("approval_granted", None),
    ("order_requested", None),
    ("order_completed", None),
    ("paper_order_lifecycle_changed", None),
    ("paper_order_lifecycle_changed", None),
    ("paper_order_lifecycle_changed", None),
    ("order_preview_created", None),
    ("approval_granted", None),
    ("order_refused", "trading_halted"),
    ("trading_resumed", None),
    ("order_preview_created", None),
    ("approval_granted", None),
    ("order_requested", None),
    ("order_completed", None),
    ("order_preview_created", None),
    ("approval_granted", None),
    ("order_requested", None),
    ("order_completed", None),
    ("order_requested", None),
    ("live_order_lifecycle_changed", None),
    ("order_completed", None),
    ("order_preview_refused", "price_collar"),
]


@pytest.fixture
def example_gateway(gateway_db, monkeypatch, settings):
    """The example config on a new installation, which starts halted."""
    monkeypatch.setenv("IBKR_AUDIT_HMAC_SECRET", TEST_KEY)
    monkeypatch.setenv("IBKR_AUDIT_CORRELATION_SECRET", TEST_CORRELATION_KEY)
    runtime_config.set_runtime_config(runtime_config.load_runtime_config(EXAMPLE))
    settings.IBKR_MARKET_CLOCK = "tests.orders_support.fixed_clock"
    settings.IBKR_MARKET_HOURS = "ibkr_gateway.market.always_open"
    CLOCK.reset()
    return gateway_db


def operator(db_path, *args):
    env = manage_env(
        db_path,
        IBKR_GATEWAY_CONFIG=str(EXAMPLE),
        IBKR_AUDIT_HMAC_SECRET=TEST_KEY,
        IBKR_AUDIT_CORRELATION_SECRET=TEST_CORRELATION_KEY,
        DJANGO_SECRET_KEY="test-secret-key-for-subprocesses-only",
    )
    return run_manage(*args, db_path=db_path, env=env)


def stored_events(db_path):
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT payload FROM audit_events ORDER BY seq").fetchall()
    return [json.loads(payload) for (payload,) in rows]


def run_session(db_path):
    """Run the README's session and return the responses worth checking."""
    trader = trader_token("alice")
    approver = approver_token("bob")
    answers = {}

    # A marketable paper limit: it fills in two steps as its status is read.
    paper = approved(trader, approver, order_fields(PAPER_ACCOUNT, limit_price="194"))
    placed = submit(trader, "paper", paper, "paper-1")
    answers["paper_submit"] = placed.status_code
    paper_id = body_of(placed)["orders"][0]["broker_order_id"]
    for _ in range(4):
        status = get(f"/api/v1/orders/paper/{paper_id}", trader)
    answers["paper_status"] = body_of(status)["orders"][0]["status"]

    halted = approved(trader, approver, order_fields(LIVE_ACCOUNT, limit_price="190"))
    answers["halted_submit"] = body_of(submit(trader, "live", halted, "live-0"))

    resumed = operator(db_path, "trading", "resume", "--reason", "Desk open")
    answers["resume_exit"] = resumed.returncode

    live = approved(trader, approver, order_fields(LIVE_ACCOUNT, limit_price="190"))
    placed = submit(trader, "live", live, "live-1")
    answers["live_submit"] = placed.status_code
    live_id = body_of(placed)["orders"][0]["broker_order_id"]

    changed = approved(trader, approver, order_fields(LIVE_ACCOUNT, limit_price="191"))
    modified = post(f"/api/v1/orders/live/{live_id}/modify", trader, changed, "mod-1")
    answers["modify"] = (modified.status_code, body_of(modified)["orders"][0]["price"])

    cancelled = post(
        f"/api/v1/orders/live/{live_id}/cancel",
        trader,
        {"account_id": LIVE_ACCOUNT},
        "cancel-1",
    )
    answers["cancel"] = cancelled.status_code

    outside = order_fields(LIVE_ACCOUNT, limit_price="250")
    refused = post("/api/v1/orders/preview", trader, outside)
    answers["collar"] = (refused.status_code, body_of(refused)["error"]["code"])

    reader = trader_token("carol", {"ibkr:orders:read"})
    denied = submit(reader, "live", live, "live-2")
    answers["scope"] = (denied.status_code, body_of(denied)["error"]["code"])
    return answers


@pytest.fixture
def session(example_gateway):
    assert current_state().halted
    return example_gateway, run_session(example_gateway)


def test_session_answers_each_step_as_documented(session):
    _db_path, answers = session

    assert answers == {
        "paper_submit": 201,
        "paper_status": "Filled",
        "halted_submit": answers["halted_submit"],
        "resume_exit": 0,
        "live_submit": 201,
        "modify": (200, "191"),
        "cancel": 200,
        "collar": (422, "price_collar"),
        "scope": (403, "scope_denied"),
    }
    assert answers["halted_submit"]["error"]["code"] == "trading_halted"


def test_session_leaves_a_verifiable_log(session):
    db_path, _answers = session

    result = operator(db_path, "audit", "verify", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["chain_valid"] is True


def test_session_log_tells_the_story_in_order(session):
    db_path, _answers = session
    story = [
        (event["event_type"], event["error_code"])
        for event in stored_events(db_path)
        if event["event_type"] != "api_request"
    ]

    assert story == STORY


def test_session_paper_fill_is_audited_with_quantities(session):
    db_path, _answers = session
    changes = [
        event["metadata"]
        for event in stored_events(db_path)
        if event["event_type"] == "paper_order_lifecycle_changed"
    ]

    assert [
        (c["previous_status"], c["status"], c["filled_quantity"]) for c in changes
    ] == [
        ("PreSubmitted", "Submitted", "0"),
        ("Submitted", "Submitted", "5"),
        ("Submitted", "Filled", "10"),
    ]


def test_session_scope_denial_is_audited(session):
    db_path, _answers = session
    denials = [
        event
        for event in stored_events(db_path)
        if event["event_type"] == "api_request" and event["decision"] == "deny"
    ]

    assert [event["error_code"] for event in denials] == ["scope_denied"]


def test_tail_shows_the_story(session):
    db_path, _answers = session

    result = operator(db_path, "audit", "tail", "--limit", "200", "--json")
    tail = json.loads(result.stdout)["events"]
    story = [
        (event["event_type"], event["error_code"])
        for event in reversed(tail)
        if event["event_type"] != "api_request"
    ]
    denials = [
        event["error_code"]
        for event in tail
        if event["event_type"] == "api_request" and event["decision"] == "deny"
    ]

    assert result.returncode == 0, result.stderr
    assert story[: len(STORY)] == STORY
    assert denials == ["scope_denied"]
