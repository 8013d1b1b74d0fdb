"""Parse and validate the JSON body of an order request into exact values.

Prices arrive as JSON strings and quantities as strings or integers. A JSON
number with a fraction or exponent is rejected rather than read as a float,
because a float has already lost the exact value. ``request_fields``
returns the validated fields whose canonical JSON the idempotency check
hashes.
"""

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal

from audit import canonical
from ibkr_gateway.broker.validation import ACCOUNT_ID_PATTERN, SYMBOL_PATTERN
from orders.errors import InvalidOrder

MAX_BODY_BYTES = 16 * 1024
MAX_CLIENT_CONTEXT_BYTES = 8 * 1024
MAX_PRICE_DECIMALS = 8
MAX_QUANTITY = Decimal(10) ** 9
SIDES = ("BUY", "SELL")
ORDER_TYPES = ("LMT", "MKT", "STP")
TIMES_IN_FORCE = ("DAY", "GTC")


# Plain decimal notation in ASCII digits: no exponent, sign other than minus,
# spaces, underscores or leading zeros, so what a client sends is exactly
# what the gateway reads. A minus is accepted here so that the range checks
# can report "greater than zero".
DECIMAL_PATTERN = re.compile(r"-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,8})?", re.ASCII)
# Integers beyond this lose exactness in the canonical JSON of audit events.
MAX_JSON_INTEGER = 2**53 - 1


class _NumberTooLarge(ValueError):
    """A JSON integer outside the range the audit log's canonical JSON keeps."""


def _parse_int(text):
    value = int(text)
    if abs(value) > MAX_JSON_INTEGER:
        raise _NumberTooLarge(text[:20])
    return value


class _FloatLiteral(str):
    """A JSON number with a fraction or exponent, kept as text to be refused."""


@dataclass(frozen=True)
class OrderIntent:
    """One validated order, or a bracket when both exit prices are set."""

    account_id: str
    symbol: str
    side: str
    quantity: Decimal
    order_type: str
    limit_price: Decimal | None
    tif: str
    take_profit_price: Decimal | None = None
    stop_loss_price: Decimal | None = None

    @property
    def is_bracket(self):
        return self.take_profit_price is not None

    @property
    def exit_side(self):
        return "SELL" if self.side == "BUY" else "BUY"

    @property
    def order_count(self):
        """Orders this intent places: three legs for a bracket."""
        return 3 if self.is_bracket else 1

    def fields(self):
        """Return the order fields as JSON-ready values (decimals as strings)."""
        result = {
            "symbol": self.symbol,
            "side": self.side,
            "quantity": decimal_text(self.quantity),
            "order_type": self.order_type,
            "limit_price": decimal_text(self.limit_price),
            "tif": self.tif,
        }
        if self.is_bracket:
            result["take_profit_price"] = decimal_text(self.take_profit_price)
            result["stop_loss_price"] = decimal_text(self.stop_loss_price)
        return result


def decimal_text(value):
    """Return ``value`` as a plain decimal string without trailing zeros."""
    if value is None:
        return None
    value = Decimal(value)
    if value.is_zero():
        return "0"
    return format(value.normalize(), "f")


