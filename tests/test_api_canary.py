"""A rejected bearer credential leaves no trace in the database, logs or response.

Each test sends a fresh random canary in the ``Authorization`` header,
then scans the SQLite file with its WAL, every log record and the whole
response for it.
"""

import logging
import secrets

import pytest
from django.db import connections

from api.credentials import format_token
from ibkr_gateway.scopes import ACCOUNTS_READ
from tests.api_support import api_events, call, database_bytes, make_token


def _bare(canary, token_id):
    return f"Bearer {canary}"


def _unknown_id(canary, token_id):
    return f"Bearer {format_token(token_id + 1000, canary)}"


def _wrong_secret(canary, token_id):
    return f"Bearer {format_token(token_id, canary)}"


def _basic(canary, token_id):
    return f"Basic {canary}"


def _padded(canary, token_id):
    return f"Bearer  {canary} extra"


SHAPES = [
    ("bare canary", _bare),
    ("unknown id", _unknown_id),
    ("wrong secret", _wrong_secret),
    ("basic scheme", _basic),
    ("padded", _padded),
]


@pytest.fixture
def canary_call(gateway_db, caplog):
    """Send a canary credential; return ``(canary, response, log_text)``."""

    def send(shape, path="/api/v1/accounts"):
        token, _token_string = make_token([ACCOUNTS_READ])
        canary = secrets.token_urlsafe(32)
        with caplog.at_level(logging.DEBUG):
            response = call(path, headers={"Authorization": shape(canary, token.pk)})
        connections["default"].close()
        return canary, response, caplog.text

    return send


@pytest.mark.parametrize("shape", [s[1] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_canary_absent_from_database_file(gateway_db, canary_call, shape):
    canary, _response, _logs = canary_call(shape)

    assert len(api_events(gateway_db)) == 1
    assert canary.encode() not in database_bytes(gateway_db)


@pytest.mark.parametrize("shape", [s[1] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_canary_absent_from_logs(canary_call, shape):
    canary, _response, logs = canary_call(shape)

    assert canary not in logs


@pytest.mark.parametrize("shape", [s[1] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_canary_absent_from_response(canary_call, shape):
    canary, response, _logs = canary_call(shape)

    assert response.status_code == 401
    assert canary.encode() not in response.serialize()


def test_canary_absent_on_unknown_path(gateway_db, canary_call):
    canary, response, logs = canary_call(_bare, path="/api/v1/nothing")

    assert canary.encode() not in database_bytes(gateway_db)
    assert canary not in logs
    assert canary.encode() not in response.serialize()
