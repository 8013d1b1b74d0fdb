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
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", DocsView.as_view(), name="api-docs"),
    re_path(r"", EndpointNotFoundView.as_view(), name="api-not-found"),
]