def parse_body(raw):
    """Return the JSON object in ``raw`` bytes, or raise ``InvalidOrder``."""
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidOrder(
            f"The request body is {len(raw)} bytes, over the limit of "
            f"{MAX_BODY_BYTES}. Send only the documented fields and keep "
            "client_context short.",
            code="request_too_large",
            status=413,
        )
    try:
        data = json.loads(
            raw.decode("utf-8"),
            parse_float=_FloatLiteral,
            parse_int=_parse_int,
            parse_constant=_refuse_constant,
        )
    except _NumberTooLarge:
        raise InvalidOrder(
            f"The request body contains an integer beyond {MAX_JSON_INTEGER}. "
            "Send large numbers as strings inside client_context, and "
            "quantities within the policy limit.",
            code="number_too_large",
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidOrder(
            f"The request body is not valid JSON ({exc}). Send a JSON object "
            "with Content-Type: application/json.",
            code="malformed_json",
        ) from None
    if not isinstance(data, dict):
        raise InvalidOrder(
            "The request body must be a JSON object, such as "
            '{"account_id": "DU1234567", ...}.',
            code="malformed_json",
        )
    return data


def _refuse_constant(name):
    raise json.JSONDecodeError(f"{name} is not a number", name, 0)


def check_fields(data, required, optional=()):
    """Refuse a body with missing or unknown fields, naming them."""
    missing = [name for name in required if name not in data]
    if missing:
        raise InvalidOrder(
            f"Field {missing[0]} is missing. Add it to the request body.",
            code="missing_field",
        )
    allowed = set(required) | set(optional)
    unknown = sorted(name for name in data if name not in allowed)
    if unknown:
        shown = unknown[0][:40]
        raise InvalidOrder(
            f"Field {shown!r} is not accepted here. Allowed fields: "
            f"{', '.join(sorted(allowed))}.",
            code="unknown_field",
        )


def account_id(value, name="account_id"):
    if not isinstance(value, str) or not ACCOUNT_ID_PATTERN.fullmatch(value):
        raise InvalidOrder(
            f"{name} must be an IBKR account id such as DU1234567 or U1234567.",
            code="invalid_account_id",
        )
    return value


def uuid_value(value, name):
    """Return ``value`` as a UUID, or refuse it naming the field."""
    if isinstance(value, str) and len(value) <= 36:
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise InvalidOrder(
        f"{name} must be a UUID as the gateway returned it.", code=f"invalid_{name}"
    )


def safe_account_id(data):
    """Return the body's account id when it is well formed, else None.

    Refusal events hash only a well-formed id, so malformed input never
    reaches the audit log's account column.
    """
    value = data.get("account_id") if isinstance(data, dict) else None
    if not isinstance(value, str) or not ACCOUNT_ID_PATTERN.fullmatch(value):
        return None
    return value


def choice(value, name, allowed):
    if not isinstance(value, str) or value.upper() not in allowed:
        raise InvalidOrder(
            f"{name} must be one of {', '.join(allowed)}.",
            code=f"invalid_{name}",
        )
    return value.upper()


def symbol(value):
    if not isinstance(value, str) or not SYMBOL_PATTERN.fullmatch(value.upper()):
        raise InvalidOrder(
            "symbol must be 1 to 12 letters, digits or dots, such as AAPL.",
            code="invalid_symbol",
        )
    return value.upper()


def quantity(value):
    """Return a positive whole quantity from an integer or a decimal string."""
    if isinstance(value, bool) or isinstance(value, _FloatLiteral):
        raise InvalidOrder(
            "quantity must be a positive whole number, sent as an integer or "
            'a string such as "10".',
            code="invalid_quantity",
        )
    number = _decimal(value, "quantity", "invalid_quantity")
    if number <= 0 or number != number.to_integral_value():
        raise InvalidOrder(
            f"quantity {decimal_text(number)} is not a positive whole number. "
            "Send a whole number of shares greater than zero.",
            code="invalid_quantity",
        )
    if number > MAX_QUANTITY:
        raise InvalidOrder(
            f"quantity {decimal_text(number)} is too large.",
            code="invalid_quantity",
        )
    return number


def price(value, name):
    """Return a positive price from a decimal string; JSON numbers are refused."""
    if isinstance(value, _FloatLiteral) or not isinstance(value, str):
        raise InvalidOrder(
            f'{name} must be a decimal string such as "190.25", not a JSON '
            "number: a float cannot carry an exact price.",
            code="invalid_price",
        )
    number = _decimal(value, name, "invalid_price")
    if number <= 0:
        raise InvalidOrder(
            f"{name} {value[:20]!r} must be greater than zero.", code="invalid_price"
        )
    if -number.as_tuple().exponent > MAX_PRICE_DECIMALS:
        raise InvalidOrder(
            f"{name} {value[:20]!r} has more than {MAX_PRICE_DECIMALS} decimal places.",
            code="invalid_price",
        )
    return number


def _decimal(value, name, code):
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if not isinstance(value, str) or not DECIMAL_PATTERN.fullmatch(value):
        shown = value[:20] if isinstance(value, str) else type(value).__name__
        raise InvalidOrder(
            f"{name} {shown!r} is not a plain decimal number. Send digits with "
            'an optional fraction, such as "10" or "190.25", without spaces, '
            "signs, exponents or leading zeros.",
            code=code,
        )
    return Decimal(value)


def client_context(value):
    """Return the free-form ``client_context`` object, at most 8 KiB."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidOrder(
            "client_context must be a JSON object.", code="invalid_client_context"
        )
    size = len(canonical.dumps(_plain(value)))
    if size > MAX_CLIENT_CONTEXT_BYTES:
        raise InvalidOrder(
            f"client_context is {size} bytes, over the limit of "
            f"{MAX_CLIENT_CONTEXT_BYTES}. Shorten it.",
            code="invalid_client_context",
        )
    return _plain(value)


def _plain(value):
    # Fractional numbers in client_context are free-form data, not prices,
    # so they are kept as their original text.
    if isinstance(value, _FloatLiteral):
        return str(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


ORDER_FIELDS = ("symbol", "side", "quantity", "order_type", "tif")
BRACKET_FIELDS = ("take_profit_price", "stop_loss_price")


def order_intent(data, *, bracket=False):
    """Return the ``OrderIntent`` described by the order fields of ``data``."""
    order_type = choice(data["order_type"], "order_type", ORDER_TYPES)
    limit_price = data.get("limit_price")
    if order_type == "MKT":
        if limit_price is not None:
            raise InvalidOrder(
                "limit_price is given for a market order. Remove it, or use "
                "order_type LMT.",
                code="invalid_price",
            )
    else:
        if limit_price is None:
            raise InvalidOrder(
                f"limit_price is missing; an {order_type} order needs it "
                "(the stop price for STP).",
                code="missing_field",
            )
        limit_price = price(limit_price, "limit_price")

    intent = OrderIntent(
        account_id=account_id(data["account_id"]),
        symbol=symbol(data["symbol"]),
        side=choice(data["side"], "side", SIDES),
        quantity=quantity(data["quantity"]),
        order_type=order_type,
        limit_price=limit_price,
        tif=choice(data["tif"], "tif", TIMES_IN_FORCE),
    )
    if not bracket:
        return intent

    if order_type == "STP":
        raise InvalidOrder(
            "A bracket parent must be LMT or MKT.", code="invalid_order_type"
        )
    for name in BRACKET_FIELDS:
        if name not in data:
            raise InvalidOrder(
                f"Field {name} is missing. A bracket needs both "
                "take_profit_price and stop_loss_price; a single order needs "
                "neither.",
                code="missing_field",
            )
    take_profit = price(data["take_profit_price"], "take_profit_price")
    stop_loss = price(data["stop_loss_price"], "stop_loss_price")
    buying = intent.side == "BUY"
    if (take_profit <= stop_loss) if buying else (take_profit >= stop_loss):
        raise InvalidOrder(
            "take_profit_price must be above stop_loss_price for a BUY "
            "bracket, and below it for a SELL bracket.",
            code="invalid_bracket",
        )
    if limit_price is not None:
        inside = stop_loss < limit_price < take_profit
        if not buying:
            inside = take_profit < limit_price < stop_loss
        if not inside:
            raise InvalidOrder(
                "limit_price must lie between stop_loss_price and take_profit_price.",
                code="invalid_bracket",
            )
    return OrderIntent(
        **{
            **intent.__dict__,
            "take_profit_price": take_profit,
            "stop_loss_price": stop_loss,
        }
    )


def request_hash(fields):
    """Return the SHA-256 hex of the canonical JSON of validated ``fields``."""
    return hashlib.sha256(canonical.dumps(fields)).hexdigest()
