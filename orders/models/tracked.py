"""Orders the gateway placed, their bracket groups and the live backlog.

These tables keep the raw account id because cancel, modify and status
calls must name the account at the broker.
"""

from django.db import models

from orders.models.choices import Leg, Lifecycle, Mode
from orders.models.idempotency import IdempotencyRecord


class OrderGroup(models.Model):
    """A bracket: one parent order and its take-profit and stop-loss children."""

    mode = models.CharField(
        max_length=8,
        choices=Mode.choices,
        verbose_name="mode",
        help_text="Paper or live.",
    )
    account_hash = models.CharField(
        max_length=64,
        verbose_name="account hash",
        help_text="Correlation hash of the account.",
    )
    parent_coid = models.CharField(
        max_length=40,
        unique=True,
        verbose_name="parent cOID",
        help_text="cOID of the parent; the children end in -tp and -sl.",
    )
    lifecycle = models.CharField(
        max_length=10,
        choices=Lifecycle.choices,
        default=Lifecycle.WORKING,
        verbose_name="lifecycle",
        help_text="Working until every leg is final.",
    )
    created_at = models.DateTimeField(
        verbose_name="created at", help_text="When the bracket was placed (UTC)."
    )

    class Meta:
        db_table = "orders_group"
        verbose_name = "order group"
        verbose_name_plural = "order groups"

    def __str__(self):
        return f"bracket {self.parent_coid}"


class TrackedOrder(models.Model):
    """Fields shared by paper and live orders."""

    account_id = models.CharField(
        max_length=32,
        verbose_name="account id",
        help_text="Raw broker account id, needed for cancel, modify and status calls.",
    )
    account_hash = models.CharField(
        max_length=64,
        db_index=True,
        verbose_name="account hash",
        help_text="Correlation hash of the account, as in the audit log.",
    )
    broker_order_id = models.CharField(
        max_length=32,
        verbose_name="broker order id",
        help_text="The broker's order id.",
    )
    coid = models.CharField(
        max_length=40,
        verbose_name="cOID",
        help_text="Client order id the gateway sent.",
    )
    leg = models.CharField(
        max_length=12,
        choices=Leg.choices,
        default=Leg.SINGLE,
        verbose_name="leg",
        help_text="Single order, or the role in a bracket.",
    )
    symbol = models.CharField(max_length=12, verbose_name="symbol", help_text="Symbol.")
    conid = models.BigIntegerField(verbose_name="conid", help_text="IBKR contract id.")
    side = models.CharField(max_length=4, verbose_name="side", help_text="BUY or SELL.")
    order_type = models.CharField(
        max_length=4, verbose_name="order type", help_text="LMT, MKT or STP."
    )
    quantity = models.DecimalField(
        max_digits=20,
        decimal_places=8,
        verbose_name="quantity",
        help_text="Ordered quantity.",
    )
    price = models.DecimalField(
        max_digits=20,
        decimal_places=8,
        null=True,
        blank=True,
        verbose_name="price",
        help_text="Limit or stop price; empty for a market order.",
    )
    tif = models.CharField(
        max_length=4, verbose_name="time in force", help_text="DAY or GTC."
    )
    status = models.CharField(
        max_length=32,
        verbose_name="broker status",
        help_text="Last IBKR status seen, verbatim.",
    )
    lifecycle = models.CharField(
        max_length=10,
        choices=Lifecycle.choices,
        default=Lifecycle.WORKING,
        db_index=True,
        verbose_name="lifecycle",
        help_text="Working, filled, cancelled, refused or unknown.",
    )
    filled_quantity = models.DecimalField(
        max_digits=20,
        decimal_places=8,
        default=0,
        verbose_name="filled quantity",
        help_text="Quantity filled so far.",
    )
    average_price = models.DecimalField(
        max_digits=20,
        decimal_places=8,
        null=True,
        blank=True,
        verbose_name="average fill price",
        help_text="Average price of the fills so far.",
    )
    created_at = models.DateTimeField(
        verbose_name="created at", help_text="When the order was placed (UTC)."
    )
    updated_at = models.DateTimeField(
        verbose_name="updated at", help_text="When a change was last observed (UTC)."
    )

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.side} {self.quantity} {self.symbol} ({self.status})"


class PaperOrder(TrackedOrder):
    """An order the gateway placed on a paper account."""

    group = models.ForeignKey(
        OrderGroup,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="paper_legs",
        verbose_name="bracket",
        help_text="The bracket this order belongs to, if any.",
    )
    record = models.ForeignKey(
        IdempotencyRecord,
        on_delete=models.PROTECT,
        related_name="paper_orders",
        verbose_name="idempotency record",
        help_text="The submit that placed the order.",
    )

    class Meta:
        db_table = "orders_paper_order"
        verbose_name = "paper order"
        verbose_name_plural = "paper orders"
        constraints = [
            models.UniqueConstraint(
                fields=["account_id", "broker_order_id"],
                name="orders_paper_order_unique_broker_id",
            )
        ]


class LiveOrder(TrackedOrder):
    """An order the gateway placed on a live account."""

    group = models.ForeignKey(
        OrderGroup,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="live_legs",
        verbose_name="bracket",
        help_text="The bracket this order belongs to, if any.",
    )
    record = models.ForeignKey(
        IdempotencyRecord,
        on_delete=models.PROTECT,
        related_name="live_orders",
        verbose_name="idempotency record",
        help_text="The submit that placed the order.",
    )

    class Meta:
        db_table = "orders_live_order"
        verbose_name = "live order"
        verbose_name_plural = "live orders"
        constraints = [
            models.UniqueConstraint(
                fields=["account_id", "broker_order_id"],
                name="orders_live_order_unique_broker_id",
            )
        ]


class LiveOrderPending(models.Model):
    """The backlog of live orders that reconciliation still has to follow.

    Keyed by account id and broker order id; the raw account id is kept
    because the broker's status call needs it.
    """

    account_id = models.CharField(
        max_length=32,
        verbose_name="account id",
        help_text="Raw broker account id, needed for the status call.",
    )
    broker_order_id = models.CharField(
        max_length=32,
        verbose_name="broker order id",
        help_text="The broker's order id.",
    )
    order = models.OneToOneField(
        LiveOrder,
        on_delete=models.CASCADE,
        related_name="pending",
        verbose_name="live order",
        help_text="The tracked order.",
    )
    last_status = models.CharField(
        max_length=32,
        verbose_name="last status",
        help_text="Last IBKR status seen, verbatim.",
    )
    last_polled_at = models.DateTimeField(
        null=True,
        blank=True,
        verbose_name="last polled at",
        help_text="When reconciliation last asked the broker (UTC).",
    )
    added_at = models.DateTimeField(
        verbose_name="added at", help_text="When the order joined the backlog (UTC)."
    )
    why_held = models.CharField(
        max_length=200,
        blank=True,
        verbose_name="why held",
        help_text="IBKR's hold reason of an Inactive order that is still working.",
    )
    not_found_count = models.PositiveIntegerField(
        default=0,
        verbose_name="passes not found",
        help_text="Consecutive reconcile passes in which the broker did not "
        "know the order; reset when it is seen again.",
    )

    class Meta:
        db_table = "live_orders_pending"
        verbose_name = "pending live order"
        verbose_name_plural = "pending live orders"
        constraints = [
            models.UniqueConstraint(
                fields=["account_id", "broker_order_id"],
                name="live_orders_pending_key",
            )
        ]
        indexes = [models.Index(fields=["last_polled_at"])]

    def __str__(self):
        return f"live order {self.broker_order_id} ({self.last_status})"
