"""Trading gates that do not need the broker: mode, account, preview, approval.

Each gate raises an ``OrderError`` with its own code, so a refusal names
the first gate that failed. The submit workflow calls them in the order
docs/orders.md lists; the cancel workflow uses only the account allow-list.
"""

from audit.correlation import ACCOUNT, correlation_hash
from audit.keys import correlation_key
from ibkr_gateway.runtime_config import get_runtime_config
from orders.errors import FourEyesDenied, GateRefused, NotFound
from orders.models import Approval, OrderPreview
from orders.models.choices import Mode
from orders.trading_halt import current_state


def account_hash(account_id):
    """Return the correlation hash the audit log stores for ``account_id``."""
    key = correlation_key(get_runtime_config())
    return correlation_hash(key, ACCOUNT, account_id)


def trading():
    return get_runtime_config().trading


def mode_settings(mode):
    settings = trading()
    return settings.paper if mode == Mode.PAPER else settings.live


def mode_of_account(account_id):
    """Return the mode whose allow-list contains ``account_id``, or raise."""
    mode = trading().mode_of_account(account_id)
    if mode is None:
        raise GateRefused(
            "The account is on neither the paper nor the live allow-list. "
            "Use an account listed in paper_trading.allowed_accounts or "
            "live_trading.allowed_accounts.",
            code="account_not_allowed",
        )
    return mode


def require_enabled(mode):
    if not mode_settings(mode).enabled:
        raise GateRefused(
            f"{mode.capitalize()} trading is disabled. An operator enables it "
            f"with {mode}_trading.enabled = true in the runtime config.",
            code=f"{mode}_trading_disabled",
        )


def require_account(mode, account_id):
    if account_id not in mode_settings(mode).allowed_accounts:
        raise GateRefused(
            f"The account is not on the {mode} allow-list. Use an account "
            f"listed in {mode}_trading.allowed_accounts.",
            code="account_not_allowed",
        )


def load_preview(preview_id):
    preview = OrderPreview.objects.filter(preview_id=preview_id).first()
    if preview is None:
        raise NotFound(
            f"No preview has id {preview_id}. Create one with POST "
            "/api/v1/orders/preview.",
            code="preview_not_found",
        )
    return preview


def require_preview(preview, mode, account_hash, now):
    if preview.mode != mode or preview.account_hash != account_hash:
        raise GateRefused(
            f"Preview {preview.preview_id} was made for another account or "
            "mode. Preview the order for this account.",
            code="preview_account_mismatch",
        )
    if preview.expires_at <= now:
        raise GateRefused(
            f"Preview {preview.preview_id} expired at "
            f"{preview.expires_at:%Y-%m-%dT%H:%M:%SZ}. Preview the order again "
            "and have the new preview approved.",
            code="preview_expired",
            status=409,
        )


def load_approval(approval_id):
    approval = Approval.objects.filter(approval_id=approval_id).first()
    if approval is None:
        raise NotFound(
            f"No approval has id {approval_id}. Ask an approver to grant one "
            "with POST /api/v1/approvals.",
            code="approval_not_found",
        )
    return approval


def require_approval(approval, preview, account_hash, submitter, four_eyes, now):
    """Refuse an approval that does not allow ``submitter`` to send ``preview``."""
    if approval.preview_id != preview.preview_id:
        raise GateRefused(
            f"Approval {approval.approval_id} belongs to another preview. Each "
            "order (and each bracket) needs the approval of its own preview.",
            code="approval_preview_mismatch",
        )
    if approval.account_hash != account_hash:
        raise GateRefused(
            f"Approval {approval.approval_id} is for another account.",
            code="approval_account_mismatch",
        )
    if approval.status == Approval.CONSUMED:
        raise GateRefused(
            f"Approval {approval.approval_id} was already used for an order. "
            "Preview the order again and get a new approval.",
            code="approval_consumed",
            status=409,
        )
    if approval.status == Approval.RESERVED:
        raise GateRefused(
            f"Approval {approval.approval_id} is held by another request in "
            "flight. Wait for that request to finish.",
            code="approval_reserved",
            status=409,
        )
    if approval.expires_at <= now:
        raise GateRefused(
            f"Approval {approval.approval_id} expired at "
            f"{approval.expires_at:%Y-%m-%dT%H:%M:%SZ}. Ask for a new approval.",
            code="approval_expired",
            status=409,
        )
    if four_eyes and approval.granted_by_person == submitter.person:
        raise FourEyesDenied()


def reserve_approval(approval, record_id):
    """Reserve ``approval`` for a request by a conditional update, or refuse."""
    updated = Approval.objects.filter(
        approval_id=approval.approval_id, status=Approval.ACTIVE
    ).update(status=Approval.RESERVED, reserved_by=str(record_id))
    if updated != 1:
        raise GateRefused(
            f"Approval {approval.approval_id} was taken by another request "
            "a moment ago. Get a new approval.",
            code="approval_consumed",
            status=409,
        )


def release_approval(approval_id, record_id):
    Approval.objects.filter(
        approval_id=approval_id, status=Approval.RESERVED, reserved_by=str(record_id)
    ).update(status=Approval.ACTIVE, reserved_by="")


def consume_approval(approval_id, record_id, now):
    Approval.objects.filter(approval_id=approval_id, reserved_by=str(record_id)).update(
        status=Approval.CONSUMED, consumed_at=now
    )


def require_not_halted():
    state = current_state()
    if state.halted:
        raise GateRefused(
            "Trading is halted. An operator resumes it with 'manage.py "
            "trading resume --reason TEXT'; cancels still work.",
            code="trading_halted",
            status=409,
        )
