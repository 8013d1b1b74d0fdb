"""ClientPortalBackend against respx mocks serving tests/fixtures/cpapi responses.

The base URL uses the reserved ``.invalid`` domain and respx rejects any
request without a route, so no test can reach a real gateway.
"""

import json
import logging
from pathlib import Path

import httpx
import pytest
import respx

from ibkr_gateway.broker.base import IbkrBackend
from ibkr_gateway.broker.client_portal import ClientPortalBackend
from ibkr_gateway.broker.config import BrokerSettings
from ibkr_gateway.broker.errors import (
    BrokerAccountNotFound,
    BrokerLoginRequired,
    BrokerRateLimited,
    BrokerRequestRejected,
    BrokerResponseInvalid,
    BrokerResponseTooLarge,
    BrokerTimeout,
    BrokerUnavailable,
    InvalidBrokerRequest,
    MarketDataNotReady,
)
from ibkr_gateway.broker.pacing import RequestPacer

FIXTURES = Path(__file__).parent / "fixtures" / "cpapi"
BASE_URL = "https://gateway.invalid/v1/api"


def fixture_bytes(name):
    return (FIXTURES / f"{name}.json").read_bytes()


def json_response(name, status=200, **kwargs):
    return httpx.Response(
        status,
        content=fixture_bytes(name),
        headers={"Content-Type": "application/json"},
        **kwargs,
    )


def assert_no_floats(value):
    """Fail if any value nested in ``value`` is a float."""
    if isinstance(value, dict):
        for item in value.values():
            assert_no_floats(item)
    elif isinstance(value, list):
        for item in value:
            assert_no_floats(item)
    else:
        assert not isinstance(value, float), value


