"""Invalid order requests: 4xx, a stable code, a fix, an audit event, no broker call.

Every test runs the REST API against a real SQLite database with the
example config (``trading_gateway``). The ``broker_calls`` fixture wraps
``open_backend`` in the submit, cancel and preview workflows, so each call
of an order method of the simulated broker is recorded. Reads such as
``search_contracts`` and ``market_snapshot`` are not counted, because the
risk checks make them before deciding.
"""

import json
import sqlite3

import pytest

from ibkr_gateway import runtime_config
from orders import backends
from orders.models import Approval, IdempotencyRecord
from tests.api_support import api_events
from tests.conftest import REPO_ROOT
from tests.orders_support import (
    CLOCK,
    LIVE_ACCOUNT,
    PAPER_ACCOUNT,
    approve,
    approved,
    approver_token,
    body_of,
    order_fields,
    post,
    preview,
    submit,
    trader_token,
)

ORDER_METHODS = ("submit_orders", "modify_order", "cancel_order")
EXAMPLE_CONFIG = REPO_ROOT / "config" / "example.toml"
SYMBOLS_LINE = 'allowed_symbols = ["AAPL", "MSFT", "SPY"]'
ORDER_TYPES_LINE = 'order_types = ["LMT", "MKT"]'
PAPER_ACCOUNTS_LINE = 'allowed_accounts = ["DU5550101"]'
OTHER_PAPER_ACCOUNT = "DU5550199"
UNLISTED_ACCOUNT = "DU9999999"


@pytest.fixture
def broker_calls(monkeypatch):
    """Return the list of ``(method, account_id)`` order calls made at the broker."""
    calls = []

    def open_counting(mode):
        backend = backends.open_backend(mode)
        for name in ORDER_METHODS:
            method = getattr(backend, name)

            def counted(account_id, *args, _name=name, _method=method, **kwargs):
                calls.append((_name, account_id))
                return _method(account_id, *args, **kwargs)

            setattr(backend, name, counted)
        return backend

    for module in ("orders.submit", "orders.cancel", "orders.previews"):
        monkeypatch.setattr(f"{module}.open_backend", open_counting)
    return calls


@pytest.fixture
def trader(trading_gateway):
    return trader_token()


@pytest.fixture
def approver(trading_gateway):
    return approver_token()


def use_config(tmp_path, *replacements):
    """Install the example config with each ``(old, new)`` line replaced."""
    text = EXAMPLE_CONFIG.read_text()
    for old, new in replacements:
        assert old in text, f"{old!r} is no longer in config/example.toml"
        text = text.replace(old, new)
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    runtime_config.set_runtime_config(runtime_config.load_runtime_config(path))


def workflow_events(db_path):
    """Return the audit payloads other than ``api_request``, in ``seq`` order."""
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT payload FROM audit_events WHERE event_type != 'api_request' "
            "ORDER BY seq"
        ).fetchall()
    return [json.loads(payload) for (payload,) in rows]


def check_rejected(response, db_path, status, code, fix, event_type=None):
    """Assert the status, code and message of ``response`` and its audit events.

    ``fix`` is text that the error message must contain. ``event_type`` is
    the workflow's refusal event, or None for a body that the view rejects
    before any workflow runs. The ``api_request`` event is checked in both
    cases.
    """
    assert response.status_code == status, response.content
    error = body_of(response)["error"]
    assert error["code"] == code
    assert fix in error["message"]

    if event_type is not None:
        workflow_event = workflow_events(db_path)[-1]
        assert workflow_event["event_type"] == event_type
        assert workflow_event["error_code"] == code
        assert workflow_event["decision"] in ("refuse", "deny")

    call = api_events(db_path)[-1]
    assert call["error_code"] == code
    assert call["decision"] in ("refuse", "deny")


# Positive control: the spy records a valid submit.


def test_valid_submit_reaches_broker_once(trader, approver, broker_calls):
    body = approved(trader, approver, order_fields())

    response = submit(trader, "paper", body, "key-1")

    assert response.status_code == 201
    assert broker_calls == [("submit_orders", PAPER_ACCOUNT)]


# Symbols and order types the policy or the broker do not allow.


def test_preview_symbol_off_policy(trading_gateway, trader, broker_calls):
    response = preview(trader, order_fields(symbol="ZZZZ"))

    check_rejected(
        response,
        trading_gateway,
        422,
        "symbol_not_allowed",
        "Allowed: AAPL, MSFT, SPY",
        "order_preview_refused",
    )
    assert broker_calls == []


