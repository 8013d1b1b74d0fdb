"""Models of the order side: previews, approvals, idempotency, orders, halt."""

from orders.models.approvals import Approval
from orders.models.halt import (
    MAX_REASON_LENGTH,
    SINGLETON_ID,
    TradingHalt,
    TradingHaltChange,
)
from orders.models.idempotency import IdempotencyRecord
from orders.models.lease import ReconcileLease
from orders.models.previews import OrderPreview
from orders.models.reconcile_health import ReconcileHealth
from orders.models.tracked import (
    LiveOrder,
    LiveOrderPending,
    OrderGroup,
    PaperOrder,
)

__all__ = [
    "MAX_REASON_LENGTH",
    "SINGLETON_ID",
    "Approval",
    "IdempotencyRecord",
    "LiveOrder",
    "LiveOrderPending",
    "OrderGroup",
    "OrderPreview",
    "PaperOrder",
    "ReconcileHealth",
    "ReconcileLease",
    "TradingHalt",
    "TradingHaltChange",
]
