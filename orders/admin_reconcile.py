"""Admin pages of reconciliation: per-mode health and the trouble report."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path
from django.views.decorators.http import require_safe

from orders import reconcile
from orders.admin_base import ReadOnlyAdmin
from orders.models import ReconcileHealth

# The default of trouble_report, passed by name so the page can state it.
MIN_NOT_FOUND_PASSES = 3


@admin.register(ReconcileHealth)
class ReconcileHealthAdmin(ReadOnlyAdmin):
    list_display = (
        "mode",
        "degraded_since",
        "reason",
        "failures",
        "next_attempt_at",
        "last_pass_at",
    )

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_report"
        urls = [
            path(
                "report/",
                self.admin_site.admin_view(require_safe(self.report_view)),
                name=name,
            )
        ]
        # Before the default URLs, whose "<object_id>/" pattern would
        # otherwise take "report/" as a mode.
        return urls + super().get_urls()

    def report_view(self, request):
        """Show ``orders.reconcile.trouble_report()`` to users who may view health."""
        if not self.has_view_permission(request):
            raise PermissionDenied(
                "The reconcile report needs the permission "
                "orders.view_reconcilehealth. Ask an administrator to grant it to "
                "your user."
            )
        report = reconcile.trouble_report(min_not_found=MIN_NOT_FOUND_PASSES)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Reconcile report",
            "report": report,
            "min_not_found": MIN_NOT_FOUND_PASSES,
            "has_trouble": any(report.values()),
        }
        return TemplateResponse(
            request, "admin/orders/reconcilehealth/report.html", context
        )
