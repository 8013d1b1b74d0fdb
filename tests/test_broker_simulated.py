"""SimulatedBackend against a freshly migrated database with the seeded data."""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import respx

from ibkr_gateway.broker.base import IbkrBackend
from ibkr_gateway.broker.client_portal import ClientPortalBackend
from ibkr_gateway.broker.config import BrokerSettings
from ibkr_gateway.broker.errors import (
    BrokerAccountNotFound,
    BrokerContractNotFound,
    BrokerLoginRequired,
    InvalidBrokerRequest,
)
from ibkr_gateway.broker.models import SimulatedPosition, SimulatedQuote
from ibkr_gateway.broker.simulated import SimulatedBackend

FIXTURES = Path(__file__).parent / "fixtures" / "cpapi"

# The seeded quotes have no stored time, so snapshots report this clock's time.
FIXED_NOW = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)
FIXED_NOW_MS = 1709305200000


def fixed_clock():
    return FIXED_NOW


def assert_no_floats(value):
    if isinstance(value, dict):
        for item in value.values():
            assert_no_floats(item)
    elif isinstance(value, list):
        for item in value:
            assert_no_floats(item)
    else:
        assert not isinstance(value, float), value


@pytest.fixture
def backend(gateway_db, settings):
    settings.IBKR_MARKET_CLOCK = "tests.test_broker_simulated.fixed_clock"
    return SimulatedBackend()


def test_simulated_implements_interface(backend):
    assert isinstance(backend, IbkrBackend)


def test_session_status_authenticated(backend):
    status = backend.session_status()

    assert status["authenticated"] is True
    assert status["connected"] is True
    assert status["server_name"] == "simulated"


def test_tickle_authenticated(backend):
    assert backend.tickle()["authenticated"] is True


def test_accounts_seeded(backend):
    accounts = backend.accounts()

    assert accounts == [
        {
            "account_id": "DU5550101",
            "title": "Paper Trader",
            "currency": "USD",
            "paper": True,
            "type": "DEMO",
        },
        {
            "account_id": "U5550102",
            "title": "Simulated Live Account",
            "currency": "USD",
            "paper": False,
            "type": "INDIVIDUAL",
        },
    ]


def test_positions_paper_account(backend):
    positions = backend.positions("DU5550101")

    assert [row["symbol"] for row in positions] == ["AAPL", "MSFT", "SPY"]
    aapl = positions[0]
    assert aapl == {
        "account_id": "DU5550101",
        "conid": 265598,
        "symbol": "AAPL",
        "description": "AAPL",
        "asset_class": "STK",
        "currency": "USD",
        "quantity": "10",
        "average_cost": "172.35",
        "market_price": "193.18",
        "market_value": "1931.8",
        "unrealized_pnl": "208.3",
        "realized_pnl": "0",
    }
    assert positions[2]["realized_pnl"] == "12.5"
    assert_no_floats(positions)


def test_positions_second_account(backend):
    positions = backend.positions("U5550102")

    assert [row["conid"] for row in positions] == [756733, 76792991]
    assert positions[1]["average_cost"] == "221.67142855"
    assert positions[1]["market_value"] == "1755.11"


def test_positions_unknown_account(backend):
    with pytest.raises(BrokerAccountNotFound) as caught:
        backend.positions("DU7777777")

    assert caught.value.status == 404


@pytest.mark.parametrize("account_id", ["", "du1234567", "DU5550101 ", None])
def test_positions_invalid_account_id(backend, account_id):
    with pytest.raises(InvalidBrokerRequest):
        backend.positions(account_id)


def test_positions_follow_database_rows(backend):
    row = SimulatedPosition.objects.get(
        account__account_id="DU5550101", contract__conid=265598
    )
    row.quantity = Decimal("12.5")
    row.save()

    (aapl, *_) = backend.positions("DU5550101")

    assert aapl["quantity"] == "12.5"
    assert aapl["market_value"] == "2414.75"


def test_search_contracts_two_listings(backend):
    contracts = backend.search_contracts("AAPL")

    assert [row["conid"] for row in contracts] == [265598, 38708077]
    assert contracts[0]["sec_types"] == ["STK", "OPT"]
    assert contracts[1]["description"] == "MEXI"


def test_search_contracts_none_found(backend):
    assert backend.search_contracts("ZZZZ") == []


