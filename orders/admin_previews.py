"""Admin pages of order previews, with a page that grants an approval.

The approve page calls ``orders.approvals.grant`` as the signed-in user
(``user:<username>``). The permission ``orders.grant_approval`` counts as
the scope ``ibkr:approvals:create``, and every other check of ``grant``
applies unchanged: four-eyes keeps the person who made the preview from
approving it, and the submit later checks that the approver is not the
submitter.
"""

import logging

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from ibkr_gateway import scopes
from orders import approvals, events
from orders.admin_base import ReadOnlyAdmin, user_principal
from orders.errors import OperatorRequired, OrderError
from orders.models import OrderPreview

logger = logging.getLogger(__name__)

GRANT_PERMISSION = "orders.grant_approval"


class ApprovalForm(forms.Form):
    """The account and reason of an approval granted from the admin."""

    # Neither field is required here: approvals.grant validates both, and so
    # audits an invalid request as a refused approval.
    account_id = forms.CharField(
        required=False,
        label="Account id",
        widget=forms.TextInput(attrs={"size": 20, "autocomplete": "off"}),
        help_text=(
            "The IBKR account the preview was made for, such as DU1234567. It "
            "must match the preview's account hash."
        ),
    )
    reason = forms.CharField(
        required=False,
        label="Reason",
        widget=forms.TextInput(
            attrs={"size": 80, "maxlength": approvals.MAX_REASON_LENGTH}
        ),
        help_text=(
            f"Why you approve the order, at most {approvals.MAX_REASON_LENGTH} "
            "characters. It is stored with the approval and in the audit log."
        ),
    )


@admin.register(OrderPreview)
class OrderPreviewAdmin(ReadOnlyAdmin):
    list_display = (
        "preview_id",
        "created_at",
        "mode",
        "kind",
        "symbol",
        "notional",
        "created_by",
        "expires_at",
        "account_hash",
    )
    list_filter = ("mode", "kind")
    search_fields = ("preview_id", "created_by", "account_hash", "request_hash")
    search_help_text = (
        "Exact preview id, creating principal (user:NAME, token:N), account "
        "hash or request hash."
    )

    @admin.display(description="symbol")
    def symbol(self, preview):
        return preview.intent.get("symbol", "") if preview.intent else ""

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_approve"
        urls = [
            path(
                "<path:object_id>/approve/",
                self.admin_site.admin_view(self.approve_view),
                name=name,
            )
        ]
        # Before the default URLs, whose "<object_id>/<rest>" redirect would
        # otherwise catch this path.
        return urls + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_grant_approval": request.user.has_perm(GRANT_PERMISSION),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def approve_view(self, request, object_id):
        """Show the approval form of one preview and grant it on a valid POST."""
        # The permission comes first, so a user without it cannot learn
        # which preview ids exist.
        if not request.user.has_perm(GRANT_PERMISSION):
            if request.method == "POST":
                self._audit_denial(request, unquote(object_id))
            raise PermissionDenied(
                f"Approving a preview needs the permission {GRANT_PERMISSION}. "
                "Ask an administrator to grant it to your user."
            )

        preview = self.get_object(request, unquote(object_id))
        if preview is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, preview):
            # The page shows the preview, so it needs the right to view it.
            raise PermissionDenied(
                "Approving a preview from the admin also needs the permission "
                "to view previews. Ask an administrator to grant it."
            )

        form = ApprovalForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            principal = user_principal(request, {scopes.APPROVALS_CREATE})
            data = {
                "preview_id": str(preview.preview_id),
                "account_id": form.cleaned_data["account_id"],
                "reason": form.cleaned_data["reason"],
            }
            try:
                approval = approvals.grant(principal, data)
            except OrderError as error:
                # grant has audited the refusal before raising it.
                logger.info(
                    "Rejected approval of preview %s from the admin by %s: %s",
                    preview.preview_id,
                    principal.id,
                    error.code,
                )
                form.add_error(None, error.message)
            else:
                logger.info(
                    "Granted approval %s of preview %s from the admin by %s",
                    approval.approval_id,
                    preview.preview_id,
                    principal.id,
                )
                messages.success(
                    request,
                    f"Approval {approval.approval_id} granted for preview "
                    f"{preview.preview_id}. It expires at "
                    f"{approval.expires_at:%Y-%m-%d %H:%M:%S} UTC.",
                )
                return redirect(self._after_approval_url(request, preview))

        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Approve this preview",
            "preview": preview,
            "intent_items": sorted((preview.intent or {}).items()),
            "form": form,
        }
        return TemplateResponse(
            request, "admin/orders/orderpreview/approve.html", context
        )

    def _audit_denial(self, request, preview_id):
        """Audit an approval POST by a user without ``orders.grant_approval``."""
        principal = user_principal(request)
        error = OperatorRequired(
            f"Approving a preview from the admin needs the permission "
            f"{GRANT_PERMISSION}.",
            code="approver_required",
        )
        # Recorded as approvals.grant records a principal without the scope.
        # The event stores the typed fields only as the hash of the input.
        events.refused(
            events.APPROVAL_REFUSED,
            principal,
            approvals.OPERATION,
            error,
            required=[scopes.APPROVALS_CREATE],
            input={
                "preview_id": preview_id,
                "account_id": request.POST.get("account_id", ""),
                "reason": request.POST.get("reason", ""),
            },
        )
        logger.warning(
            "Denied approval of preview %.40s from the admin by %s: no %s permission",
            preview_id,
            principal.id,
            GRANT_PERMISSION,
        )

    def _after_approval_url(self, request, preview):
        if self.has_view_permission(request, preview):
            return reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                args=[preview.pk],
            )
        return reverse("admin:index")
