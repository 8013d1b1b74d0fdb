"""The ``IbkrBackend`` interface that every broker backend implements.

Each method returns plain JSON-ready data in the shapes documented below, the
same for every backend, and raises only ``BrokerError`` subclasses. Prices,
quantities and amounts are decimal strings in plain notation with trailing
zeros removed (``"193.1"``, ``"100"``), never floats. Conids are ints and
account ids are strings.
"""

from abc import ABC, abstractmethod
from decimal import Decimal, InvalidOperation

from ibkr_gateway.broker.errors import (
    BrokerAccountNotFound,
    BrokerContractNotFound,
    BrokerError,
    BrokerLoginRequired,
    BrokerOrderNotFound,
    BrokerOrderRejected,
    BrokerPromptRefused,
    BrokerRateLimited,
    BrokerReplyExpired,
    BrokerRequestRejected,
    BrokerResponseInvalid,
    BrokerResponseTooLarge,
    BrokerTimeout,
    BrokerTlsError,
    BrokerUnavailable,
    DuplicateClientOrderId,
    InvalidBrokerRequest,
    MarketDataNotReady,
)

__all__ = [
    "BrokerAccountNotFound",
    "BrokerContractNotFound",
    "BrokerError",
    "BrokerLoginRequired",
    "BrokerOrderNotFound",
    "BrokerOrderRejected",
    "BrokerPromptRefused",
    "BrokerRateLimited",
    "BrokerReplyExpired",
    "BrokerRequestRejected",
    "BrokerResponseInvalid",
    "BrokerResponseTooLarge",
    "BrokerTimeout",
    "BrokerTlsError",
    "BrokerUnavailable",
    "DuplicateClientOrderId",
    "IbkrBackend",
    "InvalidBrokerRequest",
    "MarketDataNotReady",
    "format_decimal",
]

# Snapshot field names that market_snapshot() accepts, in output order.
SNAPSHOT_FIELDS = ("last", "bid", "ask")


