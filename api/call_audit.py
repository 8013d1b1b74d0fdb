"""The final audit event of an API call, and its decision and outcome.

``finish_call`` is the only writer of ``api_request`` events, and the
audited view base calls it once per request, after the response is rendered
and before it is sent. When the event cannot be written, the response is
replaced by 503 ``audit_unavailable``, so no call returns its real result
unaudited.

Decision and outcome follow the response:

- 401 and 403: deny/denied.
- 5xx, and every broker error whatever its status: allow/failed.
- Other 4xx (400 invalid parameter, 404, 405, 409 unsafe export): refuse/refused.
- 2xx: allow/completed, or allow/failed when the view set a failure code.
"""

import hashlib
import logging

from django.core.exceptions import SuspiciousOperation

import audit
from api import errors
from api.calls import django_request
from audit.envelope import ALLOW, COMPLETED, DENIED, DENY, FAILED, REFUSE, REFUSED
from audit.errors import AuditUnavailable

logger = logging.getLogger(__name__)

EVENT_TYPE = "api_request"
ANONYMOUS = {"kind": "anonymous", "id": "anonymous"}


def decide(status, call):
    """Return ``(decision, outcome, error_code)`` for a response with ``status``."""
    if status in (401, 403):
        return DENY, DENIED, call.error_code or "permission_denied"
    if status >= 500 or call.broker_failure:
        return ALLOW, FAILED, call.error_code or "internal_error"
    if status >= 400:
        return REFUSE, REFUSED, call.error_code or "invalid_request"
    if call.failure_code:
        return ALLOW, FAILED, call.failure_code
    return ALLOW, COMPLETED, None


def _actor(call):
    if call.token is None:
        return ANONYMOUS
    return {"kind": "token", "id": f"token:{call.token.pk}"}


def _request_input(request):
    # Stored only as a SHA-256, so a reviewer holding the request can match it.
    try:
        query = sorted(
            [key, value] for key, values in request.GET.lists() for value in values
        )
    except SuspiciousOperation:
        # With too many query fields, the raw query string is hashed instead.
        query = request.META.get("QUERY_STRING", "")
    return {"method": request.method, "path": request.path, "query": query}


def _metadata(request, call, response):
    metadata = {"method": request.method, "status": response.status_code}
    match = getattr(request, "resolver_match", None)
    if match is not None:
        metadata["route"] = match.route
    if getattr(request, "client_request_id", ""):
        metadata["client_request_id"] = request.client_request_id
    if not response.streaming:
        metadata["response_sha256"] = hashlib.sha256(response.content).hexdigest()
    metadata.update(call.metadata)
    return metadata


def write_event(request, call, response):
    """Append the ``api_request`` event of ``call``, which ``response`` ends."""
    decision, outcome, error_code = decide(response.status_code, call)
    return audit.log_event(
        EVENT_TYPE,
        operation=call.operation,
        actor=_actor(call),
        decision=decision,
        outcome=outcome,
        error_code=error_code,
        account_id=call.account_id,
        token_id=call.token_id,
        scopes={"required": list(call.required_scopes), "granted": call.granted_scopes},
        request_id=getattr(request, "request_id", None),
        input=_request_input(request),
        metadata=_metadata(request, call, response),
    )


def finish_call(request, call, response):
    """Write the final event and return ``response``, or a 503 when that fails.

    Any failure of the write counts: ``AuditUnavailable`` from the writer,
    and also a missing key or an event the envelope rejects, which are
    logged with their traceback for an operator.
    """
    request = django_request(request)
    request_id = getattr(request, "request_id", None)
    try:
        write_event(request, call, response)
        return response
    except AuditUnavailable as exc:
        logger.error(
            "API request %s responded with 503: its audit event was not written (%s)",
            request_id,
            exc,
        )
    except Exception:
        logger.exception(
            "API request %s responded with 503: writing its audit event failed",
            request_id,
        )
    for release in call.on_discard:
        release()
    unavailable = AuditUnavailable()
    message = str(unavailable)
    if call.reached_broker:
        message = (
            "The order request was processed, but its final audit event could "
            "not be written. Do not send it again under a new key: retry with "
            "the same Idempotency-Key to read its result."
        )
    error = errors.ErrorDescription(
        unavailable.status,
        unavailable.code,
        message,
        {"Retry-After": str(unavailable.retry_after_seconds)},
    )
    return errors.error_response(request, error)
