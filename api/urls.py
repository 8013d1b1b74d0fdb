"""URL routes under ``/api/``; the last one returns 404 for every other path.

Versioned endpoints take no trailing slash. Every route here leads to a
view with ``AuditedCallMixin``, so each response under ``/api/`` writes one
final audit event, including the 404 of an unknown path.
"""

from django.urls import include, path, re_path

from api.views.audit import AuditTailView, AuditVerifyView
from api.views.audit_export import AuditExportView
from api.views.broker import (
    AccountsView,
    ContractSearchView,
    HealthView,
    PositionsView,
    SnapshotView,
)
from api.views.orders import (
    ApprovalView,
    BracketPreviewView,
    HaltView,
    OrderListView,
    PreviewView,
    mode_views,
)
from api.views.public import DocsView, EndpointNotFoundView, SchemaView

v1 = [
    path("health", HealthView.as_view(), name="api-health"),
    path("accounts", AccountsView.as_view(), name="api-accounts"),
    path(
        "accounts/<str:account_id>/positions",
        PositionsView.as_view(),
        name="api-positions",
    ),
    path("marketdata/snapshot", SnapshotView.as_view(), name="api-snapshot"),
    path("contracts/search", ContractSearchView.as_view(), name="api-contracts"),
    path("audit/tail", AuditTailView.as_view(), name="api-audit-tail"),
    path("audit/verify", AuditVerifyView.as_view(), name="api-audit-verify"),
    path("audit/export", AuditExportView.as_view(), name="api-audit-export"),
    path("orders", OrderListView.as_view(), name="api-orders"),
    path("orders/preview", PreviewView.as_view(), name="api-orders-preview"),
    path(
        "orders/preview/bracket",
        BracketPreviewView.as_view(),
        name="api-orders-preview-bracket",
    ),
    path("approvals", ApprovalView.as_view(), name="api-approvals"),
    path("trading/halt", HaltView.as_view(), name="api-trading-halt"),
]
for _mode in ("paper", "live"):
    _views = mode_views(_mode)
    v1 += [
        path(f"orders/{_mode}", _views["submit"], name=f"api-orders-{_mode}"),
        path(
            f"orders/{_mode}/<str:broker_order_id>",
            _views["status"],
            name=f"api-orders-{_mode}-status",
        ),
        path(
            f"orders/{_mode}/<str:broker_order_id>/modify",
            _views["modify"],
            name=f"api-orders-{_mode}-modify",
        ),
        path(
            f"orders/{_mode}/<str:broker_order_id>/cancel",
            _views["cancel"],
            name=f"api-orders-{_mode}-cancel",
        ),
    ]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", DocsView.as_view(), name="api-docs"),
    re_path(r"", EndpointNotFoundView.as_view(), name="api-not-found"),
]
