"""Approval workflow: a principal other than the submitter consents to a preview.

An approval is bound to one preview and one account, expires after the
risk policy's TTL, and is granted by a principal with
``ibkr:approvals:create`` or by an operator. With four-eyes on, the
approver may not be the person who made the preview; the submit checks
again that the approver is not the submitter.
"""

from datetime import timedelta

from django.db import transaction

from ibkr_gateway import market, scopes
from orders import events, gates, intent
from orders.errors import FourEyesDenied, GateRefused, InvalidOrder, OperatorRequired
from orders.models import Approval

OPERATION = "orders.approve"
MAX_REASON_LENGTH = 500


def approval_view(approval):
    return {
        "approval_id": str(approval.approval_id),
        "preview_id": str(approval.preview_id),
        "granted_by": approval.granted_by,
        "status": approval.status,
        "created_at": approval.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expires_at": approval.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def grant(principal, data):
    """Grant an approval for the preview and account in ``data``, or raise.

    ``data`` contains ``preview_id``, ``account_id`` and an optional
    ``reason``. Every refusal is audited before ``OrderError`` is raised.
    """
    required = [scopes.APPROVALS_CREATE]
    try:
        return _grant(principal, data, required)
    except (InvalidOrder, GateRefused, FourEyesDenied, OperatorRequired) as error:
        events.refused(
            events.APPROVAL_REFUSED,
            principal,
            OPERATION,
            error,
            account_id=intent.safe_account_id(data),
            required=required,
            input=data,
        )
        raise


def _grant(principal, data, required):
    if not (principal.has_scope(scopes.APPROVALS_CREATE) or principal.operator):
        raise OperatorRequired(
            "Granting an approval needs the scope ibkr:approvals:create or an "
            "operator.",
            code="approver_required",
        )
    intent.check_fields(data, ("preview_id", "account_id"), ("reason",))
    account_id = intent.account_id(data["account_id"])
    preview_id = intent.uuid_value(data["preview_id"], "preview_id")
    reason = data.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH:
        raise InvalidOrder(
            f"reason must be a string of at most {MAX_REASON_LENGTH} characters.",
            code="invalid_reason",
        )

    now = market.now()
    preview = gates.load_preview(preview_id)
    mode = preview.mode
    gates.require_preview(preview, mode, gates.account_hash(account_id), now)
    if (
        gates.mode_settings(mode).four_eyes
        and preview.created_by_person == principal.person
    ):
        raise FourEyesDenied(
            "Four-eyes is on: the person who made the preview may not approve "
            "it. Ask a colleague with ibkr:approvals:create to approve it."
        )

    if preview.approvals.exists():
        # One preview is one order: a second approval would let it be
        # placed twice under two idempotency keys.
        raise GateRefused(
            f"Preview {preview.preview_id} is already approved. Preview the "
            "order again to place another one.",
            code="preview_already_approved",
            status=409,
        )

    policy = gates.trading().policy_for(mode)
    expires_at = min(
        now + timedelta(seconds=policy.approval_ttl_seconds), preview.expires_at
    )
    # An approval without its event would be usable but invisible to
    # reviewers, so both commit together.
    with transaction.atomic():
        approval = Approval.objects.create(
            preview=preview,
            account_hash=preview.account_hash,
            granted_by=principal.id,
            granted_by_person=principal.person,
            reason=reason.strip(),
            created_at=now,
            expires_at=expires_at,
        )
        events.allowed(
            events.APPROVAL_GRANTED,
            principal,
            OPERATION,
            account_id=account_id,
            required=required,
            input=data,
            metadata={
                "approval_id": str(approval.approval_id),
                "preview_id": str(preview.preview_id),
                "mode": mode,
                "expires_at": expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "reason": approval.reason,
                "operator": principal.operator,
            },
        )
    return approval
