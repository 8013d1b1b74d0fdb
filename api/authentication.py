"""DRF authentication by ``Authorization: Bearer ibkr_<id>_<secret>``.

A request without an ``Authorization`` header, or with another scheme such
as ``Basic``, carries no bearer credentials: ``authenticate`` returns None,
and the scope permission responds with 401 ``authentication_required``. A bearer
credential that is malformed, unknown, wrong, revoked or expired raises a
401 error at once. The presented credential is never logged, stored or
echoed.
"""

from datetime import timedelta

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication

from api import errors
from api.calls import call_of
from api.credentials import parse_token, secret_matches
from api.models import EXPIRED, REVOKED, ApiToken

# last_used_at is written at most this often per token, so that busy
# clients do not add a database write to every request.
LAST_USED_PRECISION = timedelta(minutes=1)

# Compared against when the id is unknown, so that an unknown id costs the
# same hash computation as a wrong secret.
_NO_HASH = "0" * 64


def _bearer_credentials(request):
    """Return the text after ``Bearer``, or None when no bearer scheme is used."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.casefold() != "bearer":
        return None
    return credentials


def _check_state(token, now):
    state = token.state(now)
    if state == REVOKED:
        raise errors.TokenRevoked()
    if state == EXPIRED:
        raise errors.TokenExpired()
    if not token.owner.is_active:
        raise errors.TokenOwnerInactive()


def _touch(token, now):
    last_used = token.last_used_at
    if last_used is None or now - last_used >= LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


class BearerTokenAuthentication(BaseAuthentication):
    """Authenticate an ``ApiToken``.

    ``request.auth`` is then the token and ``request.user`` its owner.
    """

    def authenticate(self, request):
        credentials = _bearer_credentials(request)
        if credentials is None:
            return None

        parsed = parse_token(credentials.strip(" "))
        if parsed is None:
            raise errors.MalformedAuthorization()
        token_id, secret = parsed

        token = ApiToken.objects.select_related("owner").filter(pk=token_id).first()
        matches = secret_matches(secret, token.secret_hash if token else _NO_HASH)
        if token is None or not matches:
            raise errors.InvalidToken()

        call = call_of(request)
        if call is not None:
            call.verified_token_id = token.pk
        now = timezone.now()
        _check_state(token, now)
        _touch(token, now)
        if call is not None:
            call.token = token
        return token.owner, token

    def authenticate_header(self, request):
        return errors.REALM
