"""Endpoints under ``/api/`` without a scope: schema, docs page and 404 catch-all.

They are audited like every other call. A bearer token that is sent is
still checked, so an invalid one gets 401 here too.
"""

from django.views import View
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from api.authentication import BearerTokenAuthentication
from api.errors import EndpointNotFound
from api.views.base import AuditedCallMixin, FirstRendererNegotiation


class SchemaView(AuditedCallMixin, SpectacularAPIView):
    """The OpenAPI 3 schema: YAML by default, JSON with ``?format=json``."""

    operation = "api.schema.read"
    required_scopes = ()
    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [AllowAny]


class DocsView(AuditedCallMixin, SpectacularSwaggerView):
    """Swagger UI for the schema, served with the sidecar package's assets."""

    operation = "api.docs.read"
    required_scopes = ()
    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [AllowAny]
    url_name = "api-schema"


@extend_schema(exclude=True)
class EndpointNotFoundView(AuditedCallMixin, APIView):
    """Return 404 for any path under ``/api/`` that no endpoint matches."""

    operation = "api.not_found"
    required_scopes = ()
    # Every method gets 404, not 405, because no endpoint exists here.
    http_method_names = View.http_method_names
    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRendererNegotiation

    def http_method_not_allowed(self, request, *args, **kwargs):
        if request.path.endswith("/") and request.path.startswith("/api/v1/"):
            raise EndpointNotFound(
                "No API endpoint exists at this path. API paths under /api/v1/ "
                "take no trailing slash; try "
                f"{request.path.rstrip('/')}."
            )
        raise EndpointNotFound()

    options = http_method_not_allowed