class FakeClock:
    """A monotonic clock that advances only when ``sleep`` is called."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def router():
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mocked:
        yield mocked


def make_backend(clock, **overrides):
    values = {
        "backend": "client_portal",
        "base_url": BASE_URL,
        "max_requests_per_second": 10.0,
        "timeout_seconds": 2.0,
    }
    values.update(overrides)
    return ClientPortalBackend(BrokerSettings(**values), clock=clock, sleep=clock.sleep)


@pytest.fixture
def backend(clock):
    with make_backend(clock) as instance:
        yield instance


def test_backend_implements_interface(backend):
    assert isinstance(backend, IbkrBackend)


# Reads on the fixture shapes


def test_session_status_authenticated(router, backend):
    router.get("/iserver/auth/status").mock(
        return_value=json_response("auth_status_authenticated")
    )

    status = backend.session_status()

    assert status == {
        "authenticated": True,
        "connected": True,
        "competing": False,
        "message": "",
        "server_name": "JifN00000",
        "server_version": "Build 10.25.0p, Dec 5, 2023 5:48:12 PM",
    }


def test_session_status_logged_out_is_data(router, backend):
    router.get("/iserver/auth/status").mock(
        return_value=json_response("auth_status_unauthenticated")
    )

    status = backend.session_status()

    assert status["authenticated"] is False
    assert status["connected"] is False
    assert status["server_name"] is None


def test_tickle_drops_session_token(router, backend):
    route = router.post("/tickle").mock(return_value=json_response("tickle"))

    result = backend.tickle()

    assert route.call_count == 1
    assert result == {
        "authenticated": True,
        "connected": True,
        "competing": False,
        "collision": False,
        "sso_expires_ms": 460311,
    }
    assert "0123456789abcdef" not in json.dumps(result)


def test_tickle_no_session_requires_login(router, backend):
    router.post("/tickle").mock(return_value=json_response("tickle_no_session"))

    with pytest.raises(BrokerLoginRequired) as caught:
        backend.tickle()

    assert caught.value.code == "broker_login_required"
    assert caught.value.status == 503


def test_accounts_normalised(router, backend):
    router.get("/portfolio/accounts").mock(
        return_value=json_response("portfolio_accounts")
    )

    accounts = backend.accounts()

    assert accounts == [
        {
            "account_id": "DU1234567",
            "title": "Paper Trader",
            "currency": "USD",
            "paper": True,
            "type": "DEMO",
        }
    ]


def test_positions_recorded_shape(router, backend):
    accounts = router.get("/portfolio/accounts").mock(
        return_value=json_response("portfolio_accounts")
    )
    page = router.get("/portfolio/DU1234567/positions/0").mock(
        return_value=json_response("portfolio_positions_recorded")
    )

    positions = backend.positions("DU1234567")

    assert accounts.call_count == 1
    assert page.call_count == 1
    assert positions == [
        {
            "account_id": "DU1234567",
            "conid": 756733,
            "symbol": "SPY",
            "description": "SPY",
            "asset_class": "STK",
            "currency": "USD",
            "quantity": "100",
            "average_cost": "437.43",
            "market_price": None,
            "market_value": None,
            "unrealized_pnl": "1701",
            "realized_pnl": "0",
        }
    ]
    assert_no_floats(positions)


def test_positions_keep_exact_decimals(router, backend):
    router.get("/portfolio/accounts").mock(
        return_value=httpx.Response(200, json=[{"accountId": "U7654321"}])
    )
    router.get("/portfolio/U7654321/positions/0").mock(
        return_value=json_response("portfolio_positions")
    )

    positions = backend.positions("U7654321")

    assert [row["symbol"] for row in positions] == ["SPY", "TSLA"]
    assert positions[0]["market_price"] == "471.16000365"
    assert positions[1]["average_cost"] == "221.67142855"
    assert positions[1]["quantity"] == "7"
    assert positions[1]["conid"] == 76792991
    assert_no_floats(positions)


def test_positions_reuse_account_list(router, backend):
    accounts = router.get("/portfolio/accounts").mock(
        return_value=json_response("portfolio_accounts")
    )
    router.get("/portfolio/DU1234567/positions/0").mock(
        return_value=httpx.Response(200, json=[])
    )

    assert backend.positions("DU1234567") == []
    assert backend.positions("DU1234567") == []

    assert accounts.call_count == 1


def test_positions_read_every_page(router, backend):
    router.get("/portfolio/accounts").mock(
        return_value=json_response("portfolio_accounts")
    )
    entry = {"acctId": "DU1234567", "conid": 265598, "position": 1, "avgCost": 1}
    first = router.get("/portfolio/DU1234567/positions/0").mock(
        return_value=httpx.Response(200, json=[entry] * 30)
    )
    second = router.get("/portfolio/DU1234567/positions/1").mock(
        return_value=httpx.Response(200, json=[entry] * 2)
    )

    positions = backend.positions("DU1234567")

    assert len(positions) == 32
    assert first.call_count == 1
    assert second.call_count == 1


def test_positions_unknown_account_not_found(router, backend, clock):
    accounts = router.get("/portfolio/accounts").mock(
        return_value=json_response("portfolio_accounts")
    )
    positions = router.get(url__regex=r"/positions/").mock(
        return_value=httpx.Response(200, json=[])
    )

    with pytest.raises(BrokerAccountNotFound) as caught:
        backend.positions("U7654321")
    with pytest.raises(BrokerAccountNotFound):
        backend.positions("U7654321")

    assert caught.value.code == "broker_account_not_found"
    assert caught.value.status == 404
    assert positions.call_count == 0
    # The second miss comes within the refresh interval, so the cached list
    # decides it.
    assert accounts.call_count == 1


def test_positions_of_other_account_invalid(router, backend):
    router.get("/portfolio/accounts").mock(
        return_value=json_response("portfolio_accounts")
    )
    # This fixture lists positions of U7654321.
    router.get("/portfolio/DU1234567/positions/0").mock(
        return_value=json_response("portfolio_positions")
    )

    with pytest.raises(BrokerResponseInvalid) as caught:
        backend.positions("DU1234567")

    assert "another account" in caught.value.message
    assert "U7654321" not in caught.value.message


def test_search_contracts_int_conids(router, backend):
    route = router.get("/iserver/secdef/search").mock(
        return_value=json_response("secdef_search_aapl")
    )

    contracts = backend.search_contracts("AAPL")

    assert route.calls.last.request.url.params["symbol"] == "AAPL"
    assert contracts == [
        {
            "conid": 265598,
            "symbol": "AAPL",
            "name": "APPLE INC",
            "description": "NASDAQ",
            "sec_types": ["STK", "OPT"],
        },
        {
            "conid": 38708077,
            "symbol": "AAPL",
            "name": "APPLE INC",
            "description": "MEXI",
            "sec_types": ["STK"],
        },
    ]


def test_market_snapshot_maps_fields(router, backend):
    accounts = router.get("/iserver/accounts").mock(
        return_value=json_response("iserver_accounts")
    )
    snapshot = router.get("/iserver/marketdata/snapshot").mock(
        return_value=json_response("marketdata_snapshot")
    )

    quotes = backend.market_snapshot([265598])

    assert accounts.call_count == 1
    params = snapshot.calls.last.request.url.params
    assert params["conids"] == "265598"
    assert params["fields"] == "31,84,86,6509"
    assert quotes == [
        {
            "conid": 265598,
            "last": "193.18",
            "bid": "193.06",
            "ask": "193.14",
            "previous_close": False,
            "halted": False,
            "availability": "realtime",
            "updated_ms": 1702334859712,
        }
    ]


def test_market_snapshot_previous_close_flag(router, backend):
    router.get("/iserver/accounts").mock(return_value=json_response("iserver_accounts"))
    router.get("/iserver/marketdata/snapshot").mock(
        return_value=json_response("marketdata_snapshot_closed_prefix")
    )

    (quote,) = backend.market_snapshot(["265598"], fields=["last"])

    assert quote["last"] == "193.18"
    assert quote["previous_close"] is True
    assert quote["halted"] is False
    assert quote["availability"] == "delayed"
    assert "bid" not in quote


def test_market_snapshot_halted_flag(router, backend):
    router.get("/iserver/accounts").mock(return_value=json_response("iserver_accounts"))
    router.get("/iserver/marketdata/snapshot").mock(
        return_value=httpx.Response(
            200, json=[{"conid": 265598, "31": "H193.18", "6509": "RpB"}]
        )
    )

    (quote,) = backend.market_snapshot([265598])

    assert quote["last"] == "193.18"
    assert quote["halted"] is True
    assert quote["previous_close"] is False
    assert quote["bid"] is None


def test_market_snapshot_loads_accounts_once(router, backend):
    accounts = router.get("/iserver/accounts").mock(
        return_value=json_response("iserver_accounts")
    )
    router.get("/iserver/marketdata/snapshot").mock(
        return_value=json_response("marketdata_snapshot")
    )

    backend.market_snapshot([265598])
    backend.market_snapshot([265598])

    assert accounts.call_count == 1


def test_market_snapshot_preflight_then_data(router, backend, clock):
    router.get("/iserver/accounts").mock(return_value=json_response("iserver_accounts"))
    snapshot = router.get("/iserver/marketdata/snapshot").mock(
        side_effect=[
            json_response("marketdata_snapshot_preflight"),
            json_response("marketdata_snapshot"),
        ]
    )

    (quote,) = backend.market_snapshot([265598])

    assert snapshot.call_count == 2
    assert quote["last"] == "193.18"
    assert 0.5 in clock.sleeps


def test_market_snapshot_preflight_twice_not_ready(router, backend):
    router.get("/iserver/accounts").mock(return_value=json_response("iserver_accounts"))
    snapshot = router.get("/iserver/marketdata/snapshot").mock(
        return_value=json_response("marketdata_snapshot_preflight")
    )

    with pytest.raises(MarketDataNotReady) as caught:
        backend.market_snapshot([265598])

    assert snapshot.call_count == 2
    assert caught.value.code == "market_data_not_ready"
    assert caught.value.status == 503
    assert caught.value.to_dict()["conids"] == [265598]


def test_market_snapshot_rejects_unknown_field(router, backend):
    with pytest.raises(InvalidBrokerRequest):
        backend.market_snapshot([265598], fields=["last", "volume"])

    assert router.calls.call_count == 0


def test_market_snapshot_invalid_price(router, backend):
    router.get("/iserver/accounts").mock(return_value=json_response("iserver_accounts"))
    router.get("/iserver/marketdata/snapshot").mock(
        return_value=httpx.Response(200, json=[{"conid": 265598, "31": "N/A"}])
    )

    with pytest.raises(BrokerResponseInvalid):
        backend.market_snapshot([265598])


# Errors


def test_http_401_requires_login(router, backend):
    router.get("/iserver/auth/status").mock(return_value=httpx.Response(401))

    with pytest.raises(BrokerLoginRequired) as caught:
        backend.session_status()

    assert caught.value.code == "broker_login_required"
    assert caught.value.status == 503
    assert "Log in" in caught.value.message


def test_no_bridge_400_requires_login(router, backend):
    router.get("/iserver/secdef/search").mock(
        return_value=json_response("iserver_no_bridge_400", status=400)
    )

    with pytest.raises(BrokerLoginRequired) as caught:
        backend.search_contracts("AAPL")

    assert caught.value.code == "broker_login_required"


def test_login_required_reloads_accounts(router, backend):
    accounts = router.get("/portfolio/accounts").mock(
        return_value=json_response("portfolio_accounts")
    )
    router.get("/portfolio/DU1234567/positions/0").mock(
        side_effect=[httpx.Response(401), httpx.Response(200, json=[])]
    )

    with pytest.raises(BrokerLoginRequired):
        backend.positions("DU1234567")
    backend.positions("DU1234567")

    assert accounts.call_count == 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_http_5xx_unavailable(router, backend, status):
    router.get("/portfolio/accounts").mock(return_value=httpx.Response(status))

    with pytest.raises(BrokerUnavailable) as caught:
        backend.accounts()

    assert caught.value.code == "broker_unavailable"
    assert caught.value.status == 502


def test_timeout_maps_to_broker_timeout(router, backend):
    route = router.get("/portfolio/accounts").mock(
        side_effect=httpx.ReadTimeout("timed out")
    )

    with pytest.raises(BrokerTimeout) as caught:
        backend.accounts()

    assert caught.value.code == "broker_timeout"
    assert caught.value.status == 504
    assert route.call_count == 1


def test_oversized_declared_length_rejected(router, clock):
    router.get("/portfolio/accounts").mock(
        return_value=httpx.Response(200, content=b"[" + b" " * 2048 + b"]")
    )

    with make_backend(clock, max_response_bytes=1024) as backend:
        with pytest.raises(BrokerResponseTooLarge) as caught:
            backend.accounts()

    assert caught.value.code == "broker_response_too_large"
    assert caught.value.status == 502


def test_oversized_stream_stops_early(router, clock):
    produced = []

    def chunks():
        for index in range(1000):
            produced.append(index)
            yield b" " * 1024

    router.get("/portfolio/accounts").mock(
        side_effect=lambda request: httpx.Response(200, content=chunks())
    )

    with make_backend(clock, max_response_bytes=4096) as backend:
        with pytest.raises(BrokerResponseTooLarge):
            backend.accounts()

    # Reading stops at the first chunk past the cap, far before the end.
    assert len(produced) <= 6


def test_compressed_body_rejected(router, backend):
    router.get("/portfolio/accounts").mock(
        return_value=httpx.Response(
            200, content=b"\x1f\x8b", headers={"Content-Encoding": "gzip"}
        )
    )

    with pytest.raises(BrokerResponseInvalid) as caught:
        backend.accounts()

    assert "gzip" in caught.value.message


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"[NaN]", b"\xff\xfe\x00", b"[" * 100_000],
    ids=["syntax", "empty", "nan", "bad-utf8", "deep"],
)
def test_malformed_json_invalid(router, backend, body):
    router.get("/portfolio/accounts").mock(
        return_value=httpx.Response(200, content=body)
    )

    with pytest.raises(BrokerResponseInvalid) as caught:
        backend.accounts()

    assert caught.value.code == "broker_response_invalid"
    assert caught.value.status == 502


def test_unexpected_shape_invalid(router, backend):
    router.get("/portfolio/accounts").mock(
        return_value=httpx.Response(200, json={"accounts": []})
    )

    with pytest.raises(BrokerResponseInvalid) as caught:
        backend.accounts()

    assert "portfolio/accounts" in caught.value.message


def test_http_429_retry_after(router, backend):
    router.get("/portfolio/accounts").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "5"})
    )

    with pytest.raises(BrokerRateLimited) as caught:
        backend.accounts()

    assert caught.value.code == "broker_rate_limited"
    assert caught.value.status == 429
    assert caught.value.retry_after == 5
    assert caught.value.to_dict()["retry_after"] == 5


def test_http_429_without_retry_after(router, backend):
    router.get("/portfolio/accounts").mock(return_value=httpx.Response(429))

    with pytest.raises(BrokerRateLimited) as caught:
        backend.accounts()

    assert caught.value.retry_after is None


def test_other_4xx_rejected_with_detail(router, backend):
    router.get("/iserver/secdef/search").mock(
        return_value=httpx.Response(
            404, json={"error": "Contract not found", "statusCode": 404}
        )
    )

    with pytest.raises(BrokerRequestRejected) as caught:
        backend.search_contracts("ZZZZ")

    assert caught.value.code == "broker_request_rejected"
    assert caught.value.detail == "Contract not found"
    assert "Contract not found" not in caught.value.message


@pytest.mark.parametrize(
    "account_id",
    [
        "",
        "1234567",
        "DU123",
        "du1234567",
        "DU1234567/../x",
        "DU1234567\n",
        "U１２３４５６７",
        1234567,
    ],
)
def test_bad_account_id_sends_nothing(router, backend, account_id):
    with pytest.raises(InvalidBrokerRequest) as caught:
        backend.positions(account_id)

    assert caught.value.code == "invalid_broker_request"
    assert caught.value.status == 400
    assert router.calls.call_count == 0


@pytest.mark.parametrize("conid", [0, -1, "12a", "", True, 2**31, "٣", 1.5, "0265598"])
def test_bad_conid_sends_nothing(router, backend, conid):
    with pytest.raises(InvalidBrokerRequest):
        backend.market_snapshot([conid])

    assert router.calls.call_count == 0


@pytest.mark.parametrize(
    "symbol", ["", "aapl", "AAPL/..", "A" * 13, "AAPL&x=1", "AAPL ", None]
)
def test_bad_symbol_sends_nothing(router, backend, symbol):
    with pytest.raises(InvalidBrokerRequest):
        backend.search_contracts(symbol)

    assert router.calls.call_count == 0


def test_conid_list_limits(router, backend):
    with pytest.raises(InvalidBrokerRequest):
        backend.market_snapshot([])
    with pytest.raises(InvalidBrokerRequest):
        backend.market_snapshot([265598, 265598])
    with pytest.raises(InvalidBrokerRequest):
        backend.market_snapshot(list(range(1, 102)))
    with pytest.raises(InvalidBrokerRequest):
        backend.market_snapshot("265598")

    assert router.calls.call_count == 0


# Retries and logging


def test_get_retried_once_on_connect_error(router, backend, caplog):
    route = router.get("/portfolio/accounts").mock(
        side_effect=[
            httpx.ConnectError("connection refused"),
            json_response("portfolio_accounts"),
        ]
    )

    with caplog.at_level(logging.WARNING, logger="ibkr_gateway.broker"):
        accounts = backend.accounts()

    assert route.call_count == 2
    assert accounts[0]["account_id"] == "DU1234567"
    assert "retrying once" in caplog.text
    assert "GET portfolio/accounts" in caplog.text


def test_connect_error_twice_unavailable(router, backend):
    route = router.get("/portfolio/accounts").mock(
        side_effect=httpx.ConnectError("connection refused")
    )

    with pytest.raises(BrokerUnavailable) as caught:
        backend.accounts()

    assert route.call_count == 2
    assert caught.value.code == "broker_unavailable"
    assert caught.value.status == 503


def test_post_not_retried(router, backend):
    route = router.post("/tickle").mock(
        side_effect=httpx.ConnectError("connection refused")
    )

    with pytest.raises(BrokerUnavailable):
        backend.tickle()

    assert route.call_count == 1


def test_error_log_names_endpoint_not_account(router, backend, caplog):
    router.get("/portfolio/accounts").mock(
        return_value=json_response("portfolio_accounts")
    )
    router.get("/portfolio/DU1234567/positions/0").mock(
        return_value=httpx.Response(
            500, json={"error": "failed for DU1234567", "session": "secret"}
        )
    )

    with caplog.at_level(logging.DEBUG, logger="ibkr_gateway.broker"):
        with pytest.raises(BrokerUnavailable):
            backend.positions("DU1234567")

    assert "portfolio/{account_id}/positions/{page}" in caplog.text
    assert "broker_unavailable" in caplog.text
    assert "DU1234567" not in caplog.text
    assert "secret" not in caplog.text


def test_repeated_logout_warns_once(router, backend, caplog):
    router.get("/iserver/auth/status").mock(return_value=httpx.Response(401))

    with caplog.at_level(logging.WARNING, logger="ibkr_gateway.broker"):
        for _ in range(3):
            with pytest.raises(BrokerLoginRequired):
                backend.session_status()

    warnings = [r for r in caplog.records if "broker_login_required" in r.message]
    assert len(warnings) == 1


# Pacing


def test_requests_paced_by_fake_clock(router, clock):
    route = router.get("/iserver/auth/status").mock(
        return_value=json_response("auth_status_authenticated")
    )

    with make_backend(clock, max_requests_per_second=2.0) as backend:
        for _ in range(3):
            backend.session_status()

    assert route.call_count == 3
    assert clock.sleeps == [0.5, 0.5]


def test_pacer_no_wait_after_idle(clock):
    pacer = RequestPacer(4.0, clock=clock, sleep=clock.sleep)

    assert pacer.wait() == 0.0
    clock.now += 1.0
    assert pacer.wait() == 0.0
    assert pacer.wait() == 0.25
    assert clock.sleeps == [0.25]


def test_pacer_rejects_zero_rate(clock):
    with pytest.raises(ValueError):
        RequestPacer(0, clock=clock, sleep=clock.sleep)
