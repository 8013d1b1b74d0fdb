"""Read-only admin pages of approvals, idempotency records, orders and leases.

Lists and searches use the account's correlation hash, never the raw
account id. The raw id appears only on a row's own page, because an operator
resolving an order at the broker needs it.
"""

from django.contrib import admin

from orders.admin_base import ReadOnlyAdmin
from orders.models import (
    Approval,
    IdempotencyRecord,
    LiveOrder,
    LiveOrderPending,
    OrderGroup,
    PaperOrder,
    ReconcileLease,
)


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = (
        "approval_id",
        "created_at",
        "status",
        "preview",
        "account_hash",
        "granted_by",
        "expires_at",
        "consumed_at",
    )
    list_filter = ("status",)
    list_select_related = ("preview",)
    search_fields = ("approval_id", "preview__preview_id", "granted_by", "reserved_by")
    search_help_text = (
        "Exact approval id, preview id, granting principal (user:NAME, token:N) "
        "or reserving idempotency record id."
    )


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "operation",
        "status",
        "principal",
        "key",
        "coid",
        "broker_order_id",
        "symbol",
        "account_hash",
    )
    list_filter = ("mode", "action", "status")
    search_fields = (
        "id",
        "key",
        "coid",
        "broker_order_id",
        "principal",
        "preview_id",
        "approval_id",
    )
    search_help_text = (
        "Exact record id, idempotency key, cOID, broker order id, principal, "
        "preview id or approval id."
    )


class TrackedOrderAdmin(ReadOnlyAdmin):
    """Columns shared by the paper and live order pages."""

    list_display = (
        "id",
        "created_at",
        "broker_order_id",
        "coid",
        "leg",
        "symbol",
        "side",
        "order_type",
        "quantity",
        "price",
        "status",
        "lifecycle",
        "filled_quantity",
        "account_hash",
        "group",
    )
    list_filter = ("lifecycle", "leg", "side", "order_type")
    list_select_related = ("group",)
    search_fields = ("broker_order_id", "coid", "account_hash", "record__id")
    search_help_text = (
        "Exact broker order id, cOID, account hash or idempotency record id."
    )


@admin.register(PaperOrder)
class PaperOrderAdmin(TrackedOrderAdmin):
    pass


@admin.register(LiveOrder)
class LiveOrderAdmin(TrackedOrderAdmin):
    pass


@admin.register(OrderGroup)
class OrderGroupAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "mode",
        "parent_coid",
        "lifecycle",
        "account_hash",
    )
    list_filter = ("mode", "lifecycle")
    search_fields = ("parent_coid", "account_hash")
    search_help_text = "Exact parent cOID or account hash."


@admin.register(LiveOrderPending)
class LiveOrderPendingAdmin(ReadOnlyAdmin):
    list_display = (
        "broker_order_id",
        "order",
        "last_status",
        "why_held",
        "not_found_count",
        "last_polled_at",
        "added_at",
        "account_hash",
    )
    list_select_related = ("order",)
    search_fields = ("broker_order_id", "order__coid", "order__account_hash")
    search_help_text = "Exact broker order id, cOID or account hash."

    @admin.display(description="account hash", ordering="order__account_hash")
    def account_hash(self, row):
        # The backlog keeps only the raw account id; its order has the hash.
        return row.order.account_hash


@admin.register(ReconcileLease)
class ReconcileLeaseAdmin(ReadOnlyAdmin):
    list_display = ("name", "holder", "acquired_at", "expires_at")
