"""``manage.py orders``: the order workflows as the ``[cli]`` principal.

Most tests call the command in-process on the test's database with the
example config and the fixed market clock; exit codes are checked on the
``CommandError`` the command raises, which is what a shell would see.
"""

import json
import sqlite3
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ibkr_gateway import runtime_config
from orders.models import Approval, IdempotencyRecord
from tests.api_support import api_events
from tests.conftest import REPO_ROOT
from tests.orders_support import (
    LIVE_ACCOUNT,
    PAPER_ACCOUNT,
    approve,
    approver_token,
    body_of,
    order_fields,
    preview,
    trader_token,
)

ORDER_OPTIONS = [
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
]


def orders(*args):
    out = StringIO()
    call_command("orders", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def refused(*args):
    with pytest.raises(CommandError) as caught:
        call_command("orders", *args, stdout=StringIO())
    return caught.value


def events_of(db_path, event_type):
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT payload FROM audit_events WHERE event_type = ? ORDER BY seq",
            (event_type,),
        ).fetchall()
    return [json.loads(payload) for (payload,) in rows]


def test_preview_prints_the_preview(trading_gateway):
    result = orders("preview", *ORDER_OPTIONS)

    assert result["mode"] == "paper"
    assert result["order"]["limit_price"] == "193"


def test_preview_is_audited_as_the_cli_principal(trading_gateway):
    orders("preview", *ORDER_OPTIONS)

    (event,) = events_of(trading_gateway, "order_preview_created")
    assert event["actor"] == {"kind": "cli", "id": "cli:desk-operator"}


def test_operator_approves_a_token_preview(trading_gateway):
    trader = trader_token("alice")
    preview_id = body_of(preview(trader, order_fields()))["preview_id"]

    result = orders("approve", preview_id, "--account", PAPER_ACCOUNT)

    assert Approval.objects.get(approval_id=result["approval_id"]).granted_by == (
        "cli:desk-operator"
    )


def test_approve_own_preview_denied(trading_gateway):
    preview_id = orders("preview", *ORDER_OPTIONS)["preview_id"]

    error = refused("approve", preview_id, "--account", PAPER_ACCOUNT)

    assert error.returncode == 5
    assert "four_eyes_required" in str(error)


def submit_options(preview_id, approval_id, key="cli-1"):
    return [
        "submit",
        "--mode",
        "paper",
        "--idempotency-key",
        key,
        "--preview-id",
        preview_id,
        "--approval-id",
        approval_id,
        *ORDER_OPTIONS,
    ]


def test_submit_places_the_order_approved_by_another_person(trading_gateway):
    preview_id = orders("preview", *ORDER_OPTIONS)["preview_id"]
    approval = approve(approver_token("bob"), preview_id, PAPER_ACCOUNT)

    result = orders(*submit_options(preview_id, body_of(approval)["approval_id"]))

    assert result["orders"][0]["status"] == "PreSubmitted"


def test_cancel_needs_no_preview(trading_gateway):
    preview_id = orders("preview", *ORDER_OPTIONS)["preview_id"]
    approval_id = body_of(approve(approver_token("bob"), preview_id, PAPER_ACCOUNT))[
        "approval_id"
    ]
    placed = orders(*submit_options(preview_id, approval_id))
    broker_order_id = placed["orders"][0]["broker_order_id"]

    result = orders(
        "cancel",
        broker_order_id,
        "--mode",
        "paper",
        "--account",
        PAPER_ACCOUNT,
        "--idempotency-key",
        "cli-cancel-1",
    )

    assert result["orders"][0]["status"] == "PendingCancel"


def test_refusal_exits_5_with_its_code(trading_gateway):
    error = refused(
        "cancel",
        "1000000999",
        "--mode",
        "live",
        "--account",
        LIVE_ACCOUNT,
        "--idempotency-key",
        "cli-cancel-2",
    )

    assert error.returncode == 5
    assert "order_not_found" in str(error)


@pytest.fixture
def preview_only_cli(trading_gateway, tmp_path):
    """The example config with a [cli] principal that may only preview."""
    example = (REPO_ROOT / "config" / "example.toml").read_text()
    start = example.index("[cli]")
    end = example.index("[risk_policies.small]")
    limited = (
        example[:start]
        + '[cli]\nprincipal = "junior"\nscopes = ["ibkr:orders:preview"]\n'
        + "operator = false\n\n"
        + example[end:]
    )
    path = tmp_path / "limited.toml"
    path.write_text(limited)
    runtime_config.set_runtime_config(runtime_config.load_runtime_config(path))
    return trading_gateway


def test_submit_without_scope_exits_4_and_is_audited(preview_only_cli):
    error = refused(
        *submit_options(
            "00000000-0000-0000-0000-000000000001",
            "00000000-0000-0000-0000-000000000002",
        )
    )

    assert error.returncode == 4
    (event,) = events_of(preview_only_cli, "scope_denied")
    assert event["scopes"]["required"] == ["ibkr:orders:paper:submit"]


def test_resolve_needs_an_operator(preview_only_cli):
    error = refused(
        "resolve", "gw-000000000000000000000000", "--as-not-placed", "--reason", "x"
    )

    assert error.returncode == 4
    assert events_of(preview_only_cli, "operator_required")


def test_unresolved_lists_nothing_on_a_clean_log(trading_gateway):
    assert orders("unresolved") == {"records": []}


def test_preview_writes_no_api_request_event(trading_gateway):
    orders("preview", *ORDER_OPTIONS)

    assert api_events(trading_gateway) == []
    assert not IdempotencyRecord.objects.exists()
