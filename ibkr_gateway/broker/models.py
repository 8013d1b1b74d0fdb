"""Tables of ``SimulatedBackend``: accounts, contracts, positions, quotes, orders.

The ``0002_seed_simulated_data`` migration fills these tables with a paper
account and a second account. Editing rows changes what the simulated backend
returns. Only the simulated backend's order methods write orders and, for
fills, positions.
"""

from django.db import models

AMOUNT = {"max_digits": 20, "decimal_places": 8}


class Availability(models.TextChoices):
    REALTIME = "realtime", "Real-time"
    DELAYED = "delayed", "Delayed"
    FROZEN = "frozen", "Frozen"
    FROZEN_DELAYED = "frozen_delayed", "Frozen and delayed"
    NOT_SUBSCRIBED = "not_subscribed", "Not subscribed"


class SimulatedAccount(models.Model):
    """An IBKR account as the simulated backend lists it."""

    account_id = models.CharField(
        max_length=16,
        unique=True,
        verbose_name="account id",
        help_text="IBKR account id, such as DU1234567 for a paper account.",
    )
    title = models.CharField(
        max_length=100,
        verbose_name="title",
        help_text="Account title that IBKR shows, usually the holder's name.",
    )
    currency = models.CharField(
        max_length=3,
        default="USD",
        verbose_name="base currency",
        help_text="ISO 4217 code of the account's base currency.",
    )
    paper = models.BooleanField(
        default=True,
        verbose_name="paper account",
        help_text="Whether the account is a paper trading account.",
    )
    account_type = models.CharField(
        max_length=16,
        blank=True,
        verbose_name="account type",
        help_text="IBKR account type, such as DEMO for paper or INDIVIDUAL.",
    )

    class Meta:
        ordering = ["account_id"]
        verbose_name = "simulated account"

    def __str__(self):
        return self.account_id


class SimulatedContract(models.Model):
    """A contract that the simulated contract search returns."""

    conid = models.PositiveIntegerField(
        unique=True,
        verbose_name="conid",
        help_text="IBKR contract id, such as 265598 for AAPL on NASDAQ.",
    )
    symbol = models.CharField(
        max_length=12,
        db_index=True,
        verbose_name="symbol",
        help_text="Ticker symbol in uppercase, such as AAPL.",
    )
    name = models.CharField(
        max_length=100,
        verbose_name="company name",
        help_text="Issuer name, such as APPLE INC.",
    )
    description = models.CharField(
        max_length=100,
        blank=True,
        verbose_name="description",
        help_text="IBKR's description, which is the listing exchange for stocks.",
    )
    asset_class = models.CharField(
        max_length=8,
        default="STK",
        verbose_name="asset class",
        help_text="IBKR security type of the contract, such as STK.",
    )
    sec_types = models.CharField(
        max_length=100,
        default="STK",
        verbose_name="security types",
        help_text="Comma-separated security types listed under the symbol, "
        "such as STK,OPT.",
    )
    currency = models.CharField(
        max_length=3,
        default="USD",
        verbose_name="currency",
        help_text="ISO 4217 code of the trading currency.",
    )

    class Meta:
        ordering = ["id"]
        verbose_name = "simulated contract"

    def __str__(self):
        return f"{self.symbol} ({self.conid})"


class SimulatedPosition(models.Model):
    """An open position of a simulated account in one contract."""

    account = models.ForeignKey(
        SimulatedAccount,
        on_delete=models.CASCADE,
        related_name="positions",
        verbose_name="account",
        help_text="Account that holds the position.",
    )
    contract = models.ForeignKey(
        SimulatedContract,
        on_delete=models.PROTECT,
        related_name="positions",
        verbose_name="contract",
        help_text="Contract held.",
    )
    quantity = models.DecimalField(
        **AMOUNT,
        verbose_name="quantity",
        help_text="Signed number of shares or contracts, negative when short.",
    )
    average_cost = models.DecimalField(
        **AMOUNT,
        verbose_name="average cost",
        help_text="Average cost per share or contract, in the contract currency.",
    )
    realized_pnl = models.DecimalField(
        **AMOUNT,
        default=0,
        verbose_name="realized P&L",
        help_text="Realized profit or loss today, in the contract currency.",
    )

    class Meta:
        ordering = ["account", "contract__symbol", "contract__conid"]
        verbose_name = "simulated position"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "contract"],
                name="broker_simulated_position_unique",
            )
        ]

    def __str__(self):
        return f"{self.account} {self.contract.symbol} {self.quantity}"


