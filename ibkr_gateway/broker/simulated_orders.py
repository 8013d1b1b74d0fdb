"""Order placement and deterministic order progress of ``SimulatedBackend``.

Orders live in ``SimulatedOrder`` rows. An order moves only when it is
observed (an ``order_status`` read of it, or a ``live_orders`` read that lists
it), by at most one step per observation, against the contract's
``SimulatedQuote``. Nothing here reads the wall clock, so the same calls on the
same rows give the same results.

Steps of one order:

- ``PreSubmitted`` becomes ``Submitted``, unless it is a bracket child whose
  parent is not ``Filled`` or a stop order whose trigger price the last price
  has not reached.
- A marketable ``Submitted`` order fills half its quantity (rounded down, when
  the quantity is at least 2), then the rest, and becomes ``Filled``.
- ``PendingCancel`` becomes ``Cancelled``.
"""

import re
from decimal import ROUND_DOWN, Decimal

from django.db import transaction

from ibkr_gateway.broker.base import format_decimal
from ibkr_gateway.broker.errors import (
    BrokerAccountNotFound,
    BrokerContractNotFound,
    BrokerOrderNotFound,
    BrokerOrderRejected,
    DuplicateClientOrderId,
    InvalidBrokerRequest,
)
from ibkr_gateway.broker.models import (
    AMOUNT,
    OrderSide,
    OrderType,
    SimulatedAccount,
    SimulatedContract,
    SimulatedOrder,
    SimulatedPosition,
    SimulatedQuote,
    TimeInForce,
)
from ibkr_gateway.broker.validation import validate_account_id, validate_conid

PRE_SUBMITTED = "PreSubmitted"
SUBMITTED = "Submitted"
PENDING_CANCEL = "PendingCancel"
FILLED = "Filled"
CANCELLED = "Cancelled"

# Orders in these states accept a modify. PendingCancel is still working for
# IBKR, but the simulation neither modifies nor fills an order being cancelled.
MODIFIABLE = frozenset({PRE_SUBMITTED, SUBMITTED})
FINAL = frozenset({FILLED, CANCELLED})

FIRST_BROKER_ORDER_ID = 1000000001
BROKER_ORDER_ID_PATTERN = re.compile(r"[1-9][0-9]{0,18}", re.ASCII)

# NOTE: a guessed bound and character set, because IBKR's documented limits on
# cOID length and characters were not checked. These keep ids printable.
COID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}", re.ASCII)
# Plain decimal notation only: Decimal() would also accept spaces, underscores,
# exponents and NaN.
DECIMAL_PATTERN = re.compile(r"[0-9]{1,40}(?:\.[0-9]{1,40})?", re.ASCII)

TICKET_KEYS = frozenset(
    {"coid", "conid", "side", "order_type", "quantity", "price", "tif", "parent_coid"}
)

# Decimal places and integer digits that a SimulatedOrder amount column stores.
AMOUNT_PLACES = AMOUNT["decimal_places"]
AMOUNT_INTEGER_DIGITS = AMOUNT["max_digits"] - AMOUNT["decimal_places"]
AMOUNT_QUANTUM = Decimal(1).scaleb(-AMOUNT_PLACES)

# The what-if estimate: a commission per share with a minimum, and margin as
# a share of the order's notional value.
COMMISSION_PER_SHARE = Decimal("0.005")
MINIMUM_COMMISSION = Decimal("1")
MARGIN_RATE = Decimal("0.25")


# Validation


def _shown(value):
    # A long value may be a credential pasted into the wrong field, so only
    # its length is shown.
    text = repr(value)
    if len(text) <= 24:
        return text
    return f"of {len(str(value))} characters"


