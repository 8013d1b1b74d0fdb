"""DRF permission: the token must hold every scope that the view declares.

DRF checks permissions in ``APIView.initial``, before the handler runs, so
a request without its scope gets 401 or 403 before any broker or
audit-log code. A view that declares no ``required_scopes`` is a
configuration error, so an endpoint cannot become public by omission.
"""

from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import BasePermission

from api import errors


class HasRequiredScopes(BasePermission):
    """Allow a request whose token grants all of ``view.required_scopes``."""

    def has_permission(self, request, view):
        required = getattr(view, "required_scopes", None)
        if required is None:
            raise ImproperlyConfigured(
                f"{type(view).__name__} declares no required_scopes; list the "
                "scopes it needs, or give it permission_classes = [AllowAny]."
            )

        token = request.auth
        if token is None:
            raise errors.AuthenticationRequired()
        missing = sorted(set(required) - set(token.scopes))
        if missing:
            raise errors.ScopeDenied(missing)
        return True
