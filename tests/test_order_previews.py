"""Order previews: expiry, notional, the what-if estimate and the audit event."""

import json
import sqlite3
from dataclasses import replace

from ibkr_gateway import runtime_config
from ibkr_gateway.broker.errors import BrokerUnavailable
from ibkr_gateway.broker.simulated import SimulatedBackend
from tests.orders_support import body_of, order_fields, preview, trader_token


def preview_events(db_path):
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT payload FROM audit_events WHERE event_type LIKE 'order_preview%' "
            "ORDER BY seq"
        ).fetchall()
    return [json.loads(payload) for (payload,) in rows]


def test_preview_expires_after_the_policy_ttl(trading_gateway):
    made = body_of(preview(trader_token(), order_fields()))

    assert made["created_at"] == "2026-12-03T15:00:00Z"
    assert made["expires_at"] == "2026-12-03T15:05:00Z"


def test_preview_reports_notional_from_the_limit_price(trading_gateway):
    made = body_of(preview(trader_token(), order_fields(quantity="10")))

    assert made["notional"] == "1930"


def test_preview_includes_the_whatif_commission(trading_gateway):
    made = body_of(preview(trader_token(), order_fields(quantity="10")))

    assert made["whatif"]["commission"] == "1"


def test_preview_survives_a_failed_whatif(trading_gateway, monkeypatch):
    def unavailable(self, account_id, ticket):
        raise BrokerUnavailable()

    monkeypatch.setattr(SimulatedBackend, "whatif", unavailable)

    response = preview(trader_token(), order_fields())

    assert response.status_code == 201
    assert body_of(response)["whatif"] == {"error": "broker_unavailable"}


def test_preview_event_redacts_secrets_in_client_context(trading_gateway):
    context = {"why": "rebalance", "api_password": "hunter2-secret"}

    preview(trader_token(), order_fields(client_context=context))

    (event,) = preview_events(trading_gateway)
    stored = event["metadata"]["client_context"]
    assert stored["why"] == "rebalance"
    assert "hunter2-secret" not in json.dumps(event)


def test_preview_event_stores_account_hash_not_id(trading_gateway):
    preview(trader_token(), order_fields())

    (event,) = preview_events(trading_gateway)
    assert "DU5550101" not in json.dumps(event)
    assert event["account_hash"]


def test_refused_preview_is_audited_with_its_code(trading_gateway):
    preview(trader_token(), order_fields(quantity="1000"))

    (event,) = preview_events(trading_gateway)
    assert event["event_type"] == "order_preview_refused"
    assert event["error_code"] == "quantity_limit"
    assert event["decision"] == "refuse"


def test_preview_of_disabled_mode_names_the_mode(trading_gateway):
    config = runtime_config.get_runtime_config()
    live = replace(config.trading.live, enabled=False)
    trading = replace(config.trading, live=live)
    runtime_config.set_runtime_config(replace(config, trading=trading))

    response = preview(trader_token(), order_fields("U5550102"))

    assert response.status_code == 403
    assert body_of(response)["error"]["code"] == "live_trading_disabled"
