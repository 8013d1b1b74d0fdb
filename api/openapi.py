"""OpenAPI pieces for drf-spectacular: the bearer scheme and each operation's scope.

``ScopedAutoSchema`` (``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``) appends
the scopes a view requires to the operation's description and lists them in
the ``x-required-scopes`` extension field. ``error_responses`` documents the
JSON error shape for the statuses an operation can return.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse

from api.serializers import ErrorSerializer

SCOPES_EXTENSION = "x-required-scopes"

ERROR_DESCRIPTIONS = {
    400: "Invalid parameter or request body; the code names the field.",
    401: "Missing, malformed, unknown, revoked or expired bearer token.",
    403: "The token lacks the required scope (scope_denied).",
    404: "Not found, such as an unknown account or order.",
    405: "Method not allowed; the Allow header lists the methods.",
    409: "Conflict: an unsafe export, a key in flight or with an unknown "
    "outcome, a used approval, or halted trading.",
    413: "The request body is too large (request_too_large).",
    422: "Refused by the risk policy or the broker, or a key reused for "
    "another request (idempotency_key_reused).",
    429: "A frequency limit is reached; see Retry-After.",
    500: "Unexpected failure; the message names what an operator should check.",
    502: "The broker failed or returned an invalid response.",
    503: "The audit log or the broker is unavailable; see Retry-After.",
    504: "The broker did not respond in time (broker_timeout).",
}
COMMON_STATUSES = (401, 403, 405, 500, 503)
BROKER_STATUSES = (502, 504)


def error_responses(*statuses):
    """Return drf-spectacular responses for the common and the given error statuses."""
    return {
        status: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[status])
        for status in sorted({*COMMON_STATUSES, *statuses})
    }


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "ibkr_<id>_<secret>",
            "description": "API token created with 'manage.py tokens create'. "
            "Each operation lists the scopes it needs in x-required-scopes.",
        }


class ScopedAutoSchema(AutoSchema):
    """AutoSchema that states each operation's required scopes."""

    def _required_scopes(self):
        return list(getattr(self.view, "required_scopes", None) or ())

    def get_operation_id(self):
        # "api.accounts.list" becomes "accounts_list".
        operation = getattr(self.view, "operation", None)
        if operation is None:
            return super().get_operation_id()
        return operation.removeprefix("api.").replace(".", "_")

    def get_description(self):
        description = super().get_description() or ""
        scopes = self._required_scopes()
        if not scopes:
            return description
        return f"{description}\n\nRequired scope: {', '.join(scopes)}.".strip()

    def get_extensions(self):
        extensions = dict(super().get_extensions())
        scopes = self._required_scopes()
        if scopes:
            extensions[SCOPES_EXTENSION] = scopes
        return extensions