def test_search_contracts_invalid_symbol(backend):
    with pytest.raises(InvalidBrokerRequest):
        backend.search_contracts("aapl")


def test_market_snapshot_in_request_order(backend):
    quotes = backend.market_snapshot(["756733", 265598])

    assert [quote["conid"] for quote in quotes] == [756733, 265598]
    assert quotes[1] == {
        "conid": 265598,
        "last": "193.18",
        "bid": "193.06",
        "ask": "193.14",
        "previous_close": False,
        "halted": False,
        "availability": "realtime",
        "updated_ms": FIXED_NOW_MS,
    }


def test_market_snapshot_keeps_stored_time(backend):
    SimulatedQuote.objects.filter(contract__conid=272093).update(
        updated_ms=1702334859712
    )

    (quote,) = backend.market_snapshot([272093])

    assert quote["updated_ms"] == 1702334859712


def test_market_snapshot_delayed_previous_close(backend):
    (quote,) = backend.market_snapshot([76792991], fields=["last"])

    assert quote["last"] == "250.73"
    assert quote["previous_close"] is True
    assert quote["availability"] == "delayed"
    assert "bid" not in quote


def test_market_snapshot_unquoted_contract(backend):
    (quote,) = backend.market_snapshot([38708077])

    assert quote["last"] is None
    assert quote["availability"] == "not_subscribed"
    assert quote["updated_ms"] is None


def test_market_snapshot_halted_from_database(backend):
    SimulatedQuote.objects.filter(contract__conid=272093).update(halted=True)

    (quote,) = backend.market_snapshot([272093])

    assert quote["halted"] is True


def test_market_snapshot_unknown_conid(backend):
    with pytest.raises(BrokerContractNotFound) as caught:
        backend.market_snapshot([265598, 999999])

    assert "999999" in caught.value.message
    assert caught.value.status == 404


def test_market_snapshot_deterministic(backend):
    assert backend.market_snapshot([265598]) == backend.market_snapshot([265598])


def test_logged_out_reads_require_login(gateway_db):
    backend = SimulatedBackend(authenticated=False)

    assert backend.session_status()["authenticated"] is False
    with pytest.raises(BrokerLoginRequired):
        backend.tickle()
    with pytest.raises(BrokerLoginRequired):
        backend.accounts()
    with pytest.raises(BrokerLoginRequired):
        backend.positions("DU5550101")
    with pytest.raises(BrokerLoginRequired):
        backend.search_contracts("AAPL")
    with pytest.raises(BrokerLoginRequired):
        backend.market_snapshot([265598])


def test_same_keys_as_client_portal(backend):
    """Both backends return the same keys for each read."""
    base_url = "https://gateway.invalid/v1/api"
    settings = BrokerSettings(backend="client_portal", base_url=base_url)

    def fixture(name):
        return httpx.Response(200, content=(FIXTURES / f"{name}.json").read_bytes())

    with respx.mock(base_url=base_url) as router:
        router.get("/iserver/auth/status").mock(
            return_value=fixture("auth_status_authenticated")
        )
        router.post("/tickle").mock(return_value=fixture("tickle"))
        router.get("/portfolio/accounts").mock(
            return_value=fixture("portfolio_accounts")
        )
        router.get("/portfolio/DU1234567/positions/0").mock(
            return_value=fixture("portfolio_positions_recorded")
        )
        router.get("/iserver/secdef/search").mock(
            return_value=fixture("secdef_search_aapl")
        )
        router.get("/iserver/accounts").mock(return_value=fixture("iserver_accounts"))
        router.get("/iserver/marketdata/snapshot").mock(
            return_value=fixture("marketdata_snapshot")
        )
        with ClientPortalBackend(settings) as remote:
            pairs = [
                (remote.session_status(), backend.session_status()),
                (remote.tickle(), backend.tickle()),
                (remote.accounts()[0], backend.accounts()[0]),
                (remote.positions("DU1234567")[0], backend.positions("DU5550101")[0]),
                (
                    remote.search_contracts("AAPL")[0],
                    backend.search_contracts("AAPL")[0],
                ),
                (
                    remote.market_snapshot([265598])[0],
                    backend.market_snapshot([265598])[0],
                ),
            ]

    for remote_value, simulated_value in pairs:
        assert remote_value.keys() == simulated_value.keys()
