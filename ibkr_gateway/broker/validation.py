"""Validation of request values before they reach a URL or a query.

Each function returns the value in its canonical type or raises
``InvalidBrokerRequest`` naming the value and the expected form. The patterns
are ASCII-only and anchored, so no separator, dot segment or Unicode digit
can reach a path.
"""

import re

from ibkr_gateway.broker.errors import InvalidBrokerRequest

# Individual IBKR accounts are U plus digits, and paper accounts add a leading D.
# NOTE: advisor (F, DF) and other account prefixes are rejected until a
# backend needs them.
ACCOUNT_ID_PATTERN = re.compile(r"D?U[0-9]{5,9}", re.ASCII)
CONID_PATTERN = re.compile(r"[1-9][0-9]{0,9}", re.ASCII)
SYMBOL_PATTERN = re.compile(r"[A-Z0-9.]{1,12}", re.ASCII)
# Clients generated from IBKR's OpenAPI spec type conids as 32-bit ints.
MAX_CONID = 2**31 - 1
# NOTE: a guessed bound that keeps the query string short. IBKR's own limit on
# conids per snapshot request is not documented where checked.
MAX_SNAPSHOT_CONIDS = 100


def _shown(value):
    # A short invalid value is shown to help the caller. A long one may be a
    # credential pasted into the wrong place, so only its length is given.
    text = repr(value)
    if len(text) <= 16:
        return text
    return f"of {len(str(value))} characters"


def validate_account_id(value):
    if not isinstance(value, str) or not ACCOUNT_ID_PATTERN.fullmatch(value):
        raise InvalidBrokerRequest(
            f"Account id {_shown(value)} is invalid. Use an IBKR account id "
            "such as U1234567 or DU1234567."
        )
    return value


def validate_conid(value):
    """Return ``value``, an int or a digit string, as an int conid."""
    text = value
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    if (
        not isinstance(text, str)
        or not CONID_PATTERN.fullmatch(text)
        or int(text) > MAX_CONID
    ):
        raise InvalidBrokerRequest(
            f"Conid {_shown(value)} is invalid. Use a positive integer contract "
            "id such as 265598."
        )
    return int(text)


def validate_conids(values):
    """Return ``values`` as a list of int conids, 1 to ``MAX_SNAPSHOT_CONIDS``."""
    if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
        raise InvalidBrokerRequest(
            f"Conids {_shown(values)} are invalid. Pass a list of conids."
        )
    conids = [validate_conid(value) for value in values]
    if not 1 <= len(conids) <= MAX_SNAPSHOT_CONIDS:
        raise InvalidBrokerRequest(
            f"{len(conids)} conids were requested. Request 1 to "
            f"{MAX_SNAPSHOT_CONIDS} conids at a time."
        )
    if len(set(conids)) != len(conids):
        raise InvalidBrokerRequest("Conids repeat. Request each conid once.")
    return conids


def validate_symbol(value):
    if not isinstance(value, str) or not SYMBOL_PATTERN.fullmatch(value):
        raise InvalidBrokerRequest(
            f"Symbol {_shown(value)} is invalid. Use 1 to 12 uppercase letters, "
            "digits or dots, such as AAPL or BRK.B."
        )
    return value


def validate_fields(values, allowed):
    """Return ``values`` as a tuple of snapshot field names from ``allowed``."""
    if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
        raise InvalidBrokerRequest(
            f"Fields {_shown(values)} are invalid. Pass a list such as "
            f"{list(allowed)!r}."
        )
    fields = tuple(values)
    unknown = [name for name in fields if name not in allowed]
    if unknown or not fields:
        raise InvalidBrokerRequest(
            f"Fields {_shown(unknown or fields)} are invalid. Use one or more "
            f"of {', '.join(allowed)}."
        )
    return tuple(dict.fromkeys(fields))
