"""Parsers from Client Portal Gateway JSON to the shapes documented on ``IbkrBackend``.

Each parser raises ``BrokerResponseInvalid`` naming the endpoint when a required
field is missing or has the wrong type. Optional fields that are absent or null
become None. Input numbers with a fraction arrive as ``Decimal`` from
``ClientPortalHttp``, so no value passes through a float.
"""

import re
from decimal import Decimal

from ibkr_gateway.broker.base import format_decimal
from ibkr_gateway.broker.errors import BrokerResponseInvalid

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
