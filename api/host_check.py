"""An audited JSON error for API requests with a disallowed Host header.

Django rejects such a request in ``request.get_host()`` before any view
runs, with an HTML page and no audit event. This middleware checks the
host first for paths under ``/api/``, so that the response keeps the API's
error shape and writes its one final event like every other call.
"""

import logging

from django.core.exceptions import DisallowedHost

from api.call_audit import finish_call
from api.calls import ApiCall, attach_call
from api.errors import ErrorDescription, error_response

logger = logging.getLogger(__name__)

OPERATION = "api.host_rejected"


class ApiHostCheckMiddleware:
    """Return 400 ``disallowed_host`` for API requests to an unknown host."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        try:
            request.get_host()
        except DisallowedHost:
            return self._reject(request)
        return self.get_response(request)

    def _reject(self, request):
        logger.warning(
            "API request %s rejected: Host header not in ALLOWED_HOSTS",
            getattr(request, "request_id", None),
        )
        call = attach_call(request, ApiCall(operation=OPERATION))
        call.error_code = "disallowed_host"
        error = ErrorDescription(
            400,
            "disallowed_host",
            "The Host header names a host this gateway does not serve. Use one "
            "of the names in DJANGO_ALLOWED_HOSTS.",
        )
        return finish_call(request, call, error_response(request, error))
