"""Audit events of the order workflows, written through ``audit.log_event``.

Every event names the principal, the operation (``orders.live.submit``,
``orders.preview``, ...), the raw account id (stored only as its
correlation hash) and, for requests, the hash of the validated request
fields. Refusals record the error code; the message is not stored, because
it can quote request values.
"""

import audit
from audit.envelope import ALLOW, COMPLETED, FAILED

PREVIEW_CREATED = "order_preview_created"
PREVIEW_REFUSED = "order_preview_refused"
APPROVAL_GRANTED = "approval_granted"
APPROVAL_REFUSED = "approval_refused"
ORDER_REFUSED = "order_refused"
ORDER_REQUESTED = "order_requested"
ORDER_COMPLETED = "order_completed"
ORDER_FAILED = "order_failed"
ORDER_OUTCOME_UNKNOWN = "order_outcome_unknown"
ORDER_OUTCOME_RESOLVED = "order_outcome_resolved"
GROUP_LIFECYCLE_CHANGED = "order_group_lifecycle_changed"
LIFECYCLE_CHANGED = {
    "paper": "paper_order_lifecycle_changed",
    "live": "live_order_lifecycle_changed",
}


def _scopes(principal, required):
    if required is None:
        return None
    return {"required": list(required), "granted": sorted(principal.scopes)}


def allowed(
    event_type,
    principal,
    operation,
    *,
    account_id=None,
    required=None,
    input=None,
    output=None,
    metadata=None,
):
    """Append an allow/completed event as ``principal``."""
    return audit.log_event(
        event_type,
        operation=operation,
        actor=principal.actor,
        decision=ALLOW,
        outcome=COMPLETED,
        account_id=account_id,
        token_id=principal.token_id,
        scopes=_scopes(principal, required),
        request_id=principal.request_id,
        input=input,
        output=output,
        metadata=metadata,
    )


def refused(
    event_type,
    principal,
    operation,
    error,
    *,
    account_id=None,
    required=None,
    input=None,
    metadata=None,
):
    """Append the refuse or deny event of ``error`` (an ``OrderError``)."""
    return audit.log_event(
        event_type,
        operation=operation,
        actor=principal.actor,
        decision=error.decision,
        outcome=error.outcome,
        error_code=error.code,
        account_id=account_id,
        token_id=principal.token_id,
        scopes=_scopes(principal, required),
        request_id=principal.request_id,
        input=input,
        metadata={**(metadata or {}), "status": error.status},
    )


def failed(
    event_type,
    principal,
    operation,
    error_code,
    *,
    account_id=None,
    required=None,
    input=None,
    metadata=None,
):
    """Append an allow/failed event: the request was allowed but did not succeed."""
    return audit.log_event(
        event_type,
        operation=operation,
        actor=principal.actor,
        decision=ALLOW,
        outcome=FAILED,
        error_code=error_code,
        account_id=account_id,
        token_id=principal.token_id,
        scopes=_scopes(principal, required),
        request_id=principal.request_id,
        input=input,
        metadata=metadata,
    )