def format_decimal(value):
    """Format a Decimal, int or numeric string as a plain decimal string.

    Returns None for None. Raises TypeError for a float, because a float has
    already lost the exact value, and ValueError for text that is not a number,
    NaN or infinity.
    """
    if value is None:
        return None
    if isinstance(value, float | bool):
        raise TypeError(f"expected a Decimal, int or str, got {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    if number.is_zero():
        return "0"
    return format(number.normalize(), "f")


class IbkrBackend(ABC):
    """Read access to one IBKR login, usable as a context manager."""

    @abstractmethod
    def session_status(self):
        """Return the brokerage session state.

        ``{"authenticated": bool, "connected": bool, "competing": bool,
        "message": str, "server_name": str | None, "server_version": str | None}``.
        A gateway that runs but is logged out returns ``authenticated: False``
        here, while the other reads raise ``BrokerLoginRequired``.
        """

    @abstractmethod
    def tickle(self):
        """Keep the session alive and return its state.

        ``{"authenticated": bool, "connected": bool, "competing": bool,
        "collision": bool, "sso_expires_ms": int | None}``.
        """

    @abstractmethod
    def accounts(self):
        """Return the accounts of the session.

        A list of ``{"account_id": str, "title": str | None, "currency":
        str | None, "paper": bool, "type": str | None}``.
        """

    @abstractmethod
    def positions(self, account_id):
        """Return the open positions of ``account_id``.

        A list of ``{"account_id", "conid": int, "symbol", "description",
        "asset_class", "currency", "quantity", "average_cost", "market_price",
        "market_value", "unrealized_pnl", "realized_pnl"}``. Amounts are
        decimal strings or None. Raises ``InvalidBrokerRequest`` for a
        malformed id and ``BrokerAccountNotFound`` for an unknown one.
        """

    @abstractmethod
    def search_contracts(self, symbol):
        """Return the contracts listed under ``symbol`` (``[A-Z0-9.]{1,12}``).

        A list of ``{"conid": int, "symbol": str, "name": str | None,
        "description": str | None, "sec_types": [str]}``, empty when none match.
        """

    @abstractmethod
    def market_snapshot(self, conids, fields=SNAPSHOT_FIELDS):
        """Return one quote per conid, in the order of ``conids``.

        ``fields`` is a subset of ``SNAPSHOT_FIELDS``. Each quote is
        ``{"conid": int, <field>: str | None, ..., "previous_close": bool,
        "halted": bool, "availability": str | None, "updated_ms": int | None}``.
        ``previous_close`` means a requested price, normally the last, is the
        prior session's close, and ``halted`` that trading is halted. IBKR
        marks both with a prefix that is removed from the price string.
        ``availability`` is realtime, delayed, frozen, frozen_delayed,
        not_subscribed or unknown. Raises ``MarketDataNotReady`` while IBKR
        is still subscribing.
        """

    # Orders. A ticket is the order a caller wants placed:
    # ``{"coid": str, "conid": int, "side": "BUY" | "SELL", "order_type":
    # "LMT" | "MKT" | "STP", "quantity": str, "price": str | None, "tif":
    # "DAY" | "GTC", "parent_coid": str | None}``. ``price`` is the limit
    # price of LMT, the trigger price of STP and None for MKT; quantities and
    # prices are decimal strings.
    #
    # An order state is what the broker reports about one order:
    # ``{"broker_order_id": str, "account_id": str | None, "coid": str |
    # None, "conid": int | None, "symbol": str | None, "side": str | None,
    # "order_type": str | None, "quantity": str | None, "filled_quantity":
    # str | None, "remaining_quantity": str | None, "average_price": str |
    # None, "price": str | None, "status": str, "why_held": str | None,
    # "parent_broker_order_id": str | None}``. ``status`` is IBKR's status
    # string verbatim (``Submitted``, ``Filled``, ...); mapping it to a
    # lifecycle is the caller's job (``ibkr_gateway.broker.order_status``).
    #
    # Order POSTs are never retried by a backend. A timeout or lost response
    # raises, and the caller finds the order by its cOID.

    @abstractmethod
    def submit_orders(self, account_id, tickets):
        """Place ``tickets`` (one order, or a bracket parent and its children).

        Bracket children name their parent by ``parent_coid``. Returns
        ``{"orders": [{"coid": str, "broker_order_id": str, "status": str}],
        "confirmed_prompts": [{"message_id": str, "text": str}]}`` with one
        entry per ticket in ticket order. Raises ``BrokerPromptRefused`` for
        a question off the allow-list, ``BrokerOrderRejected``,
        ``DuplicateClientOrderId``, ``BrokerReplyExpired``, and the
        transport errors. After ``BrokerTimeout`` or ``BrokerUnavailable``
        the order may or may not have been placed.
        """

    @abstractmethod
    def modify_order(self, account_id, broker_order_id, ticket):
        """Change a working order to ``ticket`` (same conid and side).

        Returns ``{"broker_order_id": str, "status": str,
        "confirmed_prompts": [...]}``. Raises as ``submit_orders`` does, and
        ``BrokerOrderNotFound``.
        """

    @abstractmethod
    def cancel_order(self, account_id, broker_order_id):
        """Ask the broker to cancel an order.

        Returns ``{"broker_order_id": str, "status": str}`` where status is
        the broker's response, often ``PendingCancel``. Raises
        ``BrokerOrderNotFound`` and ``BrokerOrderRejected`` (for example for
        a filled order).
        """

    @abstractmethod
    def order_status(self, account_id, broker_order_id):
        """Return the order state of one order, or raise ``BrokerOrderNotFound``."""

    @abstractmethod
    def live_orders(self, account_id=None):
        """Return the order states the broker lists for this session.

        Only orders of ``account_id`` when it is given. The list may be empty
        or partial right after a login; callers must not read a missing order
        as cancelled.
        """

    def find_order_by_coid(self, account_id, coid):
        """Return the order state whose cOID is ``coid``, or None."""
        for order in self.live_orders(account_id):
            if order["coid"] == coid:
                return order
        return None

    @abstractmethod
    def whatif(self, account_id, ticket):
        """Return the broker's estimate for ``ticket`` without placing it.

        ``{"commission": str | None, "initial_margin_change": str | None,
        "maintenance_margin_change": str | None, "equity_change": str |
        None, "warning": str | None, "error": str | None}``.
        """

    def close(self):
        """Release connections, if the backend holds any."""
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