class SimulatedQuote(models.Model):
    """The market data snapshot that the simulated backend returns for a contract."""

    contract = models.OneToOneField(
        SimulatedContract,
        on_delete=models.CASCADE,
        related_name="quote",
        verbose_name="contract",
        help_text="Contract quoted.",
    )
    last = models.DecimalField(
        **AMOUNT,
        null=True,
        blank=True,
        verbose_name="last price",
        help_text="Last traded price, empty when there is none.",
    )
    bid = models.DecimalField(
        **AMOUNT,
        null=True,
        blank=True,
        verbose_name="bid",
        help_text="Best bid price, empty when there is none.",
    )
    ask = models.DecimalField(
        **AMOUNT,
        null=True,
        blank=True,
        verbose_name="ask",
        help_text="Best ask price, empty when there is none.",
    )
    previous_close = models.BooleanField(
        default=False,
        verbose_name="last is previous close",
        help_text="Whether the last price is the previous session's close.",
    )
    halted = models.BooleanField(
        default=False,
        verbose_name="halted",
        help_text="Whether trading in the contract is halted.",
    )
    availability = models.CharField(
        max_length=16,
        choices=Availability.choices,
        default=Availability.REALTIME,
        verbose_name="availability",
        help_text="Market data availability that IBKR would report.",
    )
    updated_ms = models.BigIntegerField(
        null=True,
        blank=True,
        verbose_name="updated at (ms)",
        help_text="Time of the quote, in milliseconds since the Unix epoch. When "
        "empty, snapshots report the market clock's current time, so the quote "
        "never goes stale.",
    )

    class Meta:
        ordering = ["contract"]
        verbose_name = "simulated quote"

    def __str__(self):
        return f"{self.contract.symbol} last {self.last}"


class OrderSide(models.TextChoices):
    BUY = "BUY", "Buy"
    SELL = "SELL", "Sell"


class OrderType(models.TextChoices):
    LIMIT = "LMT", "Limit"
    MARKET = "MKT", "Market"
    STOP = "STP", "Stop"


class TimeInForce(models.TextChoices):
    DAY = "DAY", "Day"
    GTC = "GTC", "Good till cancelled"


class SimulatedOrder(models.Model):
    """An order placed with the simulated backend, with its fill progress."""

    account = models.ForeignKey(
        SimulatedAccount,
        on_delete=models.CASCADE,
        related_name="orders",
        verbose_name="account",
        help_text="Account that placed the order.",
    )
    contract = models.ForeignKey(
        SimulatedContract,
        on_delete=models.PROTECT,
        related_name="orders",
        verbose_name="contract",
        help_text="Contract traded.",
    )
    broker_order_id = models.CharField(
        max_length=20,
        unique=True,
        verbose_name="broker order id",
        help_text="Order id that the simulated broker assigned, a digit string "
        "such as 1000000001.",
    )
    coid = models.CharField(
        max_length=64,
        verbose_name="client order id",
        help_text="Client order id (cOID) that the caller chose, unique per account.",
    )
    side = models.CharField(
        max_length=4,
        choices=OrderSide.choices,
        verbose_name="side",
        help_text="BUY or SELL.",
    )
    order_type = models.CharField(
        max_length=3,
        choices=OrderType.choices,
        verbose_name="order type",
        help_text="LMT (limit), MKT (market) or STP (stop).",
    )
    quantity = models.DecimalField(
        **AMOUNT,
        verbose_name="quantity",
        help_text="Number of shares or contracts ordered, positive for both sides.",
    )
    price = models.DecimalField(
        **AMOUNT,
        null=True,
        blank=True,
        verbose_name="price",
        help_text="Limit price of a LMT order or trigger price of a STP order, in "
        "the contract currency. Empty for MKT.",
    )
    tif = models.CharField(
        max_length=3,
        choices=TimeInForce.choices,
        verbose_name="time in force",
        help_text="DAY or GTC (good till cancelled).",
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="children",
        verbose_name="parent order",
        help_text="Bracket parent that must fill before this order works; empty "
        "for an order that is not a bracket child.",
    )
    status = models.CharField(
        max_length=16,
        verbose_name="status",
        help_text="IBKR order status string, such as PreSubmitted, Submitted, "
        "PendingCancel, Filled or Cancelled.",
    )
    why_held = models.CharField(
        max_length=100,
        blank=True,
        verbose_name="why held",
        help_text="IBKR's reason for holding the order, empty when none.",
    )
    filled_quantity = models.DecimalField(
        **AMOUNT,
        default=0,
        verbose_name="filled quantity",
        help_text="Number of shares or contracts filled so far.",
    )
    average_price = models.DecimalField(
        **AMOUNT,
        null=True,
        blank=True,
        verbose_name="average fill price",
        help_text="Average price of the fills so far, in the contract currency. "
        "Empty before the first fill.",
    )
    observations = models.PositiveIntegerField(
        default=0,
        verbose_name="observations",
        help_text="Number of status reads of the order. Each read advances the "
        "order by at most one step.",
    )

    class Meta:
        ordering = ["broker_order_id"]
        verbose_name = "simulated order"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "coid"],
                name="broker_simulated_order_coid_unique",
            )
        ]

    def __str__(self):
        return f"{self.broker_order_id} {self.side} {self.quantity} {self.status}"
