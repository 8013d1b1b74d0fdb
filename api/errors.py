"""API errors as data: a stable code, an HTTP status and a message with the fix.

Every error response under ``/api/`` has the body ``{"error": {"code": ...,
"message": ..., "request_id": ...}}``, built by ``error_response``. The
classes are DRF exceptions, so views and the authentication and permission
classes raise them and ``api.exception_handler`` turns them into responses.
Messages never repeat a credential the client sent.
"""

from dataclasses import dataclass, field

from django.http import JsonResponse
from rest_framework import exceptions

REALM = 'Bearer realm="ibkr-gateway"'
INVALID_TOKEN_CHALLENGE = f'{REALM}, error="invalid_token"'


class ApiError(exceptions.APIException):
    """Base of the API's own errors; ``code`` and ``status_code`` are stable."""

    status_code = 500
    code = "internal_error"
    default_detail = (
        "The gateway failed unexpectedly. Retry; if it persists, give an "
        "operator the request_id so that the gateway log can be checked."
    )
    # Value of WWW-Authenticate, sent with 401 and 403 responses.
    challenge = None

    def __init__(self, message=None):
        super().__init__(message or self.default_detail, self.code)


class AuthenticationRequired(ApiError, exceptions.NotAuthenticated):
    status_code = 401
    code = "authentication_required"
    challenge = REALM
    default_detail = (
        "This endpoint needs a bearer token. Send the header 'Authorization: "
        "Bearer <token>'; an operator creates tokens with 'manage.py tokens create'."
    )


class MalformedAuthorization(ApiError, exceptions.AuthenticationFailed):
    status_code = 401
    code = "malformed_authorization"
    challenge = INVALID_TOKEN_CHALLENGE
    default_detail = (
        "The bearer token is malformed. Send 'Authorization: Bearer "
        "ibkr_<id>_<secret>' with the token exactly as it was issued."
    )


class InvalidToken(ApiError, exceptions.AuthenticationFailed):
    status_code = 401
    code = "invalid_token"
    challenge = INVALID_TOKEN_CHALLENGE
    default_detail = (
        "The bearer token is unknown or its secret is wrong. Check that the "
        "whole token was sent, or ask an operator for a new one."
    )


class TokenRevoked(InvalidToken):
    code = "token_revoked"
    default_detail = "The bearer token was revoked. Ask an operator for a new token."


class TokenExpired(InvalidToken):
    code = "token_expired"
    default_detail = "The bearer token has expired. Ask an operator for a new token."


class TokenOwnerInactive(InvalidToken):
    code = "token_owner_inactive"
    default_detail = (
        "The user that owns this token is deactivated. Ask an operator to "
        "reactivate the user or to issue a token to another user."
    )


class ScopeDenied(ApiError, exceptions.PermissionDenied):
    status_code = 403
    code = "scope_denied"

    def __init__(self, missing):
        names = ", ".join(missing)
        self.challenge = (
            f'{REALM}, error="insufficient_scope", scope="{" ".join(missing)}"'
        )
        super().__init__(
            f"This token lacks the scope {names} that this endpoint requires. "
            f"Ask an operator for a token created with --scope {missing[0]}."
        )


class EndpointNotFound(ApiError, exceptions.NotFound):
    status_code = 404
    code = "not_found"
    default_detail = (
        "No API endpoint exists at this path. The endpoints are listed in "
        "/api/schema/ and on /api/docs/."
    )


class InvalidParameter(ApiError):
    status_code = 400
    code = "invalid_parameter"
    default_detail = "A query parameter is invalid. Correct it and retry."


class ExportRefused(ApiError):
    """The range contains rows that look like secrets, so nothing is released."""

    status_code = 409
    code = "unsafe_output"


class AuditLogUnreadable(ApiError):
    status_code = 500
    code = "audit_database_invalid"
    default_detail = (
        "The audit log could not be opened for reading. An operator should "
        "check DATABASE_URL and the gateway log for this request_id."
    )


class VerificationKeysMissing(ApiError):
    status_code = 500
    code = "verification_keys_missing"
    default_detail = (
        "A key needed to verify the audit log is not configured. An operator "
        "should check [audit] in the runtime config and its key variables."
    )


class BrokerConfigInvalid(ApiError):
    status_code = 500
    code = "broker_config_invalid"
    default_detail = (
        "The [broker] section of the runtime config is invalid. An operator "
        "should run 'manage.py check' and fix the key it names."
    )


@dataclass(frozen=True)
class ErrorDescription:
    """An error response to send: what the client sees and the audit event records."""

    status: int
    code: str
    message: str
    headers: dict = field(default_factory=dict)
    # True for broker errors, which count as failed operations, not refusals.
    broker: bool = False


def error_response(request, error):
    """Return the JSON response that describes ``error`` to ``request``."""
    body = {
        "error": {
            "code": error.code,
            "message": error.message,
            "request_id": getattr(request, "request_id", None),
        }
    }
    return JsonResponse(body, status=error.status, headers=error.headers)