def _parse_amount(value, name, coid):
    """Return ``value`` as a positive Decimal that an amount column can store."""
    if isinstance(value, bool | float) or not isinstance(value, str | int | Decimal):
        raise InvalidBrokerRequest(
            f"The {name} {_shown(value)} of order {coid!r} is invalid. Pass a "
            'decimal string such as "100" or "193.25".'
        )
    number = None
    if not isinstance(value, str) or DECIMAL_PATTERN.fullmatch(value):
        number = Decimal(value)
    if number is None or not number.is_finite() or number <= 0:
        raise InvalidBrokerRequest(
            f"The {name} {_shown(value)} of order {coid!r} is invalid. Pass a "
            'positive decimal string such as "100" or "193.25".'
        )

    integer_digits = max(number.adjusted() + 1, 0)
    if -number.normalize().as_tuple().exponent > AMOUNT_PLACES:
        raise InvalidBrokerRequest(
            f"The {name} {_shown(value)} of order {coid!r} has more than "
            f"{AMOUNT_PLACES} decimal places. Round it to {AMOUNT_PLACES} places."
        )
    if integer_digits > AMOUNT_INTEGER_DIGITS:
        raise InvalidBrokerRequest(
            f"The {name} {_shown(value)} of order {coid!r} is too large. Use a "
            f"value below 10^{AMOUNT_INTEGER_DIGITS}."
        )
    return number


def _validate_choice(value, name, choices, coid):
    if value not in choices:
        raise InvalidBrokerRequest(
            f"The {name} {_shown(value)} of order {coid!r} is invalid. Use one "
            f"of {', '.join(choices)}."
        )
    return value


def validate_coid(value):
    """Return ``value`` if it is a valid cOID, else raise ``InvalidBrokerRequest``."""
    if not isinstance(value, str) or not COID_PATTERN.fullmatch(value):
        raise InvalidBrokerRequest(
            f"Client order id {_shown(value)} is invalid. Use 1 to 64 ASCII "
            "letters, digits, dots, underscores, colons or hyphens."
        )
    return value


def validate_broker_order_id(value):
    """Return ``value`` (a digit string or int) as a broker order id string."""
    text = value
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    if not isinstance(text, str) or not BROKER_ORDER_ID_PATTERN.fullmatch(text):
        raise InvalidBrokerRequest(
            f"Broker order id {_shown(value)} is invalid. Use the digit string "
            'that submit_orders or live_orders returned, such as "1000000001".'
        )
    return text


def validate_ticket(ticket):
    """Return ``ticket`` with canonical values, or raise ``InvalidBrokerRequest``.

    Quantity and price become Decimals and conid an int. ``price`` is required
    for LMT and STP and must be absent or None for MKT. ``tif`` defaults to
    DAY and ``parent_coid`` to None.
    """
    if not isinstance(ticket, dict):
        raise InvalidBrokerRequest(
            f"Order ticket {_shown(ticket)} is invalid. Pass a dict with coid, "
            "conid, side, order_type, quantity, price and tif."
        )
    unknown = sorted(str(key) for key in ticket.keys() - TICKET_KEYS)
    if unknown:
        raise InvalidBrokerRequest(
            f"Order ticket field {_shown(unknown[0])} is unknown. Use only "
            f"{', '.join(sorted(TICKET_KEYS))}."
        )

    coid = validate_coid(ticket.get("coid"))
    conid = validate_conid(ticket.get("conid"))
    side = _validate_choice(ticket.get("side"), "side", OrderSide.values, coid)
    order_type = _validate_choice(
        ticket.get("order_type"), "order type", OrderType.values, coid
    )
    tif = _validate_choice(ticket.get("tif", "DAY"), "tif", TimeInForce.values, coid)
    quantity = _parse_amount(ticket.get("quantity"), "quantity", coid)

    price = ticket.get("price")
    if order_type == OrderType.MARKET and price is not None:
        raise InvalidBrokerRequest(
            f"Order {coid!r} is a MKT order with price {_shown(price)}. Remove "
            "the price, or make it a LMT order."
        )
    if order_type != OrderType.MARKET:
        if price is None:
            raise InvalidBrokerRequest(
                f"Order {coid!r} is a {order_type} order without a price. Pass "
                "the limit or trigger price as a decimal string."
            )
        price = _parse_amount(price, "price", coid)

    parent_coid = ticket.get("parent_coid")
    if parent_coid is not None:
        parent_coid = validate_coid(parent_coid)

    return {
        "coid": coid,
        "conid": conid,
        "side": side,
        "order_type": order_type,
        "quantity": quantity,
        "price": price,
        "tif": tif,
        "parent_coid": parent_coid,
    }


