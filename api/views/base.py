"""Base classes of every view under ``/api/``: one final audit event per call.

``AuditedCallMixin.dispatch`` wraps DRF's dispatch. It creates the
request's ``ApiCall``, lets DRF authenticate, check scopes and run the
handler (the exception handler turns every error into a JSON response),
renders the response, and then calls ``finish_call`` exactly once. Nothing
under ``/api/`` is served by a view without this mixin: the URL table ends
with a catch-all that returns 404 through it, and a request with a Host
header outside ALLOWED_HOSTS is answered by ``api.host_check`` before
Django would reject it unaudited.
"""

import logging

from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from api.authentication import BearerTokenAuthentication
from api.call_audit import finish_call
from api.calls import ApiCall, attach_call, call_of
from api.errors import error_response
from api.exception_handler import describe_exception
from api.permissions import HasRequiredScopes

logger = logging.getLogger(__name__)


class FirstRendererNegotiation(BaseContentNegotiation):
    """Ignore ``Accept``: each endpoint has one representation, never a 406."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class AuditedCallMixin:
    """Write the final ``api_request`` event of every call to this view.

    Subclasses set ``operation`` (such as ``api.accounts.list``) and
    ``required_scopes``. A URL keyword ``account_id`` is recorded as the
    event's account.
    """

    operation = None
    required_scopes = None
    http_method_names = ["get"]

    def dispatch(self, request, *args, **kwargs):
        call = attach_call(
            request,
            ApiCall(
                operation=self.operation,
                required_scopes=tuple(self.required_scopes or ()),
                account_id=kwargs.get("account_id"),
            ),
        )
        try:
            response = super().dispatch(request, *args, **kwargs)
            # Rendering now lets a rendering error still become a 500 and
            # lets the event hash the bytes that are sent.
            if hasattr(response, "render") and not response.is_rendered:
                response.render()
        except Exception as exc:
            # DRF's handler catches errors of the handler itself; this
            # covers failures in finalize_response and in rendering.
            logger.exception(
                "API request %s failed outside its handler",
                getattr(request, "request_id", None),
            )
            error = describe_exception(exc, request)
            call.error_code = error.code
            response = error_response(request, error)
        return finish_call(request, call, response)

    @property
    def call(self):
        """The ``ApiCall`` of the request being served."""
        return call_of(self.request)


class ApiView(AuditedCallMixin, APIView):
    """Base of the versioned JSON endpoints: bearer token and scopes required."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [HasRequiredScopes]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRendererNegotiation
