"""``ApiCall``: what one API request did, collected for its final audit event.

The audited view base creates the record before DRF runs, and the
authentication class, the exception handler and the views fill it in. It
lives on Django's ``HttpRequest``, which DRF's ``Request`` wraps, so every
layer finds the same record.
"""

from dataclasses import dataclass, field

ATTRIBUTE = "api_call"


@dataclass
class ApiCall:
    """Facts about one API request that its final audit event records."""

    operation: str
    required_scopes: tuple = ()
    account_id: str | None = None
    # The token that authenticated the request.
    token: object = None
    # Id of a token whose secret matched, even if the token was then
    # rejected as revoked or expired.
    verified_token_id: int | None = None
    error_code: str | None = None
    broker_failure: bool = False
    # Set when the response is 2xx but the operation found a failure, such as
    # a verification that found a broken chain.
    failure_code: str | None = None
    metadata: dict = field(default_factory=dict)
    # True once an order request has passed its write-ahead, after which a
    # failed final event must not say that nothing happened.
    reached_broker: bool = False
    # Callables that release what the response keeps open, such as an
    # export's read transaction, when the response is replaced unsent.
    on_discard: list = field(default_factory=list)

    @property
    def granted_scopes(self):
        return sorted(self.token.scopes) if self.token is not None else []

    @property
    def token_id(self):
        if self.token is not None:
            return self.token.pk
        return self.verified_token_id


def django_request(request):
    """Return Django's ``HttpRequest`` behind a DRF ``Request``, or ``request``."""
    return getattr(request, "_request", request)


def attach_call(request, call):
    setattr(django_request(request), ATTRIBUTE, call)
    return call


def call_of(request):
    """Return the ``ApiCall`` of ``request``, or None outside audited views."""
    if request is None:
        return None
    return getattr(django_request(request), ATTRIBUTE, None)
