"""IBKR market data snapshot fields: codes, price prefixes and availability.

``parse_snapshot_entry`` turns one element of an
``iserver/marketdata/snapshot`` response into the quote shape documented on
``IbkrBackend.market_snapshot``, or returns None for a preflight element that
carries no requested field yet.
"""

import re
from decimal import Decimal

from ibkr_gateway.broker.base import format_decimal
from ibkr_gateway.broker.errors import BrokerResponseInvalid

# Field codes from IBKR's "Market Data Fields" list: 31 is the last price,
# 84 the bid and 86 the ask. Field 6509 describes the data availability.
FIELD_CODES = {"last": "31", "bid": "84", "ask": "86"}
AVAILABILITY_CODE = "6509"

# The first letter of field 6509. The letters after it (snapshot, book) are not
# used here.
AVAILABILITY = {
    "R": "realtime",
    "D": "delayed",
    "Z": "frozen",
    "Y": "frozen_delayed",
    "N": "not_subscribed",
}

# IBKR prefixes a price with C when it is the previous session's close and
# with H when trading is halted. Thousands separators are accepted and dropped.
# NOTE: the separator form is a guess, because the fixtures only show prices
# below 1000.
_PRICE = re.compile(
    r"(?P<prefix>[CH]?)"
    r"(?P<number>-?(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.[0-9]+)?)",
    re.ASCII,
)


def request_codes(fields):
    """Return the ``fields`` query value for snapshot field names."""
    return ",".join([FIELD_CODES[name] for name in fields] + [AVAILABILITY_CODE])


def _price(raw, conid, name):
    """Return ``(decimal string, prefix)`` for one price field value."""
    if raw is None or raw == "":
        return None, ""
    if isinstance(raw, Decimal | int) and not isinstance(raw, bool):
        return format_decimal(raw), ""
    match = _PRICE.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        raise BrokerResponseInvalid(
            f"The IBKR snapshot for conid {conid} has an invalid {name} price "
            f"{str(raw)[:20]!r}. Check the gateway version, then retry."
        )
    return format_decimal(match["number"].replace(",", "")), match["prefix"]


def parse_snapshot_entry(entry, conid, fields):
    """Return the quote for ``conid`` from ``entry``, or None while preflight."""
    codes = [FIELD_CODES[name] for name in fields]
    if not any(code in entry for code in [*codes, AVAILABILITY_CODE]):
        return None

    quote = {"conid": conid}
    prefixes = set()
    for name, code in zip(fields, codes, strict=True):
        quote[name], prefix = _price(entry.get(code), conid, name)
        prefixes.add(prefix)
    quote["previous_close"] = "C" in prefixes
    quote["halted"] = "H" in prefixes

    availability = entry.get(AVAILABILITY_CODE)
    quote["availability"] = None
    if isinstance(availability, str) and availability:
        quote["availability"] = AVAILABILITY.get(availability[0], "unknown")

    updated = entry.get("_updated")
    valid_time = isinstance(updated, int) and not isinstance(updated, bool)
    quote["updated_ms"] = updated if valid_time else None
    return quote
