"""The scope table: each endpoint responds with its scope and rejects without it.

A token with every scope but the one an endpoint needs gets 403
``scope_denied``, and the refusal happens before any broker code runs.
"""

import pytest

from api.urls import v1
from api.views.base import ApiView
from ibkr_gateway.scopes import ALL_SCOPES, AUDIT_EXPORT, AUDIT_READ
from tests.api_support import (
    ENDPOINTS,
    ORDER_ENDPOINTS,
    api_events,
    call,
    error_of,
    make_token,
)

IDS = [path.split("?")[0].removeprefix("/api/v1/") for path, _scope in ENDPOINTS]


class BrokerTouched(Exception):
    """Raised if a refused request reached the broker factory."""


@pytest.fixture
def no_broker(monkeypatch):
    def fail(*args, **kwargs):
        raise BrokerTouched()

    monkeypatch.setattr("api.views.broker.get_backend", fail)


@pytest.mark.parametrize(("path", "scope"), ENDPOINTS, ids=IDS)
def test_endpoint_returns_with_its_scope(gateway_db, path, scope):
    _token, token_string = make_token([scope])

    response = call(path, token_string)

    assert response.status_code == 200


@pytest.mark.parametrize(("path", "scope"), ENDPOINTS, ids=IDS)
def test_endpoint_refuses_every_other_scope(gateway_db, no_broker, path, scope):
    _token, token_string = make_token(ALL_SCOPES - {scope})

    response = call(path, token_string)

    assert response.status_code == 403
    assert error_of(response)["code"] == "scope_denied"
    assert scope in error_of(response)["message"]


@pytest.mark.parametrize(("path", "scope"), ENDPOINTS, ids=IDS)
def test_endpoint_without_token_returns_401(gateway_db, no_broker, path, scope):
    response = call(path)

    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_required"


@pytest.mark.parametrize(("path", "scope"), ENDPOINTS, ids=IDS)
def test_scope_refusal_audited(gateway_db, path, scope):
    _token, token_string = make_token(ALL_SCOPES - {scope})

    call(path, token_string)

    (event,) = api_events(gateway_db)
    assert event["decision"] == "deny"
    assert event["outcome"] == "denied"
    assert event["error_code"] == "scope_denied"
    assert event["scopes"]["required"] == [scope]
    assert scope not in event["scopes"]["granted"]


def test_export_refused_with_read_scope_only(gateway_db):
    _token, token_string = make_token([AUDIT_READ])

    response = call("/api/v1/audit/export", token_string)

    assert response.status_code == 403
    assert error_of(response)["code"] == "scope_denied"


def test_scope_refusal_names_scope_in_challenge(gateway_db):
    _token, token_string = make_token([AUDIT_READ])

    response = call("/api/v1/audit/export", token_string)

    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    assert AUDIT_EXPORT in response["WWW-Authenticate"]


def test_every_route_declares_scopes():
    for route in v1:
        view = route.callback.view_class
        declared = route.callback.view_initkwargs.get("required_scopes")
        assert issubclass(view, ApiView), route.pattern
        assert declared or view.required_scopes, route.pattern


def test_scope_table_covers_every_route():
    tested = {path.split("?")[0].removeprefix("/api/v1/") for path, _ in ENDPOINTS}
    tested |= {
        path.removeprefix("/api/v1/").replace("1000000001", "<str:broker_order_id>")
        for _method, path, _schema, _scope in ORDER_ENDPOINTS
    }

    assert len(tested) == len(v1)