def test_preview_symbol_unknown_to_broker(
    trading_gateway, trader, broker_calls, tmp_path
):
    use_config(tmp_path, (SYMBOLS_LINE, SYMBOLS_LINE.replace("]", ', "ZZZZ"]')))

    response = preview(trader, order_fields(symbol="ZZZZ"))

    check_rejected(
        response,
        trading_gateway,
        400,
        "unknown_symbol",
        "GET /api/v1/contracts/search",
        "order_preview_refused",
    )
    assert broker_calls == []


def test_preview_market_order_limit_only_policy(
    trading_gateway, trader, broker_calls, tmp_path
):
    use_config(tmp_path, (ORDER_TYPES_LINE, 'order_types = ["LMT"]'))

    response = preview(trader, order_fields(order_type="MKT", limit_price=None))

    check_rejected(
        response,
        trading_gateway,
        422,
        "order_type_not_allowed",
        "use LMT",
        "order_preview_refused",
    )
    assert broker_calls == []


@pytest.mark.parametrize(
    ("fields", "replacement", "code", "fix"),
    [
        (
            order_fields(),
            (SYMBOLS_LINE, 'allowed_symbols = ["MSFT", "SPY"]'),
            "symbol_not_allowed",
            "Allowed: MSFT, SPY",
        ),
        (
            order_fields(order_type="MKT", limit_price=None),
            (ORDER_TYPES_LINE, 'order_types = ["LMT"]'),
            "order_type_not_allowed",
            "use LMT",
        ),
    ],
    ids=["symbol", "market_order"],
)
def test_submit_after_policy_narrowed(
    trading_gateway,
    trader,
    approver,
    broker_calls,
    tmp_path,
    fields,
    replacement,
    code,
    fix,
):
    body = approved(trader, approver, fields)
    use_config(tmp_path, replacement)

    response = submit(trader, "paper", body, "key-1")

    check_rejected(response, trading_gateway, 422, code, fix, "order_refused")
    assert broker_calls == []


# Malformed order fields in an otherwise valid, approved submit.


@pytest.mark.parametrize(
    ("change", "code", "fix"),
    [
        ({"quantity": "-5"}, "invalid_quantity", "greater than zero"),
        ({"quantity": "0"}, "invalid_quantity", "greater than zero"),
        ({"quantity": "1.5"}, "invalid_quantity", "whole number of shares"),
        ({"quantity": True}, "invalid_quantity", "positive whole number"),
        ({"limit_price": "-193"}, "invalid_price", "greater than zero"),
        ({"limit_price": 193}, "invalid_price", "decimal string"),
        ({"symbol": "AA PL"}, "invalid_symbol", "such as AAPL"),
        ({"side": "HOLD"}, "invalid_side", "BUY, SELL"),
        ({"note": "hello"}, "unknown_field", "Allowed fields:"),
        ({"preview_id": "not-a-uuid"}, "invalid_preview_id", "UUID"),
        (
            {"client_context": {"note": "x" * (8 * 1024 + 1)}},
            "invalid_client_context",
            "Shorten it",
        ),
        ({"client_context": ["a"]}, "invalid_client_context", "JSON object"),
    ],
    ids=[
        "negative_quantity",
        "zero_quantity",
        "fractional_quantity",
        "boolean_quantity",
        "negative_price",
        "integer_price",
        "bad_symbol",
        "bad_side",
        "unknown_field",
        "bad_preview_id",
        "client_context_over_8_kib",
        "client_context_not_object",
    ],
)
def test_submit_invalid_field(
    trading_gateway, trader, approver, broker_calls, change, code, fix
):
    body = {**approved(trader, approver, order_fields()), **change}

    response = submit(trader, "paper", body, "key-1")

    check_rejected(response, trading_gateway, 400, code, fix, "order_refused")
    assert broker_calls == []


def test_submit_missing_field(trading_gateway, trader, approver, broker_calls):
    body = approved(trader, approver, order_fields())
    del body["tif"]

    response = submit(trader, "paper", body, "key-1")

    check_rejected(
        response,
        trading_gateway,
        400,
        "missing_field",
        "Field tif is missing",
        "order_refused",
    )
    assert broker_calls == []


def test_submit_float_quantity(trading_gateway, trader, approver, broker_calls):
    body = approved(trader, approver, order_fields())
    raw = json.dumps(body).replace('"quantity": "10"', '"quantity": 10.0')

    response = post("/api/v1/orders/paper", trader, None, key="key-1", raw=raw)

    check_rejected(
        response,
        trading_gateway,
        400,
        "invalid_quantity",
        "positive whole number",
        "order_refused",
    )
    assert broker_calls == []


def test_submit_float_price(trading_gateway, trader, approver, broker_calls):
    body = approved(trader, approver, order_fields(limit_price="193.5"))
    raw = json.dumps(body).replace('"limit_price": "193.5"', '"limit_price": 193.5')

    response = post("/api/v1/orders/paper", trader, None, key="key-1", raw=raw)

    check_rejected(
        response,
        trading_gateway,
        400,
        "invalid_price",
        "decimal string",
        "order_refused",
    )
    assert broker_calls == []


