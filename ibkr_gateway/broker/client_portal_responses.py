"""Parsers from Client Portal Gateway JSON to the shapes documented on ``IbkrBackend``.

Each parser raises ``BrokerResponseInvalid`` naming the endpoint when a required
field is missing or has the wrong type. Optional fields that are absent or null
become None. Input numbers with a fraction arrive as ``Decimal`` from
``ClientPortalHttp``, so no value passes through a float.
"""

import re
from decimal import Decimal

from ibkr_gateway.broker.base import format_decimal
from ibkr_gateway.broker.errors import BrokerOrderNotFound, BrokerResponseInvalid

_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)


def invalid(endpoint, problem):
    """Return the error for a response from ``endpoint`` with ``problem``."""
    return BrokerResponseInvalid(
        f"The IBKR response from {endpoint} is invalid: {problem}. Check the "
        "gateway version, then retry."
    )


def expect_list(data, endpoint):
    if not isinstance(data, list):
        raise invalid(endpoint, f"expected a JSON array, got {type(data).__name__}")
    return data


def expect_dict(data, endpoint):
    if not isinstance(data, dict):
        raise invalid(endpoint, f"expected a JSON object, got {type(data).__name__}")
    return data


def parse_conid(value, endpoint):
    """Return a conid sent as an int or as a digit string, as an int."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise invalid(endpoint, f"conid {str(value)[:20]!r} is not a positive integer")


def _flag(data, key, endpoint):
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise invalid(endpoint, f"{key} is not true or false")
    return value


def _text(data, key, endpoint):
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid(endpoint, f"{key} is not a string")
    return value


def _amount(data, key, endpoint):
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return format_decimal(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return format_decimal(value)
    raise invalid(endpoint, f"{key} is not a number")


def parse_auth_status(data, endpoint="iserver/auth/status"):
    data = expect_dict(data, endpoint)
    if not isinstance(data.get("authenticated"), bool):
        raise invalid(endpoint, "authenticated is missing or not true or false")
    server = data.get("serverInfo")
    server = server if isinstance(server, dict) else {}
    return {
        "authenticated": data["authenticated"],
        "connected": _flag(data, "connected", endpoint),
        "competing": _flag(data, "competing", endpoint),
        "message": _text(data, "message", endpoint) or "",
        "server_name": _text(server, "serverName", endpoint),
        "server_version": _text(server, "serverVersion", endpoint),
    }


def parse_tickle(data, endpoint="tickle"):
    """Parse a tickle response, dropping its session token and user id."""
    data = expect_dict(data, endpoint)
    iserver = data.get("iserver")
    status = iserver.get("authStatus") if isinstance(iserver, dict) else None
    status = status if isinstance(status, dict) else {}
    expires = data.get("ssoExpires")
    if isinstance(expires, bool) or not isinstance(expires, int | None):
        raise invalid(endpoint, "ssoExpires is not an integer")
    return {
        "authenticated": _flag(status, "authenticated", endpoint),
        "connected": _flag(status, "connected", endpoint),
        "competing": _flag(status, "competing", endpoint),
        # IBKR spells this key "collission".
        "collision": _flag(data, "collission", endpoint),
        # NOTE: the unit of ssoExpires is taken to be milliseconds, which no
        # IBKR page checked states.
        "sso_expires_ms": expires,
    }


def parse_accounts(data, endpoint="portfolio/accounts"):
    accounts = []
    for entry in expect_list(data, endpoint):
        entry = expect_dict(entry, endpoint)
        account_id = entry.get("accountId", entry.get("id"))
        if not isinstance(account_id, str) or not account_id:
            raise invalid(endpoint, "an account has no accountId")
        account_type = _text(entry, "type", endpoint)
        accounts.append(
            {
                "account_id": account_id,
                "title": _text(entry, "accountTitle", endpoint)
                or _text(entry, "displayName", endpoint),
                "currency": _text(entry, "currency", endpoint),
                # Paper account ids start with D (DU1234567) and IBKR reports
                # their type as DEMO.
                "paper": account_type == "DEMO" or account_id.startswith("D"),
                "type": account_type,
            }
        )
    return accounts


def parse_positions(data, account_id, endpoint):
    """Parse one positions page of ``account_id``.

    A position that names another account makes the whole response invalid,
    so a mix-up at the gateway never shows one account's holdings as another's.
    """
    positions = []
    for entry in expect_list(data, endpoint):
        entry = expect_dict(entry, endpoint)
        if entry.get("acctId", account_id) != account_id:
            raise invalid(endpoint, "a position belongs to another account")
        if entry.get("position") is None:
            raise invalid(endpoint, "a position has no quantity")
        description = _text(entry, "contractDesc", endpoint)
        positions.append(
            {
                "account_id": account_id,
                "conid": parse_conid(entry.get("conid"), endpoint),
                "symbol": _text(entry, "ticker", endpoint) or description,
                "description": description,
                "asset_class": _text(entry, "assetClass", endpoint),
                "currency": _text(entry, "currency", endpoint),
                "quantity": _amount(entry, "position", endpoint),
                "average_cost": _amount(entry, "avgCost", endpoint),
                "market_price": _amount(entry, "mktPrice", endpoint),
                "market_value": _amount(entry, "mktValue", endpoint),
                "unrealized_pnl": _amount(entry, "unrealizedPnl", endpoint),
                "realized_pnl": _amount(entry, "realizedPnl", endpoint),
            }
        )
    return positions


def parse_contracts(data, endpoint="iserver/secdef/search"):
    contracts = []
    for entry in expect_list(data, endpoint):
        entry = expect_dict(entry, endpoint)
        symbol = _text(entry, "symbol", endpoint)
        if not symbol:
            raise invalid(endpoint, "a contract has no symbol")
        sections = entry.get("sections")
        sections = sections if isinstance(sections, list) else []
        sec_types = [
            section["secType"]
            for section in sections
            if isinstance(section, dict) and isinstance(section.get("secType"), str)
        ]
        contracts.append(
            {
                "conid": parse_conid(entry.get("conid"), endpoint),
                "symbol": symbol,
                "name": _text(entry, "companyName", endpoint),
                "description": _text(entry, "description", endpoint),
                "sec_types": sec_types,
            }
        )
    return contracts


# Input keys of each order state field, per endpoint. The first key present in
# an entry is read.
ORDER_STATUS_KEYS = {
    "broker_order_id": ("order_id",),
    "account_id": ("account",),
    "symbol": ("symbol", "ticker"),
    "order_type": ("order_type",),
    # size is the remaining quantity and total_size the ordered one.
    "quantity": ("total_size",),
    "filled_quantity": ("cum_fill",),
    "remaining_quantity": ("size",),
    "average_price": ("average_price",),
    # NOTE: a stop order's trigger price is not read, because no sample
    # response shows which key carries it.
    "price": ("limit_price",),
    "status": ("order_status",),
}
LIVE_ORDER_KEYS = {
    "broker_order_id": ("orderId",),
    "account_id": ("acct", "account"),
    "symbol": ("ticker", "symbol"),
    "order_type": ("origOrderType", "orderType"),
    "quantity": ("totalSize",),
    "filled_quantity": ("filledQuantity",),
    "remaining_quantity": ("remainingQuantity",),
    "average_price": ("avgPrice",),
    "price": ("price",),
    "status": ("status",),
}
_SIDES = {"B": "BUY", "S": "SELL", "BUY": "BUY", "SELL": "SELL"}
_ORDER_TYPES = {"LIMIT": "LMT", "LMT": "LMT", "MARKET": "MKT", "MKT": "MKT"}
_ORDER_TYPES.update({"STOP": "STP", "STP": "STP"})


def _present(entry, keys):
    """Return the first of ``keys`` with a non-null value in ``entry``."""
    for key in keys:
        if entry.get(key) is not None:
            return key
    return keys[0]


def _order_id(value, endpoint):
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return value
    raise invalid(endpoint, "an order has no valid order id")


def _order_state(entry, keys, endpoint):
    """Parse one order of an order status or live orders response."""
    entry = expect_dict(entry, endpoint)

    def text(name):
        return _text(entry, _present(entry, keys[name]), endpoint)

    def amount(name):
        # JSON floats such as 5.0 arrive as Decimal, so none is rounded here.
        return _amount(entry, _present(entry, keys[name]), endpoint)

    status = text("status")
    if not status:
        raise invalid(endpoint, "an order has no status")
    side = _text(entry, "side", endpoint)
    order_type = text("order_type")
    conid = entry.get("conid")
    return {
        "broker_order_id": _order_id(
            entry.get(_present(entry, keys["broker_order_id"])), endpoint
        ),
        "account_id": text("account_id"),
        # IBKR returns the cOID of an order as order_ref.
        "coid": _text(entry, _present(entry, ("order_ref", "cOID")), endpoint) or None,
        "conid": None if conid is None else parse_conid(conid, endpoint),
        "symbol": text("symbol"),
        "side": _SIDES.get(side.upper(), side) if side else None,
        "order_type": _ORDER_TYPES.get(order_type.upper(), order_type)
        if order_type
        else None,
        "quantity": amount("quantity"),
        "filled_quantity": amount("filled_quantity"),
        "remaining_quantity": amount("remaining_quantity"),
        "average_price": amount("average_price"),
        "price": amount("price"),
        "status": status,
        "why_held": _text(entry, _present(entry, ("whyHeld", "why_held")), endpoint)
        or None,
        # NOTE: no sample response shows how IBKR names a child's parent order,
        # so the link is left unset.
        "parent_broker_order_id": None,
    }


def parse_order_status(data, account_id, order_id, endpoint):
    """Parse the status of order ``order_id``, which must belong to ``account_id``.

    An order of another account, or one whose response names no account, raises
    ``BrokerOrderNotFound``, so no caller sees an order of an account it did
    not name.
    """
    state = _order_state(data, ORDER_STATUS_KEYS, endpoint)
    if state["account_id"] != account_id:
        raise BrokerOrderNotFound()
    if state["broker_order_id"] != order_id:
        raise invalid(endpoint, "it describes another order")
    return state


def parse_live_orders(data, account_id, endpoint):
    """Parse the live orders response, keeping only orders of ``account_id`` if given.

    An order that names no account is dropped when filtering by account.
    """
    # NOTE: the empty response's exact shape is unverified, so a bare list and
    # an object without orders are read as well as {"orders": [...]}.
    if isinstance(data, dict):
        data = data.get("orders") or []
    states = [
        _order_state(entry, LIVE_ORDER_KEYS, endpoint)
        for entry in expect_list(data, endpoint)
    ]
    if account_id is None:
        return states
    return [state for state in states if state["account_id"] == account_id]
