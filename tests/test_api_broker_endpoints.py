"""Broker endpoints against the seeded simulated backend, and their parameter checks."""

import pytest

from ibkr_gateway import scopes
from ibkr_gateway.broker.config import BrokerSettings
from ibkr_gateway.broker.validation import MAX_SNAPSHOT_CONIDS
from tests.api_support import api_events, call, error_of, make_token

BROKER_SCOPES = [
    scopes.HEALTH_READ,
    scopes.ACCOUNTS_READ,
    scopes.POSITIONS_READ,
    scopes.MARKETDATA_READ,
]


@pytest.fixture
def token_string(gateway_db):
    _token, token_string = make_token(BROKER_SCOPES)
    return token_string


def test_health_reports_broker_session(token_string):
    response = call("/api/v1/health", token_string)

    body = response.json()
    assert body["status"] == "ok"
    assert body["broker"]["authenticated"] is True
    assert body["broker"]["server_name"] == "simulated"


def test_health_reports_audit_head(token_string):
    call("/api/v1/health", token_string)

    body = call("/api/v1/health", token_string).json()

    assert body["audit_head_seq"] == 1


def test_accounts_lists_seeded_accounts(token_string):
    response = call("/api/v1/accounts", token_string)

    accounts = response.json()["accounts"]
    assert [account["account_id"] for account in accounts] == ["DU5550101", "U5550102"]
    assert accounts[0]["paper"] is True


def test_positions_of_account(token_string):
    response = call("/api/v1/accounts/DU5550101/positions", token_string)

    body = response.json()
    assert body["account_id"] == "DU5550101"
    assert body["positions"]
    assert {position["account_id"] for position in body["positions"]} == {"DU5550101"}


def test_positions_amounts_are_decimal_strings(token_string):
    response = call("/api/v1/accounts/DU5550101/positions", token_string)

    position = response.json()["positions"][0]
    assert isinstance(position["quantity"], str)
    assert isinstance(position["conid"], int)


def test_snapshot_returns_quotes_in_request_order(token_string):
    response = call("/api/v1/marketdata/snapshot?conids=272093,265598", token_string)

    quotes = response.json()["quotes"]
    assert [quote["conid"] for quote in quotes] == [272093, 265598]


def test_contract_search_finds_symbol(token_string):
    response = call("/api/v1/contracts/search?symbol=AAPL", token_string)

    body = response.json()
    assert body["symbol"] == "AAPL"
    assert 265598 in [contract["conid"] for contract in body["contracts"]]


def test_contract_search_uppercases_symbol(token_string):
    response = call("/api/v1/contracts/search?symbol=aapl", token_string)

    assert response.json()["symbol"] == "AAPL"


def test_contract_search_without_match_is_empty(token_string):
    response = call("/api/v1/contracts/search?symbol=NOSUCH", token_string)

    assert response.status_code == 200
    assert response.json()["contracts"] == []


@pytest.mark.parametrize(
    ("path", "mentions"),
    [
        ("/api/v1/marketdata/snapshot", "conids"),
        ("/api/v1/marketdata/snapshot?conids=", "conids"),
        ("/api/v1/marketdata/snapshot?conids=abc", "abc"),
        ("/api/v1/marketdata/snapshot?conids=265598,265598", "repeat"),
        ("/api/v1/marketdata/snapshot?conids=0", "0"),
        ("/api/v1/marketdata/snapshot?conids=99999999999", "99999999999"),
        ("/api/v1/contracts/search", "symbol"),
        ("/api/v1/contracts/search?symbol=AA%2FPL", "AA/PL"),
        ("/api/v1/contracts/search?symbol=AAPL&symbol=MSFT", "more than once"),
        ("/api/v1/accounts/not-an-account/positions", "not-an-account"),
        ("/api/v1/accounts?limit=5", "limit"),
    ],
)
def test_invalid_parameter_returns_400(token_string, path, mentions):
    response = call(path, token_string)

    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_parameter"
    assert mentions in error_of(response)["message"]


def test_too_many_conids_returns_400(token_string):
    conids = ",".join(str(265598 + index) for index in range(MAX_SNAPSHOT_CONIDS + 1))

    response = call(f"/api/v1/marketdata/snapshot?conids={conids}", token_string)

    assert response.status_code == 400
    assert str(MAX_SNAPSHOT_CONIDS) in error_of(response)["message"]


def test_unknown_conid_is_a_broker_error(gateway_db, token_string):
    response = call("/api/v1/marketdata/snapshot?conids=1", token_string)

    assert response.status_code == 404
    assert error_of(response)["code"] == "broker_contract_not_found"


def test_invalid_parameter_does_not_reach_broker(gateway_db, token_string, monkeypatch):
    opened = []
    monkeypatch.setattr("api.views.broker.get_backend", opened.append)

    call("/api/v1/marketdata/snapshot?conids=abc", token_string)

    assert opened == []


def test_logged_out_broker_reports_degraded(gateway_db, token_string, monkeypatch):
    from ibkr_gateway.broker.simulated import SimulatedBackend

    monkeypatch.setattr(
        "api.views.broker.get_backend",
        lambda settings: SimulatedBackend(authenticated=False),
    )

    response = call("/api/v1/health", token_string)

    assert response.json()["status"] == "degraded"


def test_logged_out_broker_fails_account_reads(gateway_db, token_string, monkeypatch):
    from ibkr_gateway.broker.simulated import SimulatedBackend

    monkeypatch.setattr(
        "api.views.broker.get_backend",
        lambda settings: SimulatedBackend(authenticated=False),
    )

    response = call("/api/v1/accounts", token_string)

    assert response.status_code == 503
    assert error_of(response)["code"] == "broker_login_required"
    (event,) = api_events(gateway_db)
    assert event["outcome"] == "failed"


def test_backend_follows_broker_section(gateway_db, token_string, monkeypatch):
    from dataclasses import replace

    from ibkr_gateway import runtime_config

    config = runtime_config.get_runtime_config()
    monkeypatch.setattr(
        runtime_config,
        "_current",
        replace(config, sections={"broker": {"backend": "client_portal"}}),
    )
    chosen = []

    def record(settings):
        chosen.append(settings)
        raise RuntimeError("stop before any connection")

    monkeypatch.setattr("api.views.broker.get_backend", record)

    call("/api/v1/accounts", token_string)

    assert chosen == [BrokerSettings(backend="client_portal")]


def test_invalid_broker_section_returns_500(gateway_db, token_string, monkeypatch):
    from dataclasses import replace

    from ibkr_gateway import runtime_config

    config = runtime_config.get_runtime_config()
    monkeypatch.setattr(
        runtime_config,
        "_current",
        replace(config, sections={"broker": {"backend": "carrier-pigeon"}}),
    )

    response = call("/api/v1/accounts", token_string)

    assert response.status_code == 500
    assert error_of(response)["code"] == "broker_config_invalid"