def test_preview_float_price(trading_gateway, trader, broker_calls):
    raw = json.dumps(order_fields(limit_price="193.5")).replace(
        '"limit_price": "193.5"', '"limit_price": 193.5'
    )

    response = post("/api/v1/orders/preview", trader, None, raw=raw)

    check_rejected(
        response,
        trading_gateway,
        400,
        "invalid_price",
        "decimal string",
        "order_preview_refused",
    )
    assert broker_calls == []


# Previews, approvals and four-eyes.


def test_submit_expired_preview(trading_gateway, trader, approver, broker_calls):
    body = approved(trader, approver, order_fields())
    CLOCK.advance(301)

    response = submit(trader, "paper", body, "key-1")

    check_rejected(
        response,
        trading_gateway,
        409,
        "preview_expired",
        "Preview the order again",
        "order_refused",
    )
    assert broker_calls == []


def test_submit_consumed_approval(trading_gateway, trader, approver, broker_calls):
    body = approved(trader, approver, order_fields())
    first = submit(trader, "paper", body, "key-1")
    assert first.status_code == 201
    broker_calls.clear()

    response = submit(trader, "paper", body, "key-2")

    check_rejected(
        response,
        trading_gateway,
        409,
        "approval_consumed",
        "get a new approval",
        "order_refused",
    )
    assert broker_calls == []


def test_grant_self_approval_denied(trading_gateway, broker_calls):
    trader = trader_token(owner="alice")
    approver = approver_token(owner="alice")
    created = preview(trader, order_fields())
    assert created.status_code == 201

    response = approve(approver, body_of(created)["preview_id"], PAPER_ACCOUNT)

    check_rejected(
        response,
        trading_gateway,
        403,
        "four_eyes_required",
        "Ask a colleague",
        "approval_refused",
    )
    assert workflow_events(trading_gateway)[-1]["decision"] == "deny"
    assert Approval.objects.count() == 0
    assert broker_calls == []


def test_submit_by_approver_denied(trading_gateway, broker_calls):
    previewer = trader_token(owner="alice")
    approver = approver_token(owner="bob")
    submitter = trader_token(owner="bob")
    body = approved(previewer, approver, order_fields())

    response = submit(submitter, "paper", body, "key-1")

    check_rejected(
        response,
        trading_gateway,
        403,
        "four_eyes_required",
        "Ask a colleague",
        "order_refused",
    )
    assert workflow_events(trading_gateway)[-1]["decision"] == "deny"
    assert broker_calls == []


# Accounts.


def test_submit_other_paper_account(
    trading_gateway, trader, approver, broker_calls, tmp_path
):
    use_config(
        tmp_path,
        (
            PAPER_ACCOUNTS_LINE,
            f'allowed_accounts = ["{PAPER_ACCOUNT}", "{OTHER_PAPER_ACCOUNT}"]',
        ),
    )
    body = approved(trader, approver, order_fields())

    response = submit(
        trader, "paper", {**body, "account_id": OTHER_PAPER_ACCOUNT}, "key-1"
    )

    check_rejected(
        response,
        trading_gateway,
        403,
        "preview_account_mismatch",
        "Preview the order for this account",
        "order_refused",
    )
    assert broker_calls == []


def test_submit_paper_preview_as_live(trading_gateway, trader, approver, broker_calls):
    body = approved(trader, approver, order_fields())

    response = submit(trader, "live", {**body, "account_id": LIVE_ACCOUNT}, "key-1")

    check_rejected(
        response,
        trading_gateway,
        403,
        "preview_account_mismatch",
        "Preview the order for this account",
        "order_refused",
    )
    assert broker_calls == []


def test_submit_unlisted_account(trading_gateway, trader, approver, broker_calls):
    body = approved(trader, approver, order_fields())

    response = submit(
        trader, "paper", {**body, "account_id": UNLISTED_ACCOUNT}, "key-1"
    )

    check_rejected(
        response,
        trading_gateway,
        403,
        "account_not_allowed",
        "paper_trading.allowed_accounts",
        "order_refused",
    )
    assert broker_calls == []


def test_preview_unlisted_account(trading_gateway, trader, broker_calls):
    response = preview(trader, order_fields(account=UNLISTED_ACCOUNT))

    check_rejected(
        response,
        trading_gateway,
        403,
        "account_not_allowed",
        "allowed_accounts",
        "order_preview_refused",
    )
    assert broker_calls == []


# Headers and bodies.