def validate_tickets(tickets):
    """Return ``tickets`` validated, with each ``parent_coid`` naming an earlier parent.

    A bracket has one level: a parent names no parent itself.
    """
    if isinstance(tickets, dict | str | bytes) or not hasattr(tickets, "__iter__"):
        raise InvalidBrokerRequest(
            f"Order tickets {_shown(tickets)} are invalid. Pass a list of ticket dicts."
        )
    validated = [validate_ticket(ticket) for ticket in tickets]
    if not validated:
        raise InvalidBrokerRequest(
            "No order tickets were given. Pass one ticket, or a bracket parent "
            "followed by its children."
        )

    parents = {}
    for ticket in validated:
        coid = ticket["coid"]
        if coid in parents:
            raise InvalidBrokerRequest(
                f"Client order id {coid!r} repeats in one request. Give each "
                "ticket its own cOID."
            )
        parent_coid = ticket["parent_coid"]
        is_top_level = parent_coid in parents and parents[parent_coid] is None
        if parent_coid is not None and not is_top_level:
            raise InvalidBrokerRequest(
                f"Order {coid!r} names parent {parent_coid!r}, which is not an "
                "earlier ticket without a parent in this request. List the "
                "bracket parent first."
            )
        parents[coid] = parent_coid
    return validated


# Lookups


def _account(account_id):
    try:
        return SimulatedAccount.objects.get(account_id=account_id)
    except SimulatedAccount.DoesNotExist:
        raise BrokerAccountNotFound(
            f"Account {account_id} is not among the simulated accounts. Use an "
            "account id that the accounts list returns."
        ) from None


def _contracts(conids):
    by_conid = SimulatedContract.objects.in_bulk(set(conids), field_name="conid")
    for conid in conids:
        if conid not in by_conid:
            raise BrokerContractNotFound(
                f"No contract has conid {conid}. Look the conid up with "
                "search_contracts()."
            )
    return by_conid


def _order(account, broker_order_id):
    # An order of another account is reported as not found, so a caller
    # cannot probe which ids other accounts use.
    orders = SimulatedOrder.objects.select_related("account", "contract", "parent")
    try:
        return orders.get(account=account, broker_order_id=broker_order_id)
    except SimulatedOrder.DoesNotExist:
        raise BrokerOrderNotFound(
            f"Account {account.account_id} has no order {broker_order_id}. List "
            "the orders with live_orders() and use an id from that list."
        ) from None


def _quote(contract):
    return SimulatedQuote.objects.filter(contract=contract).first()


def _next_broker_order_ids(count):
    # Callers run in a transaction, which on SQLite (BEGIN IMMEDIATE, see
    # settings) holds the write lock, so no other transaction takes the same
    # ids. Ids have ten digits up to 9999999999, so string order equals
    # numeric order.
    last = SimulatedOrder.objects.order_by("-broker_order_id").first()
    start = FIRST_BROKER_ORDER_ID
    if last is not None and last.broker_order_id.isdigit():
        start = max(start, int(last.broker_order_id) + 1)
    return [str(start + offset) for offset in range(count)]


# Order state


def order_state(order):
    """Return the order state shape of ``IbkrBackend`` for ``order``."""
    parent = order.parent
    return {
        "broker_order_id": order.broker_order_id,
        "account_id": order.account.account_id,
        "coid": order.coid,
        "conid": order.contract.conid,
        "symbol": order.contract.symbol,
        "side": order.side,
        "order_type": order.order_type,
        "quantity": format_decimal(order.quantity),
        "filled_quantity": format_decimal(order.filled_quantity),
        "remaining_quantity": format_decimal(order.quantity - order.filled_quantity),
        "average_price": format_decimal(order.average_price),
        "price": format_decimal(order.price),
        "status": order.status,
        "why_held": order.why_held or None,
        "parent_broker_order_id": parent.broker_order_id if parent else None,
    }


