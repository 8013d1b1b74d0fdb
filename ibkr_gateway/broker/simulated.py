"""``IbkrBackend`` that reads accounts, positions and quotes from the database.

It validates requests like the Client Portal backend and returns the same
shapes, so callers and tests cannot tell the two apart by their data. Results
depend only on the ``broker`` tables and the injectable market clock
(``ibkr_gateway.market.now()``), never on the wall clock directly. The order
methods are in ``simulated_orders``.
"""

from datetime import UTC, datetime, timedelta

from ibkr_gateway import market
from ibkr_gateway.broker.base import SNAPSHOT_FIELDS, IbkrBackend, format_decimal
from ibkr_gateway.broker.errors import (
    BrokerAccountNotFound,
    BrokerContractNotFound,
    BrokerLoginRequired,
)
from ibkr_gateway.broker.models import (
    Availability,
    SimulatedAccount,
    SimulatedContract,
    SimulatedPosition,
)
from ibkr_gateway.broker.simulated_orders import SimulatedOrdersMixin
from ibkr_gateway.broker.validation import (
    validate_account_id,
    validate_conids,
    validate_fields,
    validate_symbol,
)

SERVER_NAME = "simulated"
SERVER_VERSION = "simulated backend"

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SimulatedBackend(SimulatedOrdersMixin, IbkrBackend):
    """Database-backed backend, where ``authenticated=False`` simulates a logout."""

    def __init__(self, authenticated=True):
        self.authenticated = authenticated

    def _require_login(self):
        if not self.authenticated:
            raise BrokerLoginRequired()

    def session_status(self):
        return {
            "authenticated": self.authenticated,
            "connected": self.authenticated,
            "competing": False,
            "message": "",
            "server_name": SERVER_NAME,
            "server_version": SERVER_VERSION,
        }

    def tickle(self):
        self._require_login()
        return {
            "authenticated": True,
            "connected": True,
            "competing": False,
            "collision": False,
            "sso_expires_ms": None,
        }

    def accounts(self):
        self._require_login()
        return [
            {
                "account_id": account.account_id,
                "title": account.title,
                "currency": account.currency,
                "paper": account.paper,
                "type": account.account_type or None,
            }
            for account in SimulatedAccount.objects.all()
        ]

    def positions(self, account_id):
        account_id = validate_account_id(account_id)
        self._require_login()
        if not SimulatedAccount.objects.filter(account_id=account_id).exists():
            raise BrokerAccountNotFound()
        rows = SimulatedPosition.objects.filter(account__account_id=account_id)
        rows = rows.select_related("contract", "contract__quote")
        return [_position(account_id, row) for row in rows]

    def search_contracts(self, symbol):
        symbol = validate_symbol(symbol)
        self._require_login()
        return [
            {
                "conid": contract.conid,
                "symbol": contract.symbol,
                "name": contract.name or None,
                "description": contract.description or None,
                "sec_types": contract.sec_types.split(","),
            }
            for contract in SimulatedContract.objects.filter(symbol=symbol)
        ]

    def market_snapshot(self, conids, fields=SNAPSHOT_FIELDS):
        conids = validate_conids(conids)
        fields = validate_fields(fields, SNAPSHOT_FIELDS)
        self._require_login()
        contracts = SimulatedContract.objects.filter(conid__in=conids)
        by_conid = {
            contract.conid: contract for contract in contracts.select_related("quote")
        }
        missing = [conid for conid in conids if conid not in by_conid]
        if missing:
            raise BrokerContractNotFound(
                f"No contract has conid {missing[0]}. Look the conid up with "
                "search_contracts()."
            )
        now_ms = _market_now_ms()
        return [_quote(by_conid[conid], fields, now_ms) for conid in conids]


def _quote_of(contract):
    try:
        return contract.quote
    except SimulatedContract.quote.RelatedObjectDoesNotExist:
        return None


def _market_now_ms():
    return (market.now() - UNIX_EPOCH) // timedelta(milliseconds=1)


def _quote(contract, fields, now_ms):
    quote = _quote_of(contract)
    result = {"conid": contract.conid}
    for name in fields:
        result[name] = format_decimal(getattr(quote, name)) if quote else None
    result["previous_close"] = bool(quote and quote.previous_close)
    result["halted"] = bool(quote and quote.halted)
    result["availability"] = (
        quote.availability if quote else Availability.NOT_SUBSCRIBED.value
    )
    result["updated_ms"] = None
    if quote:
        # A quote stored without a time is current whenever it is read, so
        # freshness checks against the market clock accept it.
        stored = quote.updated_ms
        result["updated_ms"] = now_ms if stored is None else stored
    return result


def _position(account_id, row):
    contract = row.contract
    quote = _quote_of(contract)
    price = quote.last if quote else None
    market_value = unrealized = None
    if price is not None:
        market_value = row.quantity * price
        unrealized = (price - row.average_cost) * row.quantity
    return {
        "account_id": account_id,
        "conid": contract.conid,
        "symbol": contract.symbol,
        "description": contract.symbol,
        "asset_class": contract.asset_class,
        "currency": contract.currency,
        "quantity": format_decimal(row.quantity),
        "average_cost": format_decimal(row.average_cost),
        "market_price": format_decimal(price),
        "market_value": format_decimal(market_value),
        "unrealized_pnl": format_decimal(unrealized),
        "realized_pnl": format_decimal(row.realized_pnl),
    }
