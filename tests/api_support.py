"""Helpers of the REST API tests: tokens, authenticated calls and stored events.

Tokens are created through the ORM without an audit event, so each test's
log holds only the events of the calls it makes.
"""

import json
import sqlite3
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from api.credentials import format_token, hash_secret, new_secret
from api.models import ApiToken
from ibkr_gateway import scopes

# Every endpoint under /api/v1/ with a valid request and the scope it needs.
ENDPOINTS = [
    ("/api/v1/health", scopes.HEALTH_READ),
    ("/api/v1/accounts", scopes.ACCOUNTS_READ),
    ("/api/v1/accounts/DU5550101/positions", scopes.POSITIONS_READ),
    ("/api/v1/marketdata/snapshot?conids=265598,272093", scopes.MARKETDATA_READ),
    ("/api/v1/contracts/search?symbol=AAPL", scopes.MARKETDATA_READ),
    ("/api/v1/audit/tail?limit=5", scopes.AUDIT_READ),
    ("/api/v1/audit/verify", scopes.AUDIT_READ),
    ("/api/v1/audit/export?limit=5", scopes.AUDIT_EXPORT),
]

# Every order endpoint: method, path, schema path and the scope it needs.
ORDER_ENDPOINTS = [
    ("get", "/api/v1/orders", "/api/v1/orders", scopes.ORDERS_READ),
    ("post", "/api/v1/orders/preview", "/api/v1/orders/preview", scopes.ORDERS_PREVIEW),
    (
        "post",
        "/api/v1/orders/preview/bracket",
        "/api/v1/orders/preview/bracket",
        scopes.ORDERS_PREVIEW,
    ),
    ("post", "/api/v1/approvals", "/api/v1/approvals", scopes.APPROVALS_CREATE),
    ("post", "/api/v1/trading/halt", "/api/v1/trading/halt", scopes.TRADING_HALT),
]
for _mode, _submit, _cancel, _modify in (
    (
        "paper",
        scopes.ORDERS_PAPER_SUBMIT,
        scopes.ORDERS_PAPER_CANCEL,
        scopes.ORDERS_PAPER_MODIFY,
    ),
    (
        "live",
        scopes.ORDERS_LIVE_SUBMIT,
        scopes.ORDERS_LIVE_CANCEL,
        scopes.ORDERS_LIVE_MODIFY,
    ),
):
    _base = f"/api/v1/orders/{_mode}"
    _one = _base + "/{broker_order_id}"
    ORDER_ENDPOINTS += [
        ("post", _base, _base, _submit),
        ("get", f"{_base}/1000000001", _one, scopes.ORDERS_READ),
        ("post", f"{_base}/1000000001/modify", _one + "/modify", _modify),
        ("post", f"{_base}/1000000001/cancel", _one + "/cancel", _cancel),
    ]


def make_token(
    token_scopes,
    *,
    name="test client",
    owner="api-tester",
    expires_in=timedelta(days=1),
    revoked=False,
):
    """Create a token and return ``(token, token_string)``."""
    user, _ = get_user_model().objects.get_or_create(username=owner)
    secret = new_secret()
    now = timezone.now()
    token = ApiToken.objects.create(
        owner=user,
        name=name,
        scopes=sorted(token_scopes),
        secret_hash=hash_secret(secret),
        expires_at=None if expires_in is None else now + expires_in,
        revoked_at=now if revoked else None,
    )
    return token, format_token(token.pk, secret)


def bearer(token_string):
    return {"Authorization": f"Bearer {token_string}"}


def call(path, token_string=None, method="get", headers=None):
    """Send one request with Django's test client and return the response."""
    all_headers = dict(headers or {})
    if token_string is not None:
        all_headers.update(bearer(token_string))
    response = getattr(Client(), method)(path, headers=all_headers)
    if response.streaming:
        # Consuming the stream releases the export's read transaction.
        response.body = b"".join(response.streaming_content)
    return response


def error_of(response):
    return json.loads(response.content)["error"]


def api_events(db_path):
    """Return the payloads of the ``api_request`` events in ``seq`` order."""
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT payload FROM audit_events WHERE event_type = 'api_request' "
            "ORDER BY seq"
        ).fetchall()
    return [json.loads(payload) for (payload,) in rows]


def database_bytes(db_path):
    """Return the bytes of the database file and its WAL and shared-memory files."""
    data = db_path.read_bytes()
    for suffix in ("-wal", "-shm"):
        side = db_path.with_name(db_path.name + suffix)
        if side.exists():
            data += side.read_bytes()
    return data
