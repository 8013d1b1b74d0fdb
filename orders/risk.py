"""Risk policy checks of an order intent, with the quote they rely on.

``evaluate`` runs the per-order checks in the documented gate order and
returns the facts it used (conid, quote, reference price, notional) for the
preview and the audit event. The counters across orders live in
``orders.counters``, because they must run inside the write-ahead
transaction.
"""

from dataclasses import dataclass
from decimal import Decimal

from ibkr_gateway import market
from orders.errors import InvalidOrder, RiskRefused
from orders.intent import decimal_text

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class RiskResult:
    """Facts the checks used: the contract, the quote and the notional."""

    conid: int
    asset_class: str
    reference_price: Decimal
    notional: Decimal
    quote: dict

    def as_dict(self):
        return {
            "conid": self.conid,
            "asset_class": self.asset_class,
            "reference_price": decimal_text(self.reference_price),
            "notional": decimal_text(self.notional),
            "quote": self.quote,
        }


def resolve_contract(backend, symbol):
    """Return ``(conid, asset_class)`` of the first contract listed under ``symbol``."""
    contracts = backend.search_contracts(symbol)
    if not contracts:
        raise InvalidOrder(
            f"Symbol {symbol} is not known to the broker. Check the symbol "
            "with GET /api/v1/contracts/search?symbol=...",
            code="unknown_symbol",
        )
    contract = contracts[0]
    sec_types = contract.get("sec_types") or ["STK"]
    return contract["conid"], sec_types[0]


def _check_static(intent, policy, asset_class):
    if intent.symbol not in policy.allowed_symbols:
        allowed = ", ".join(sorted(policy.allowed_symbols))
        raise RiskRefused(
            f"Symbol {intent.symbol} is not allowed by risk policy "
            f"{policy.policy_id}. Allowed: {allowed}.",
            code="symbol_not_allowed",
        )
    if asset_class not in policy.asset_classes:
        raise RiskRefused(
            f"Asset class {asset_class} is not allowed by risk policy "
            f"{policy.policy_id}.",
            code="asset_class_not_allowed",
        )
    if intent.order_type not in policy.order_types:
        raise RiskRefused(
            f"Order type {intent.order_type} is not allowed by risk policy "
            f"{policy.policy_id}; use {', '.join(sorted(policy.order_types))}.",
            code="order_type_not_allowed",
        )
    if intent.tif not in policy.time_in_force:
        raise RiskRefused(
            f"Time in force {intent.tif} is not allowed by risk policy "
            f"{policy.policy_id}; use {', '.join(sorted(policy.time_in_force))}.",
            code="tif_not_allowed",
        )
    if intent.quantity > policy.max_quantity:
        raise RiskRefused(
            f"Quantity {decimal_text(intent.quantity)} is over the limit of "
            f"{decimal_text(policy.max_quantity)} in risk policy {policy.policy_id}.",
            code="quantity_limit",
        )


def _quote_facts(quote, policy, now):
    """Return ``(reference_price, facts)`` or refuse a quote unfit for a collar."""
    facts = {
        "last": quote.get("last"),
        "bid": quote.get("bid"),
        "ask": quote.get("ask"),
        "updated_ms": quote.get("updated_ms"),
        "availability": quote.get("availability"),
    }
    if quote.get("halted"):
        raise RiskRefused(
            "Trading in this contract is halted, so no fresh price exists. "
            "Wait until it resumes.",
            code="quote_halted",
        )
    if quote.get("previous_close") or not market.is_open(now):
        raise RiskRefused(
            "The market is closed, so the price collar has no fresh quote. "
            "Submit while the market is open.",
            code="market_closed",
        )

    reference = None
    if quote.get("last") is not None:
        reference = Decimal(quote["last"])
    elif quote.get("bid") is not None and quote.get("ask") is not None:
        reference = (Decimal(quote["bid"]) + Decimal(quote["ask"])) / 2
    if reference is None or reference <= 0:
        raise RiskRefused(
            "No usable quote exists for this contract (no last price and no "
            "bid and ask). Check the market data subscription, then retry.",
            code="quote_missing",
        )

    updated_ms = quote.get("updated_ms")
    now_ms = int(now.timestamp() * 1000)
    max_age_ms = policy.quote_max_age_seconds * 1000
    if updated_ms is None or now_ms - updated_ms > max_age_ms:
        age = "unknown" if updated_ms is None else f"{(now_ms - updated_ms) // 1000} s"
        raise RiskRefused(
            f"The quote is stale (age {age}, limit "
            f"{policy.quote_max_age_seconds} s). Retry when fresh market data "
            "arrives.",
            code="quote_stale",
        )
    return reference, facts


def _order_price(intent, quote, reference):
    if intent.limit_price is not None:
        return intent.limit_price
    # A market order is valued at the side of the book it would take.
    book = quote.get("ask") if intent.side == "BUY" else quote.get("bid")
    return Decimal(book) if book is not None else reference


def _check_collar(intent, policy, reference):
    if intent.limit_price is None:
        return
    distance = abs(intent.limit_price - reference) / reference * HUNDRED
    if distance > policy.price_collar_percent:
        raise RiskRefused(
            f"Price {decimal_text(intent.limit_price)} is "
            f"{decimal_text(round(distance, 2))}% from the reference price "
            f"{decimal_text(reference)}, outside the collar of "
            f"{decimal_text(policy.price_collar_percent)}% in risk policy "
            f"{policy.policy_id}. Use a price closer to the market.",
            code="price_collar",
        )


def _check_bracket_band(intent, reference):
    """Refuse exits on the wrong side of the entry, which would fill at once."""
    entry = intent.limit_price if intent.limit_price is not None else reference
    low, high = intent.stop_loss_price, intent.take_profit_price
    if intent.side == "SELL":
        low, high = high, low
    if low < entry < high:
        return
    raise RiskRefused(
        f"The bracket's exits must lie on either side of the entry price "
        f"{decimal_text(entry)}: for a BUY the stop loss below it and the take "
        "profit above it, for a SELL the other way round.",
        code="invalid_bracket",
    )


def evaluate(intent, policy, backend, now=None):
    """Run the per-order checks and return a ``RiskResult``, or raise.

    Raises ``InvalidOrder`` for an unknown symbol and ``RiskRefused`` with
    the failing check's code otherwise. Broker errors propagate.
    """
    if now is None:
        now = market.now()
    if intent.symbol not in policy.allowed_symbols:
        _check_static(intent, policy, "STK")
    conid, asset_class = resolve_contract(backend, intent.symbol)
    _check_static(intent, policy, asset_class)

    (quote,) = backend.market_snapshot([conid])
    reference, facts = _quote_facts(quote, policy, now)

    # Notional comes before the collar, as in the documented gate order; the
    # quote is read first because a market order's notional needs it.
    notional = intent.quantity * _order_price(intent, quote, reference)
    if notional > policy.max_notional:
        raise RiskRefused(
            f"Notional {decimal_text(notional)} is over the per-order limit of "
            f"{decimal_text(policy.max_notional)} in risk policy {policy.policy_id}. "
            "Reduce the quantity.",
            code="notional_limit",
        )
    _check_collar(intent, policy, reference)
    if intent.is_bracket:
        _check_bracket_band(intent, reference)
    return RiskResult(conid, asset_class, reference, notional, facts)
