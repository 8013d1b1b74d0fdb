"""Bearer authentication: each way a credential fails is a 401 with its own code.

Every case gets the JSON error shape and ``WWW-Authenticate:
Bearer``, and is recorded as one deny/denied event by an anonymous actor.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client

from api.credentials import format_token, new_secret
from api.models import ApiToken
from ibkr_gateway.scopes import ACCOUNTS_READ
from tests.api_support import api_events, call, error_of, make_token

ACCOUNTS = "/api/v1/accounts"


def _missing(token_string):
    return {}


def _basic(token_string):
    return {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="}


def _bearer_alone(token_string):
    return {"Authorization": "Bearer"}


def _not_a_token(token_string):
    return {"Authorization": "Bearer abc.def"}


def _two_tokens(token_string):
    return {"Authorization": f"Bearer {token_string} {token_string}"}


def _unknown_id(token_string):
    return {"Authorization": f"Bearer {format_token(987654, new_secret())}"}


def _wrong_secret(token_string):
    token_id = token_string.split("_")[1]
    return {"Authorization": f"Bearer {format_token(token_id, new_secret())}"}


CASES = [
    ("missing header", _missing, "authentication_required"),
    ("basic scheme", _basic, "authentication_required"),
    ("bearer without token", _bearer_alone, "malformed_authorization"),
    ("bearer not a token", _not_a_token, "malformed_authorization"),
    ("bearer with two tokens", _two_tokens, "malformed_authorization"),
    ("unknown id", _unknown_id, "invalid_token"),
    ("wrong secret", _wrong_secret, "invalid_token"),
]


@pytest.fixture
def token_string(gateway_db):
    _token, token_string = make_token([ACCOUNTS_READ])
    return token_string


@pytest.mark.parametrize(
    ("headers_for", "code"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_credentials_return_401_with_code(token_string, headers_for, code):
    response = call(ACCOUNTS, headers=headers_for(token_string))

    assert response.status_code == 401
    assert error_of(response)["code"] == code
    assert response["WWW-Authenticate"].startswith("Bearer ")


@pytest.mark.parametrize(
    ("headers_for", "code"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_credentials_return_error_shape(token_string, headers_for, code):
    response = call(ACCOUNTS, headers=headers_for(token_string))

    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["request_id"] == response["X-Request-ID"]


@pytest.mark.parametrize(
    ("headers_for", "code"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_credentials_audited_as_denied(gateway_db, token_string, headers_for, code):
    response = call(ACCOUNTS, headers=headers_for(token_string))

    (event,) = api_events(gateway_db)
    assert event["decision"] == "deny"
    assert event["outcome"] == "denied"
    assert event["error_code"] == code
    assert event["actor"] == {"kind": "anonymous", "id": "anonymous"}
    assert event["token_hash"] is None
    assert event["request_id"] == response["X-Request-ID"]


def test_revoked_token_rejected(gateway_db):
    _token, token_string = make_token([ACCOUNTS_READ], revoked=True)

    response = call(ACCOUNTS, token_string)

    assert response.status_code == 401
    assert error_of(response)["code"] == "token_revoked"
    assert response["WWW-Authenticate"].startswith("Bearer ")


def test_expired_token_rejected(gateway_db):
    _token, token_string = make_token([ACCOUNTS_READ], expires_in=-timedelta(1))

    response = call(ACCOUNTS, token_string)

    assert response.status_code == 401
    assert error_of(response)["code"] == "token_expired"
    assert response["WWW-Authenticate"].startswith("Bearer ")


def test_token_of_inactive_owner_rejected(gateway_db):
    token, token_string = make_token([ACCOUNTS_READ])
    get_user_model().objects.filter(pk=token.owner_id).update(is_active=False)

    response = call(ACCOUNTS, token_string)

    assert response.status_code == 401
    assert error_of(response)["code"] == "token_owner_inactive"


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"revoked": True}, "token_revoked"),
        ({"expires_in": -timedelta(1)}, "token_expired"),
    ],
    ids=["revoked", "expired"],
)
def test_inactive_token_audited_with_its_hash(gateway_db, options, code):
    _token, token_string = make_token([ACCOUNTS_READ], **options)

    call(ACCOUNTS, token_string)

    (event,) = api_events(gateway_db)
    assert event["decision"] == "deny"
    assert event["outcome"] == "denied"
    assert event["error_code"] == code
    assert event["actor"]["kind"] == "anonymous"
    # The secret matched, so the event names the token by its hash.
    assert event["token_hash"] is not None


def test_valid_token_audited_as_token_actor(gateway_db):
    token, token_string = make_token([ACCOUNTS_READ])

    response = call(ACCOUNTS, token_string)

    assert response.status_code == 200
    (event,) = api_events(gateway_db)
    assert event["actor"] == {"kind": "token", "id": f"token:{token.pk}"}
    assert event["token_hash"] is not None
    assert event["scopes"] == {"granted": [ACCOUNTS_READ], "required": [ACCOUNTS_READ]}


def test_valid_token_records_last_use(gateway_db):
    token, token_string = make_token([ACCOUNTS_READ])

    call(ACCOUNTS, token_string)

    token.refresh_from_db()
    assert token.last_used_at is not None


def test_bearer_scheme_name_is_case_insensitive(gateway_db):
    _token, token_string = make_token([ACCOUNTS_READ])

    response = call(ACCOUNTS, headers={"Authorization": f"bearer {token_string}"})

    assert response.status_code == 200


def test_session_cookie_does_not_authenticate(gateway_db):
    password = new_secret()
    get_user_model().objects.create_superuser("admin", "a@example.invalid", password)
    client = Client()
    client.login(username="admin", password=password)
    response = client.get(ACCOUNTS)

    assert response.status_code == 401


def test_token_rows_hold_no_secret(gateway_db):
    _token, token_string = make_token([ACCOUNTS_READ])
    secret = token_string.split("_", 2)[2]

    stored = ApiToken.objects.values_list("secret_hash", flat=True).get()
    connections["default"].close()

    assert secret not in stored
    assert len(stored) == 64