# Progress


def _stop_triggered(order, quote):
    # A buy stop triggers at or above its price and a sell stop at or below.
    if quote is None or quote.last is None:
        return False
    if order.side == OrderSide.BUY:
        return quote.last >= order.price
    return quote.last <= order.price


def _fill_price(order, quote):
    """Return the price ``order`` fills at now, or None when it is not marketable."""
    if quote is None or quote.halted:
        return None

    if order.side == OrderSide.BUY:
        market = quote.ask if quote.ask is not None else quote.last
    else:
        market = quote.bid if quote.bid is not None else quote.last
    if market is None:
        return None

    # A Submitted stop order has triggered and trades like a market order.
    if order.order_type != OrderType.LIMIT:
        return market
    if order.side == OrderSide.BUY:
        return market if market <= order.price else None
    return market if market >= order.price else None


def _fill_quantity(order):
    remaining = order.quantity - order.filled_quantity
    if order.filled_quantity == 0 and order.quantity >= 2:
        return (order.quantity / 2).to_integral_value(rounding=ROUND_DOWN)
    return remaining


def _apply_fill(account, contract, side, quantity, price):
    """Add a fill to the account's position and realized P&L in ``contract``."""
    delta = quantity if side == OrderSide.BUY else -quantity
    position = SimulatedPosition.objects.filter(
        account=account, contract=contract
    ).first()
    if position is None:
        SimulatedPosition.objects.create(
            account=account,
            contract=contract,
            quantity=delta,
            average_cost=price,
        )
        return

    old = position.quantity
    new = old + delta
    if old == 0 or (old > 0) == (delta > 0):
        # Opening or adding: the average cost is weighted by size.
        total_cost = abs(old) * position.average_cost + abs(delta) * price
        position.average_cost = (total_cost / abs(new)).quantize(AMOUNT_QUANTUM)
    else:
        # Reducing: the closed part realizes P&L against the average cost.
        closed = min(abs(delta), abs(old))
        direction = 1 if old > 0 else -1
        realized = closed * (price - position.average_cost) * direction
        position.realized_pnl += realized.quantize(AMOUNT_QUANTUM)
        if new != 0 and (new > 0) != (old > 0):
            # The fill went through zero, so the rest opened at this price.
            position.average_cost = price
    position.quantity = new
    position.save()


def _cancel_siblings(order):
    # One-cancels-all: the first fill of a bracket child cancels the others,
    # so the children never close more than the parent opened.
    siblings = SimulatedOrder.objects.filter(parent=order.parent_id).exclude(
        pk=order.pk
    )
    siblings.exclude(status__in=FINAL).update(status=CANCELLED)


def _fill(order, quote):
    if order.filled_quantity >= order.quantity:
        # A modify lowered the quantity to what had filled already.
        order.status = FILLED
        return

    price = _fill_price(order, quote)
    if price is None:
        return

    quantity = _fill_quantity(order)
    previous_cost = order.filled_quantity * (order.average_price or 0)
    order.filled_quantity += quantity
    average = (previous_cost + quantity * price) / order.filled_quantity
    order.average_price = average.quantize(AMOUNT_QUANTUM)
    _apply_fill(order.account, order.contract, order.side, quantity, price)
    if order.parent_id is not None:
        _cancel_siblings(order)

    if order.filled_quantity >= order.quantity:
        order.status = FILLED


def _release(order, quote):
    if order.parent_id is not None and order.parent.status != FILLED:
        return
    if order.order_type == OrderType.STOP and not _stop_triggered(order, quote):
        return
    order.status = SUBMITTED


