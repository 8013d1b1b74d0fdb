"""Audit events for the admin's own reads, and the row and chain status it shows.

Every admin view of audit data appends one event in the shape of a REST or
CLI read: the actor is the signed-in user, the operation names the view and
the metadata says what was looked at. When that event cannot be written the
view responds 503 instead of showing the data unaudited.
"""

import hmac
import json
import logging

from django.db import connection
from django.db.models import Max
from django.http import HttpResponse

import audit
from audit.chain import GENESIS_MAC
from audit.envelope import ALLOW, COMPLETED, DENIED, DENY, REFUSE, REFUSED
from audit.errors import AuditUnavailable
from audit.keys import verification_keys
from audit.models import AuditEvent, VerificationRun
from audit.reader import EVENT_COLUMN_NAMES
from audit.verifier import (
    MAC_MISMATCH,
    PAYLOAD_INVALID,
    PROJECTION_MISMATCH,
    UNKNOWN_KEY_ID,
    check_row,
)
from ibkr_gateway.runtime_config import ConfigError, get_runtime_config

logger = logging.getLogger(__name__)

# The verifier compares text columns as bytes, so damaged UTF-8 is reported
# rather than raised; casting to BLOB returns them as bytes.
_ROW_AS_BYTES_SQL = (
    "SELECT seq, "
    + ", ".join(f"CAST({name} AS BLOB)" for name in EVENT_COLUMN_NAMES[1:])
    + " FROM audit_events WHERE seq = %s"
)


class AuditWriteFailed(Exception):
    """The admin's own audit event could not be written; carries a 503 page."""

    def __init__(self, response):
        super().__init__("admin audit event not written")
        self.response = response


def user_actor(request):
    """Return the audit actor of the signed-in admin user."""
    return {"kind": "user", "id": f"user:{request.user.get_username()}"}


def record(
    request,
    event_type,
    operation,
    metadata,
    *,
    decision=ALLOW,
    outcome=COMPLETED,
    error_code=None,
    account_id=None,
):
    """Append the event of one admin view, or raise ``AuditWriteFailed``."""
    try:
        audit.log_event(
            event_type,
            operation=operation,
            actor=user_actor(request),
            decision=decision,
            outcome=outcome,
            error_code=error_code,
            account_id=account_id,
            request_id=getattr(request, "request_id", None),
            metadata=metadata,
        )
    except AuditUnavailable as exc:
        logger.error(
            "admin request %s responded with 503: its audit event was not written (%s)",
            getattr(request, "request_id", None),
            exc,
        )
        raise AuditWriteFailed(
            HttpResponse(str(exc), status=503, content_type="text/plain")
        ) from exc


def record_denied(request, event_type, operation, metadata):
    """Append a deny/denied event for a view the user lacks permission for."""
    record(
        request,
        event_type,
        operation,
        metadata,
        decision=DENY,
        outcome=DENIED,
        error_code="permission_denied",
    )


def record_refused(request, event_type, operation, metadata, error_code, **kwargs):
    """Append a refuse/refused event for a request rejected on its input."""
    record(
        request,
        event_type,
        operation,
        metadata,
        decision=REFUSE,
        outcome=REFUSED,
        error_code=error_code,
        **kwargs,
    )


def _fetch_row_bytes(seq):
    with connection.cursor() as cursor:
        cursor.execute(_ROW_AS_BYTES_SQL, [seq])
        return cursor.fetchone()


def _previous_mac(seq):
    if seq <= 1:
        return GENESIS_MAC
    return AuditEvent.objects.filter(seq=seq - 1).values_list("mac", flat=True).first()


def row_chain_status(event):
    """Return ``(mac_status, link_status)`` texts for one row of the log.

    The MAC is recomputed with the verification keys, as ``audit verify``
    does. The link compares the row's ``prev_mac`` with the stored MAC of
    the row before, which ``audit verify`` checks for the whole chain.
    """
    row = _fetch_row_bytes(event.seq)
    config = get_runtime_config()
    # MAX(seq) reads one entry of the primary key; ORDER BY ... LIMIT 1 shows
    # up as a scan in query plans.
    newest = AuditEvent.objects.aggregate(newest=Max("seq"))["newest"]
    newest_key_id = (
        AuditEvent.objects.filter(seq=newest).values_list("key_id", flat=True).first()
    )
    try:
        keys = verification_keys(
            config, current_key_id=newest_key_id or config.audit.key_id
        )
    except ConfigError as exc:
        logger.error("row chain status of seq %s not checked: %s", event.seq, exc)
        return "MAC not checked: a verification key is missing.", ""
    keys_by_id = {key_id.encode(): key for key_id, key in keys.items()}

    # Passing the row's own prev_mac isolates the MAC check from the link.
    reason = check_row(row, event.seq, row[13], keys_by_id)
    if reason is None:
        mac_status = "MAC valid; the projection columns match the payload."
    elif reason == MAC_MISMATCH:
        mac_status = "MAC invalid: the row was changed after it was signed."
    elif reason == PROJECTION_MISMATCH:
        mac_status = "MAC valid, but the projection columns differ from the payload."
    elif reason == UNKNOWN_KEY_ID:
        mac_status = (
            f"MAC not checked: no verification key for key id {event.key_id!r}."
        )
    elif reason == PAYLOAD_INVALID:
        mac_status = "MAC not checked: the payload is not a JSON object."
    else:
        mac_status = f"MAC not checked: {reason}."

    previous = _previous_mac(event.seq)
    if previous is None:
        link_status = f"Link broken: seq {event.seq - 1} is missing."
    elif hmac.compare_digest(previous.encode(), (event.prev_mac or "").encode()):
        link_status = (
            "Linked to the genesis MAC."
            if event.seq == 1
            else f"Linked to seq {event.seq - 1}."
        )
    else:
        link_status = (
            f"Link broken: prev_mac differs from the MAC of seq {event.seq - 1}."
        )
    return mac_status, link_status


def payload_view(event):
    """Return ``(pretty_payload, redactions)`` of an event for the detail page."""
    try:
        payload = json.loads(event.payload)
    except (TypeError, ValueError):
        return event.payload, []
    pretty = json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False)
    redactions = payload.get("redactions") if isinstance(payload, dict) else None
    if not isinstance(redactions, list):
        redactions = []
    return pretty, [entry for entry in redactions if isinstance(entry, dict)]


def chain_banner():
    """Return the change list banner: the latest finished verification run."""
    finished = (
        VerificationRun.objects.filter(finished_at__isnull=False)
        .order_by("-finished_at", "-pk")
        .first()
    )
    pending = VerificationRun.objects.filter(finished_at__isnull=True).exists()
    if finished is None:
        status, css = "Not verified yet", "unverified"
    elif finished.error:
        status, css = f"Verification failed: {finished.error}", "failed"
    elif finished.chain_valid:
        status, css = "Chain verified", "valid"
    else:
        status, css = f"Chain broken at seq {finished.first_break_seq}", "broken"
    return {"status": status, "css": css, "run": finished, "pending": pending}
