"""DRF exception handler: every exception in an API view becomes a JSON error.

Set as ``REST_FRAMEWORK["EXCEPTION_HANDLER"]``. It never returns None, so
DRF never re-raises, and it records the error code on the request's
``ApiCall`` for the final audit event. Broker errors keep their own code and
status; ``AuditUnavailable`` becomes 503 with ``Retry-After``; anything
unexpected becomes 500 ``internal_error`` and is logged with its traceback.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import TooManyFieldsSent
from django.http import Http404
from rest_framework import exceptions

from api import errors
from api.calls import call_of
from audit.errors import AuditUnavailable
from ibkr_gateway.broker.errors import BrokerError

logger = logging.getLogger(__name__)


def _retry_after(seconds):
    return {"Retry-After": str(int(seconds))} if seconds else {}


def _from_api_exception(exc, request, view):
    if isinstance(exc, errors.ApiError):
        headers = {"WWW-Authenticate": exc.challenge} if exc.challenge else {}
        return errors.ErrorDescription(
            exc.status_code, exc.code, str(exc.detail), headers
        )
    if isinstance(exc, exceptions.MethodNotAllowed):
        allowed = ", ".join(view.allowed_methods) if view is not None else "GET"
        return errors.ErrorDescription(
            405,
            "method_not_allowed",
            f"Method {request.method} is not allowed on this endpoint; use {allowed}.",
            {"Allow": allowed},
        )
    if isinstance(exc, exceptions.NotAuthenticated):
        return _from_api_exception(errors.AuthenticationRequired(), request, view)
    if isinstance(exc, exceptions.AuthenticationFailed):
        return _from_api_exception(errors.InvalidToken(), request, view)
    if isinstance(exc, exceptions.NotFound):
        return _from_api_exception(errors.EndpointNotFound(), request, view)
    if isinstance(exc, exceptions.PermissionDenied):
        return errors.ErrorDescription(
            403,
            "permission_denied",
            "This request is not permitted. Ask an operator which scope or "
            "token it needs.",
        )
    # DRF's remaining errors (parse_error, not_acceptable, throttled, ...)
    # keep DRF's code and text.
    return errors.ErrorDescription(
        exc.status_code,
        exc.default_code,
        str(exc.detail),
        _retry_after(getattr(exc, "wait", None)),
    )


def describe_exception(exc, request, view=None):
    """Return the ``ErrorDescription`` for ``exc`` raised while serving ``request``."""
    if isinstance(exc, Http404):
        exc = errors.EndpointNotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, TooManyFieldsSent):
        exc = errors.InvalidParameter(
            "The request has more query parameters than the gateway accepts; "
            "send only the documented parameters."
        )

    if isinstance(exc, exceptions.APIException):
        return _from_api_exception(exc, request, view)
    if isinstance(exc, BrokerError):
        return errors.ErrorDescription(
            exc.status,
            exc.code,
            exc.message,
            _retry_after(getattr(exc, "retry_after", None)),
            broker=True,
        )
    if isinstance(exc, AuditUnavailable):
        return errors.ErrorDescription(
            exc.status, exc.code, str(exc), _retry_after(exc.retry_after_seconds)
        )
    internal = errors.ApiError()
    return errors.ErrorDescription(500, internal.code, str(internal.detail))


def handle_exception(exc, context):
    """Return the JSON error response for ``exc`` and note its code on the call."""
    request = context.get("request")
    error = describe_exception(exc, request, context.get("view"))
    request_id = getattr(request, "request_id", None)
    if error.broker:
        logger.warning(
            "API request %s: broker error %s (status %d)",
            request_id,
            error.code,
            error.status,
        )
    elif error.status >= 500:
        logger.error(
            "API request %s failed with %s: %s",
            request_id,
            error.code,
            type(exc).__name__,
            exc_info=error.code == "internal_error",
        )
    else:
        logger.info(
            "API request %s responded with %d %s", request_id, error.status, error.code
        )

    call = call_of(request)
    if call is not None:
        call.error_code = error.code
        call.broker_failure = error.broker
    return errors.error_response(request, error)