def _advance(order):
    """Move ``order`` by at most one step and count the observation.

    The caller runs it inside a transaction, so the step and its fills commit
    together.
    """
    order.observations += 1
    if order.status == PENDING_CANCEL:
        order.status = CANCELLED
    elif order.status == PRE_SUBMITTED:
        _release(order, _quote(order.contract))
    elif order.status == SUBMITTED:
        _fill(order, _quote(order.contract))
    order.save()


# Operations


class SimulatedOrdersMixin:
    """Order methods of ``IbkrBackend`` for ``SimulatedBackend``, on ``SimulatedOrder``.

    Each method validates its arguments, then calls ``self._require_login()``,
    then reads the database. Every method that writes does so in one
    transaction.
    """

    def submit_orders(self, account_id, tickets):
        """Place ``tickets`` as ``PreSubmitted`` orders, all of them or none."""
        account_id = validate_account_id(account_id)
        tickets = validate_tickets(tickets)
        self._require_login()
        with transaction.atomic():
            account = _account(account_id)
            contracts = _contracts([ticket["conid"] for ticket in tickets])
            _reject_used_coids(account, [ticket["coid"] for ticket in tickets])

            placed = []
            by_coid = {}
            ids = _next_broker_order_ids(len(tickets))
            for ticket, broker_order_id in zip(tickets, ids, strict=True):
                order = SimulatedOrder.objects.create(
                    account=account,
                    contract=contracts[ticket["conid"]],
                    broker_order_id=broker_order_id,
                    coid=ticket["coid"],
                    side=ticket["side"],
                    order_type=ticket["order_type"],
                    quantity=ticket["quantity"],
                    price=ticket["price"],
                    tif=ticket["tif"],
                    parent=by_coid.get(ticket["parent_coid"]),
                    status=PRE_SUBMITTED,
                )
                placed.append(order)
                by_coid[order.coid] = order

        orders = [
            {
                "coid": order.coid,
                "broker_order_id": order.broker_order_id,
                "status": order.status,
            }
            for order in placed
        ]
        return {"orders": orders, "confirmed_prompts": []}

    def modify_order(self, account_id, broker_order_id, ticket):
        """Change a working order to ``ticket``, keeping its cOID and parent.

        The ticket's ``coid`` and ``parent_coid`` are validated but not
        applied. A quantity below the filled quantity, another conid or side,
        or an order that is not PreSubmitted or Submitted raises
        ``BrokerOrderRejected``.
        """
        account_id = validate_account_id(account_id)
        broker_order_id = validate_broker_order_id(broker_order_id)
        ticket = validate_ticket(ticket)
        self._require_login()
        with transaction.atomic():
            order = _order(_account(account_id), broker_order_id)
            _check_modify(order, ticket)

            # An order that becomes a stop order waits for its trigger again.
            becomes_stop = order.order_type != OrderType.STOP
            if ticket["order_type"] == OrderType.STOP and becomes_stop:
                order.status = PRE_SUBMITTED
            order.order_type = ticket["order_type"]
            order.quantity = ticket["quantity"]
            order.price = ticket["price"]
            order.tif = ticket["tif"]
            order.save()

        return {
            "broker_order_id": order.broker_order_id,
            "status": order.status,
            "confirmed_prompts": [],
        }

    def cancel_order(self, account_id, broker_order_id):
        """Mark a working order and its working bracket children ``PendingCancel``."""
        account_id = validate_account_id(account_id)
        broker_order_id = validate_broker_order_id(broker_order_id)
        self._require_login()
        with transaction.atomic():
            order = _order(_account(account_id), broker_order_id)
            if order.status in FINAL:
                raise BrokerOrderRejected(
                    f"Order {broker_order_id} is already {order.status}, so it "
                    "cannot be cancelled. Read the order's status before acting "
                    "on it again."
                )
            order.status = PENDING_CANCEL
            order.save()
            order.children.exclude(status__in=FINAL).update(status=PENDING_CANCEL)

        return {"broker_order_id": order.broker_order_id, "status": order.status}

    def order_status(self, account_id, broker_order_id):
        """Advance one order by a step and return its order state."""
        account_id = validate_account_id(account_id)
        broker_order_id = validate_broker_order_id(broker_order_id)
        self._require_login()
        with transaction.atomic():
            order = _order(_account(account_id), broker_order_id)
            _advance(order)
            return order_state(order)

    def live_orders(self, account_id=None):
        """Advance each listed order by a step and return the states by broker order id.

        Filled and cancelled orders are listed too, as IBKR lists the day's
        final orders. An unknown ``account_id`` raises ``BrokerAccountNotFound``.
        """
        if account_id is not None:
            account_id = validate_account_id(account_id)
        self._require_login()
        with transaction.atomic():
            orders = SimulatedOrder.objects.order_by("broker_order_id")
            if account_id is not None:
                orders = orders.filter(account=_account(account_id))

            states = []
            # Each order is loaded when its turn comes, because the fill of an
            # earlier one can have filled its parent or cancelled it.
            for pk in orders.values_list("pk", flat=True):
                related = SimulatedOrder.objects.select_related("account", "contract")
                order = related.get(pk=pk)
                _advance(order)
                states.append(order_state(order))
            return states

    def whatif(self, account_id, ticket):
        """Return a deterministic estimate of commission, margin and equity change.

        The commission is 0.005 per share with a minimum of 1, in the contract
        currency. Both margin changes are 25% of the notional value, for
        either side, and the notional uses the ticket price, or the last price
        for MKT. Without a last price the margins are None and ``error``
        contains the reason.
        """
        account_id = validate_account_id(account_id)
        ticket = validate_ticket(ticket)
        self._require_login()
        _account(account_id)
        contract = _contracts([ticket["conid"]])[ticket["conid"]]

        quantity = ticket["quantity"]
        commission = max(MINIMUM_COMMISSION, COMMISSION_PER_SHARE * quantity)
        result = {
            "commission": format_decimal(commission),
            "initial_margin_change": None,
            "maintenance_margin_change": None,
            "equity_change": format_decimal(-commission),
            "warning": None,
            "error": None,
        }

        price = ticket["price"]
        if ticket["order_type"] == OrderType.MARKET:
            quote = _quote(contract)
            price = quote.last if quote else None
        if price is None:
            result["error"] = (
                f"Conid {contract.conid} has no last price, so the margin of a "
                "MKT order cannot be estimated. Give a limit price, or add a "
                "last price to the quote."
            )
            return result

        margin = format_decimal(MARGIN_RATE * quantity * price)
        result["initial_margin_change"] = margin
        result["maintenance_margin_change"] = margin
        return result


