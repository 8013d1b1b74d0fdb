"""Order tickets of the Client Portal backend: validation and JSON request bodies.

A ticket has the shape documented on ``IbkrBackend``. Validation raises
``InvalidBrokerRequest`` naming the value and the expected form, before any
request is sent. Bodies write prices and quantities as JSON number literals
taken from the tickets' decimal strings, so no value passes through a float.
"""

import json
import re
from decimal import Decimal

from ibkr_gateway.broker.base import format_decimal
from ibkr_gateway.broker.errors import InvalidBrokerRequest
from ibkr_gateway.broker.validation import _shown, validate_conid

SIDES = ("BUY", "SELL")
ORDER_TYPES = ("LMT", "MKT", "STP")
# LMT carries the limit price and STP the trigger price.
PRICED_ORDER_TYPES = ("LMT", "STP")
TIFS = ("DAY", "GTC")
TICKET_KEYS = (
    "coid",
    "conid",
    "side",
    "order_type",
    "quantity",
    "price",
    "tif",
    "parent_coid",
)
# One order, or a bracket: a parent with a take-profit and a stop-loss child.
MAX_TICKETS = 3
# NOTE: IBKR's maximum cOID length was not found. 64 characters is a guess
# that leaves room for the gateway's ids with their -tp and -sl suffixes.
COID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}", re.ASCII)
ORDER_ID_PATTERN = re.compile(r"[1-9][0-9]{0,18}", re.ASCII)
# Positive decimals in plain notation, with at most 12 integer and 10
# fraction digits, so every value has an exact JSON number literal.
DECIMAL_PATTERN = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,10})?", re.ASCII)

# Request values


def validate_order_id(value):
    """Return ``value``, an int or a digit string, as a broker order id string."""
    text = value
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    if not isinstance(text, str) or not ORDER_ID_PATTERN.fullmatch(text):
        raise InvalidBrokerRequest(
            f"Broker order id {_shown(value)} is invalid. Use the order id the "
            "broker returned, a positive integer such as 1234567890."
        )
    return text


def _coid(value, key, required=True):
    if value is None and not required:
        return None
    if not isinstance(value, str) or not COID_PATTERN.fullmatch(value):
        raise InvalidBrokerRequest(
            f"Ticket {key} {_shown(value)} is invalid. Use 1 to 64 letters, "
            "digits, dots, underscores, @ or hyphens, starting with a letter or "
            "digit."
        )
    return value


def _choice(ticket, key, allowed):
    value = ticket.get(key)
    if value not in allowed:
        raise InvalidBrokerRequest(
            f"Ticket {key} {_shown(value)} is invalid. Use one of: "
            f"{', '.join(allowed)}."
        )
    return value


def _positive_decimal(ticket, key):
    value = ticket.get(key)
    if (
        not isinstance(value, str)
        or not DECIMAL_PATTERN.fullmatch(value)
        or Decimal(value).is_zero()
    ):
        raise InvalidBrokerRequest(
            f"Ticket {key} {_shown(value)} is invalid. Use a positive decimal "
            'string such as "150.25".'
        )
    return format_decimal(value)


def validate_ticket(ticket, require_coid=True):
    """Return a copy of ``ticket`` with each value checked and in canonical form.

    Modify and whatif requests send no cOID, so they pass ``require_coid=False``.
    """
    if not isinstance(ticket, dict):
        raise InvalidBrokerRequest(
            f"Ticket {_shown(ticket)} is invalid. Pass an object with the keys "
            f"{', '.join(TICKET_KEYS)}."
        )
    unknown = [key for key in ticket if key not in TICKET_KEYS]
    if unknown:
        raise InvalidBrokerRequest(
            f"Ticket key {_shown(unknown[0])} is not supported, and no ticket "
            f"value is dropped silently. Use only {', '.join(TICKET_KEYS)}."
        )

    order_type = _choice(ticket, "order_type", ORDER_TYPES)
    price = ticket.get("price")
    if order_type in PRICED_ORDER_TYPES:
        price = _positive_decimal(ticket, "price")
    elif price is not None:
        raise InvalidBrokerRequest(
            f"A {order_type} ticket has price {_shown(price)}. Set price to None, "
            "or use order type LMT or STP."
        )

    return {
        "coid": _coid(ticket.get("coid"), "coid", required=require_coid),
        "conid": validate_conid(ticket.get("conid")),
        "side": _choice(ticket, "side", SIDES),
        "order_type": order_type,
        "quantity": _positive_decimal(ticket, "quantity"),
        "price": price,
        "tif": _choice(ticket, "tif", TIFS),
        "parent_coid": _coid(ticket.get("parent_coid"), "parent_coid", False),
    }


def validate_tickets(tickets):
    """Return ``tickets``, one order or a bracket parent and its children, checked."""
    if not isinstance(tickets, list | tuple) or not 1 <= len(tickets) <= MAX_TICKETS:
        raise InvalidBrokerRequest(
            f"Tickets {_shown(tickets)} are invalid. Pass a list of 1 to "
            f"{MAX_TICKETS} tickets: one order, or a bracket parent followed by "
            "its children."
        )
    tickets = [validate_ticket(ticket) for ticket in tickets]

    parent = tickets[0]
    if parent["parent_coid"] is not None:
        raise InvalidBrokerRequest(
            "The first ticket names a parent_coid. Put the bracket parent first, "
            "with parent_coid None."
        )
    for child in tickets[1:]:
        if child["parent_coid"] != parent["coid"]:
            raise InvalidBrokerRequest(
                f"Bracket child {child['coid']!r} does not name the first ticket "
                "as its parent. Set each child's parent_coid to the coid of the "
                "first ticket."
            )
    coids = [ticket["coid"] for ticket in tickets]
    if len(set(coids)) != len(coids):
        raise InvalidBrokerRequest(
            "Ticket coids repeat. Give each ticket its own coid."
        )
    return tickets


# Request bodies


def encode_json(value):
    """Encode ``value`` as compact JSON, writing each Decimal as an exact number."""
    return _encode(value).encode("ascii")


def _encode(value):
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value!r} has no JSON number literal")
        return format(value, "f")
    if isinstance(value, float):
        raise TypeError(f"{value!r} is a float, which may not be exact; use a Decimal")
    if isinstance(value, dict):
        members = (
            f"{json.dumps(str(key))}:{_encode(item)}" for key, item in value.items()
        )
        return "{" + ",".join(members) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    return json.dumps(value)


def order_body(account_id, ticket, link=True):
    """Return the IBKR order object of a validated ``ticket``.

    With ``link`` the order carries its cOID and, for a bracket child, the
    parent's cOID as ``parentId``. Modify and whatif requests send neither,
    because a modify keeps the order's cOID and a whatif places nothing.
    """
    body = {"acctId": account_id, "conid": ticket["conid"]}
    if link:
        # NOTE: children carry their own cOID so live orders echo it back as
        # order_ref. IBKR's documented bracket example gives children only a
        # parentId, so that a child may also carry a cOID is unverified.
        body["cOID"] = ticket["coid"]
        if ticket["parent_coid"] is not None:
            body["parentId"] = ticket["parent_coid"]
    body["orderType"] = ticket["order_type"]
    body["side"] = ticket["side"]
    if ticket["price"] is not None:
        body["price"] = Decimal(ticket["price"])
    body["quantity"] = Decimal(ticket["quantity"])
    body["tif"] = ticket["tif"]
    return body
