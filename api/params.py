"""Query parameters of the API, validated into values or ``InvalidParameter`` (400).

Each endpoint names the parameters it accepts. An unknown or repeated
parameter is rejected rather than ignored, so a typo such as ``limt`` does
not silently return the default. The checks reuse those of the audit CLI
and of the broker layer, so both interfaces accept the same values.
"""

from argparse import ArgumentTypeError

from api.errors import InvalidParameter
from audit.arguments import aware_datetime, whole_number
from ibkr_gateway.broker.errors import InvalidBrokerRequest
from ibkr_gateway.broker.validation import validate_conids, validate_symbol


def check_known(request, allowed):
    """Raise ``InvalidParameter`` for a parameter not in ``allowed`` or given twice."""
    for name, values in request.query_params.lists():
        if name not in allowed:
            accepted = ", ".join(allowed) if allowed else "none"
            raise InvalidParameter(
                f"Query parameter {name!r} is not accepted here; this endpoint "
                f"accepts: {accepted}."
            )
        if len(values) > 1:
            raise InvalidParameter(
                f"Query parameter {name!r} is given more than once; give it once."
            )


def _text(request, name, example=None):
    """Return the text of ``name``, or None; ``example`` makes it required."""
    value = request.query_params.get(name)
    if value is None or value == "":
        if example is not None:
            raise InvalidParameter(
                f"Query parameter {name!r} is missing; give it, as in ?{example}."
            )
        return None
    return value


def bounded_int(request, name, *, default, minimum, maximum):
    """Return the whole number ``name``, from ``minimum`` to ``maximum``."""
    text = _text(request, name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidParameter(
            f"Query parameter {name}={text!r} is not a whole number."
        ) from None
    if not minimum <= value <= maximum:
        raise InvalidParameter(
            f"Query parameter {name}={value} is out of range; use {minimum} to "
            f"{maximum}."
        )
    return value


def sequence_number(request, name):
    """Return the ``seq`` value ``name`` (0 to 2**53 - 1), or None when absent."""
    text = _text(request, name)
    if text is None:
        return None
    try:
        return whole_number(text)
    except ArgumentTypeError as exc:
        raise InvalidParameter(f"Query parameter {name}: {exc}.") from None


def timestamp(request, name):
    """Return ``name`` as an aware UTC datetime (RFC 3339 with zone), or None."""
    text = _text(request, name)
    if text is None:
        return None
    try:
        return aware_datetime(text)
    except ArgumentTypeError as exc:
        raise InvalidParameter(f"Query parameter {name}: {exc}.") from None


def conids(request, name="conids"):
    """Return the comma-separated conids ``name`` as a list of ints."""
    text = _text(request, name, example=f"{name}=265598,272093")
    try:
        return validate_conids(text.split(","))
    except InvalidBrokerRequest as exc:
        raise InvalidParameter(f"Query parameter {name}: {exc.message}") from None


def symbol(request, name="symbol"):
    """Return the contract symbol ``name``, uppercased, such as ``AAPL``."""
    text = _text(request, name, example=f"{name}=AAPL")
    try:
        return validate_symbol(text.upper())
    except InvalidBrokerRequest as exc:
        raise InvalidParameter(f"Query parameter {name}: {exc.message}") from None
