"""Helpers of the order tests: the example config, a fixed clock and REST calls.

``trading_gateway`` (a fixture in ``tests/conftest.py``) loads
``config/example.toml``, pins the market clock to ``CLOCK.now`` with an
always-open market, and resumes trading, so each test starts from the
state the README's session reaches.
"""

import json
from datetime import UTC, datetime, timedelta

from django.test import Client

from ibkr_gateway import scopes
from tests.api_support import bearer, make_token

PAPER_ACCOUNT = "DU5550101"
LIVE_ACCOUNT = "U5550102"
AAPL_LAST = "193.1"


class Clock:
    """A market clock that tests move by hand."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.now = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)

    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)


CLOCK = Clock()


def fixed_clock():
    return CLOCK.now


TRADER_SCOPES = {
    scopes.ORDERS_PREVIEW,
    scopes.ORDERS_READ,
    scopes.ORDERS_PAPER_SUBMIT,
    scopes.ORDERS_PAPER_CANCEL,
    scopes.ORDERS_PAPER_MODIFY,
    scopes.ORDERS_LIVE_SUBMIT,
    scopes.ORDERS_LIVE_CANCEL,
    scopes.ORDERS_LIVE_MODIFY,
    scopes.TRADING_HALT,
}


def trader_token(owner="trader", token_scopes=TRADER_SCOPES):
    return make_token(token_scopes, owner=owner, name=f"{owner} token")[1]


def approver_token(owner="approver"):
    return make_token({scopes.APPROVALS_CREATE}, owner=owner, name="approver")[1]


def post(path, token, body, key=None, raw=None):
    headers = bearer(token)
    if key is not None:
        headers["Idempotency-Key"] = key
    data = raw if raw is not None else json.dumps(body)
    return Client().post(
        path, data=data, content_type="application/json", headers=headers
    )


def get(path, token):
    return Client().get(path, headers=bearer(token))


def body_of(response):
    return json.loads(response.content)


def order_fields(account=PAPER_ACCOUNT, **overrides):
    fields = {
        "account_id": account,
        "symbol": "AAPL",
        "side": "BUY",
        "quantity": "10",
        "order_type": "LMT",
        "limit_price": "193",
        "tif": "DAY",
    }
    fields.update(overrides)
    return {key: value for key, value in fields.items() if value is not None}


def bracket_fields(account=PAPER_ACCOUNT, **overrides):
    return order_fields(
        account,
        take_profit_price="200",
        stop_loss_price="185",
        **overrides,
    )


def preview(trader, fields, bracket=False):
    path = "/api/v1/orders/preview/bracket" if bracket else "/api/v1/orders/preview"
    return post(path, trader, fields)


def approve(approver, preview_id, account):
    return post(
        "/api/v1/approvals",
        approver,
        {"preview_id": preview_id, "account_id": account, "reason": "checked"},
    )


def approved(trader, approver, fields, bracket=False):
    """Return the submit body of ``fields`` with a fresh preview and approval."""
    made = preview(trader, fields, bracket)
    assert made.status_code == 201, made.content
    preview_id = body_of(made)["preview_id"]
    granted = approve(approver, preview_id, fields["account_id"])
    assert granted.status_code == 201, granted.content
    return {
        **fields,
        "preview_id": preview_id,
        "approval_id": body_of(granted)["approval_id"],
    }


def submit(trader, mode, body, key):
    return post(f"/api/v1/orders/{mode}", trader, body, key)
