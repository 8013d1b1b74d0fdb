"""Server-generated request ids, shared by every event of one request."""

import uuid

from asgiref.local import Local

_state = Local()

HEADER = "X-Request-ID"
CLIENT_META_KEY = "HTTP_X_REQUEST_ID"


def current_request_id():
    """Return the id of the request being served in this context, or None."""
    return getattr(_state, "request_id", None)


class RequestIdMiddleware:
    """Give each request a fresh id and return it in ``X-Request-ID``.

    An id the client sends is never trusted as the request id; it stays
    available as ``request.client_request_id`` for audit metadata.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = str(uuid.uuid4())
        request.client_request_id = request.META.get(CLIENT_META_KEY, "")[:128]
        _state.request_id = request.request_id
        try:
            response = self.get_response(request)
        finally:
            _state.request_id = None
        response[HEADER] = request.request_id
        return response