@pytest.mark.parametrize(
    ("key", "code", "fix"),
    [
        (None, "idempotency_key_missing", "Send a unique key"),
        ("", "idempotency_key_missing", "Send a unique key"),
        ("key with spaces", "idempotency_key_invalid", "1 to 128 letters"),
        ("k" * 129, "idempotency_key_invalid", "1 to 128 letters"),
    ],
    ids=["missing", "empty", "spaces", "too_long"],
)
def test_submit_invalid_idempotency_key(
    trading_gateway, trader, approver, broker_calls, key, code, fix
):
    body = approved(trader, approver, order_fields())

    response = submit(trader, "paper", body, key)

    check_rejected(response, trading_gateway, 400, code, fix, "order_refused")
    assert broker_calls == []
    assert IdempotencyRecord.objects.count() == 0


@pytest.mark.parametrize(
    "raw",
    ['{"account_id": "DU5550101", ', "[1, 2]", '{"quantity": NaN}', b"\xff\xfe"],
    ids=["truncated", "array", "nan", "not_utf8"],
)
def test_submit_malformed_json(trading_gateway, trader, broker_calls, raw):
    response = post("/api/v1/orders/paper", trader, None, key="key-1", raw=raw)

    check_rejected(response, trading_gateway, 400, "malformed_json", "JSON object")
    assert broker_calls == []


def test_submit_body_over_16_kib(trading_gateway, trader, approver, broker_calls):
    body = approved(trader, approver, order_fields())
    body["client_context"] = {"note": "x" * (16 * 1024)}

    response = submit(trader, "paper", body, "key-1")

    check_rejected(
        response,
        trading_gateway,
        413,
        "request_too_large",
        "Send only the documented fields",
    )
    assert broker_calls == []


# Cancels.


def test_cancel_unknown_order(trading_gateway, trader, broker_calls):
    response = post(
        "/api/v1/orders/paper/1999999999/cancel",
        trader,
        {"account_id": PAPER_ACCOUNT},
        key="cancel-1",
    )

    check_rejected(
        response,
        trading_gateway,
        404,
        "order_not_found",
        "GET /api/v1/orders",
        "order_refused",
    )
    assert broker_calls == []


def test_cancel_order_of_other_account(
    trading_gateway, trader, approver, broker_calls, tmp_path
):
    use_config(
        tmp_path,
        (
            PAPER_ACCOUNTS_LINE,
            f'allowed_accounts = ["{PAPER_ACCOUNT}", "{OTHER_PAPER_ACCOUNT}"]',
        ),
    )
    placed = submit(
        trader, "paper", approved(trader, approver, order_fields()), "key-1"
    )
    broker_order_id = body_of(placed)["orders"][0]["broker_order_id"]
    broker_calls.clear()

    response = post(
        f"/api/v1/orders/paper/{broker_order_id}/cancel",
        trader,
        {"account_id": OTHER_PAPER_ACCOUNT},
        key="cancel-1",
    )

    check_rejected(
        response,
        trading_gateway,
        404,
        "order_not_found",
        "GET /api/v1/orders",
        "order_refused",
    )
    assert broker_calls == []


# An audit log that cannot be written.


def make_audit_unwritable(db_path):
    """Add a trigger that aborts every insert into ``audit_events``."""
    with sqlite3.connect(db_path) as db:
        db.execute(
            "CREATE TRIGGER test_audit_unwritable BEFORE INSERT ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit log unwritable in this test'); END"
        )


def test_submit_unwritable_audit_returns_503(
    trading_gateway, trader, approver, broker_calls
):
    body = approved(trader, approver, order_fields())
    make_audit_unwritable(trading_gateway)

    response = submit(trader, "paper", body, "key-1")

    assert response.status_code == 503
    assert body_of(response)["error"]["code"] == "audit_unavailable"
    assert response["Retry-After"] == "5"
    assert broker_calls == []
    assert IdempotencyRecord.objects.count() == 0
    assert Approval.objects.get().status == Approval.ACTIVE


def test_cancel_unwritable_audit_returns_503(
    trading_gateway, trader, approver, broker_calls
):
    placed = submit(
        trader, "paper", approved(trader, approver, order_fields()), "key-1"
    )
    broker_order_id = body_of(placed)["orders"][0]["broker_order_id"]
    broker_calls.clear()
    make_audit_unwritable(trading_gateway)

    response = post(
        f"/api/v1/orders/paper/{broker_order_id}/cancel",
        trader,
        {"account_id": PAPER_ACCOUNT},
        key="cancel-1",
    )

    assert response.status_code == 503
    assert body_of(response)["error"]["code"] == "audit_unavailable"
    assert response["Retry-After"] == "5"
    assert broker_calls == []
    assert IdempotencyRecord.objects.filter(action="cancel").count() == 0
