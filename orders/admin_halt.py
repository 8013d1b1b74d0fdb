"""Admin pages of the trading halt: its state, its history, and halt and resume.

Halt and resume go through ``orders.trading_halt`` as the signed-in user
(actor ``user:<username>``), so each change writes its history row and its
audit event with who and why. Each needs its own permission,
``orders.halt_trading`` or ``orders.resume_trading``.
"""

import logging

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from orders import trading_halt
from orders.admin_base import ReadOnlyAdmin, user_actor
from orders.models import MAX_REASON_LENGTH, TradingHalt, TradingHaltChange

logger = logging.getLogger(__name__)

HALT_PERMISSION = "orders.halt_trading"
RESUME_PERMISSION = "orders.resume_trading"

# Per action: the permission it needs, the function that applies it and the
# page title.
STATE_ACTIONS = {
    trading_halt.HALT: (HALT_PERMISSION, trading_halt.halt, "Halt trading"),
    trading_halt.RESUME: (RESUME_PERMISSION, trading_halt.resume, "Resume trading"),
}


class ReasonForm(forms.Form):
    """The reason that a halt or resume request records."""

    # Not required here, so that an empty reason gets the message of
    # trading_halt.validate_reason, the same one the CLI and the API show.
    reason = forms.CharField(
        required=False,
        strip=False,
        widget=forms.TextInput(attrs={"size": 80, "maxlength": MAX_REASON_LENGTH}),
        help_text=(
            f"Required: why you make this change, on one line of at most "
            f"{MAX_REASON_LENGTH} characters. It is stored with your user name "
            "in the audit log."
        ),
    )

    def clean_reason(self):
        try:
            return trading_halt.validate_reason(self.cleaned_data["reason"])
        except trading_halt.InvalidReason as error:
            message = str(error)
            raise forms.ValidationError(
                message[:1].upper() + message[1:] + "."
            ) from None


@admin.register(TradingHalt)
class TradingHaltAdmin(ReadOnlyAdmin):
    list_display = ("halted", "reason", "changed_by", "changed_at")

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        urls = [
            path(
                f"{action}/",
                self.admin_site.admin_view(self.state_view),
                {"action": action},
                name=f"{name}_{action}",
            )
            for action in STATE_ACTIONS
        ]
        # Before the default URLs, whose "<object_id>/" pattern would
        # otherwise take "halt/" as a primary key.
        return urls + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_halt": request.user.has_perm(HALT_PERMISSION),
            "can_resume": request.user.has_perm(RESUME_PERMISSION),
        }
        return super().changelist_view(request, extra_context)

    def state_view(self, request, action):
        """Show the reason form of ``action`` and apply it on a valid POST."""
        permission, apply, title = STATE_ACTIONS[action]
        actor = user_actor(request.user)
        request_id = getattr(request, "request_id", None)
        if not request.user.has_perm(permission):
            if request.method == "POST":
                # Audited as "manage.py trading" audits a denied halt or resume.
                trading_halt.record_denied(actor, action, request_id=request_id)
                logger.warning(
                    "Denied trading %s from the admin by %s: no %s permission",
                    action,
                    actor["id"],
                    permission,
                )
            raise PermissionDenied(
                f"{title} needs the permission {permission}. Ask an administrator "
                "to grant it to your user."
            )

        if request.method == "POST":
            form = ReasonForm(request.POST)
            if form.is_valid():
                change = apply(actor, form.cleaned_data["reason"], request_id)
                logger.info(
                    "Trading %s from the admin by %s (changed: %s)",
                    action,
                    actor["id"],
                    change.changed,
                )
                messages.add_message(request, *_outcome_message(change))
                return redirect(
                    reverse(
                        f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"
                    )
                )
        else:
            form = ReasonForm()

        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "action": action,
            "form": form,
            "state": trading_halt.current_state(),
        }
        return TemplateResponse(
            request, "admin/orders/tradinghalt/change_state.html", context
        )


def _outcome_message(change):
    state = "halted" if change.halted else "running"
    if change.changed:
        return messages.SUCCESS, f"Trading is now {state}. Reason: {change.reason}"
    return (
        messages.WARNING,
        f"Trading was already {state}, so nothing changed; the request is "
        "recorded in the history and the audit log.",
    )


@admin.register(TradingHaltChange)
class TradingHaltChangeAdmin(ReadOnlyAdmin):
    list_display = ("id", "changed_at", "halted", "changed", "changed_by", "reason")
    list_filter = ("halted", "changed")
    # Newest first, unlike the model's ordering, which follows the history.
    ordering = ("-id",)
    search_fields = ("changed_by", "event_id")
    search_help_text = (
        "Exact principal (such as user:NAME or cli:dev) or audit event id."
    )
