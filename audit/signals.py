"""Audit events for Django sign-ins, so the admin's use is on the record.

Success and failure both name the user name tried. The password never
reaches the event: Django passes only sanitised credentials, and only the
user name is read from them.
"""

import logging

from django.contrib.auth.signals import user_logged_in, user_login_failed

import audit
from audit.envelope import ALLOW, COMPLETED, DENIED, DENY

logger = logging.getLogger(__name__)

OPERATION = "admin.login"
MAX_USERNAME_LENGTH = 150
MAX_USER_AGENT_LENGTH = 1024


def connect():
    user_logged_in.connect(_login_succeeded, dispatch_uid="audit.login_succeeded")
    user_login_failed.connect(_login_failed, dispatch_uid="audit.login_failed")


def _bounded(text, limit):
    # A value is kept whole or not at all: cutting it could split a secret
    # (say, a URL before its "@host") into a shape redaction misses.
    if len(text) <= limit:
        return text
    return f"[omitted: longer than {limit} characters]"


def _client_metadata(request, username):
    metadata = {"username": _bounded(username, MAX_USERNAME_LENGTH)}
    if request is not None:
        metadata["remote_addr"] = request.META.get("REMOTE_ADDR", "")
        metadata["user_agent"] = _bounded(
            request.META.get("HTTP_USER_AGENT", ""), MAX_USER_AGENT_LENGTH
        )
        client_request_id = getattr(request, "client_request_id", "")
        if client_request_id:
            metadata["client_request_id"] = client_request_id
    return metadata


def _login_succeeded(sender, request, user, **kwargs):
    username = user.get_username()
    audit.log_event(
        "login_succeeded",
        operation=OPERATION,
        actor={"kind": "user", "id": f"user:{username}"},
        decision=ALLOW,
        outcome=COMPLETED,
        request_id=getattr(request, "request_id", None),
        metadata=_client_metadata(request, username),
    )


def _login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))
    logger.info(
        "Admin sign-in failed (request %s)", getattr(request, "request_id", None)
    )
    audit.log_event(
        "login_failed",
        operation=OPERATION,
        actor={"kind": "anonymous", "id": "anonymous"},
        decision=DENY,
        outcome=DENIED,
        error_code="invalid_credentials",
        request_id=getattr(request, "request_id", None),
        metadata=_client_metadata(request, username),
    )