def _reject_used_coids(account, coids):
    used = SimulatedOrder.objects.filter(account=account, coid__in=coids)
    used = set(used.values_list("coid", flat=True))
    for coid in coids:
        if coid in used:
            raise DuplicateClientOrderId(
                f"Account {account.account_id} already has an order with cOID "
                f"{coid!r}, so no order of this request was placed. Look it up "
                "with find_order_by_coid() before doing anything else.",
                coid=coid,
            )


def _check_modify(order, ticket):
    broker_order_id = order.broker_order_id
    if order.status not in MODIFIABLE:
        raise BrokerOrderRejected(
            f"Order {broker_order_id} is {order.status}, so it cannot be "
            "modified. Only PreSubmitted and Submitted orders can change."
        )
    if ticket["conid"] != order.contract.conid:
        raise BrokerOrderRejected(
            f"Order {broker_order_id} trades conid {order.contract.conid}, not "
            f"{ticket['conid']}. Cancel it and place a new order to trade "
            "another contract."
        )
    if ticket["side"] != order.side:
        raise BrokerOrderRejected(
            f"Order {broker_order_id} is a {order.side} order, not "
            f"{ticket['side']}. Cancel it and place a new order to change the "
            "side."
        )
    if ticket["quantity"] < order.filled_quantity:
        raise BrokerOrderRejected(
            f"Quantity {format_decimal(ticket['quantity'])} is below the "
            f"{format_decimal(order.filled_quantity)} already filled of order "
            f"{broker_order_id}. Use at least the filled quantity."
        )
