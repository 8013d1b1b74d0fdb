"""One final audit event per API call, whatever the response, and none unaudited.

404, 405, 400, broker errors and unexpected exceptions each write exactly
one ``api_request`` event with the documented decision and outcome. When
that event cannot be written the call fails with 503.
"""

import pytest

from audit.errors import AuditUnavailable
from ibkr_gateway.broker.errors import BrokerUnavailable
from ibkr_gateway.scopes import ACCOUNTS_READ, POSITIONS_READ
from tests.api_support import api_events, call, error_of, make_token


class Boom(Exception):
    """An unexpected failure inside a view."""


@pytest.fixture
def token_string(gateway_db):
    _token, token_string = make_token([ACCOUNTS_READ, POSITIONS_READ])
    return token_string


@pytest.fixture
def failing_backend(monkeypatch):
    """Make every broker read raise ``BrokerUnavailable``."""

    def backend(*args, **kwargs):
        raise BrokerUnavailable()

    monkeypatch.setattr("api.views.broker.get_backend", backend)


@pytest.fixture
def crashing_view(monkeypatch):
    def crash(self, request):
        raise Boom("detail-7f3a of the crash")

    monkeypatch.setattr("api.views.broker.AccountsView.get", crash)


def test_completed_call_writes_one_event(gateway_db, token_string):
    response = call("/api/v1/accounts", token_string)

    (event,) = api_events(gateway_db)
    assert event["operation"] == "api.accounts.list"
    assert event["decision"] == "allow"
    assert event["outcome"] == "completed"
    assert event["request_id"] == response["X-Request-ID"]


def test_unknown_path_returns_404_shape(gateway_db):
    response = call("/api/v1/nothing-here")

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert error_of(response)["request_id"] == response["X-Request-ID"]


def test_unknown_path_writes_one_refused_event(gateway_db):
    call("/api/v2/accounts")

    (event,) = api_events(gateway_db)
    assert event["operation"] == "api.not_found"
    assert event["decision"] == "refuse"
    assert event["outcome"] == "refused"
    assert event["error_code"] == "not_found"


def test_unknown_path_with_token_names_the_token(gateway_db, token_string):
    call("/api/v1/nothing-here", token_string)

    (event,) = api_events(gateway_db)
    assert event["actor"]["kind"] == "token"


def test_post_to_unknown_path_returns_404(gateway_db):
    response = call("/api/v1/nothing-here", method="post")

    assert response.status_code == 404


def test_trailing_slash_is_not_redirected(gateway_db, token_string):
    response = call("/api/v1/accounts/", token_string)

    assert response.status_code == 404


def test_post_to_get_endpoint_returns_405(gateway_db, token_string):
    response = call("/api/v1/accounts", token_string, method="post")

    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert response["Allow"] == "GET"


def test_post_to_get_endpoint_writes_one_refused_event(gateway_db, token_string):
    call("/api/v1/accounts", token_string, method="post")

    (event,) = api_events(gateway_db)
    assert event["decision"] == "refuse"
    assert event["outcome"] == "refused"
    assert event["error_code"] == "method_not_allowed"
    assert event["metadata"]["method"] == "POST"


def test_post_without_token_returns_401(gateway_db):
    response = call("/api/v1/accounts", method="post")

    assert response.status_code == 401


def test_invalid_parameter_writes_one_refused_event(gateway_db, token_string):
    response = call("/api/v1/accounts?limit=5", token_string)

    assert response.status_code == 400
    (event,) = api_events(gateway_db)
    assert event["outcome"] == "refused"
    assert event["error_code"] == "invalid_parameter"


def test_view_exception_returns_500_shape(gateway_db, token_string, crashing_view):
    response = call("/api/v1/accounts", token_string)

    assert response.status_code == 500
    assert error_of(response)["code"] == "internal_error"
    assert error_of(response)["request_id"] == response["X-Request-ID"]
    assert "detail-7f3a" not in error_of(response)["message"]


def test_view_exception_writes_one_failed_event(
    gateway_db, token_string, crashing_view
):
    call("/api/v1/accounts", token_string)

    (event,) = api_events(gateway_db)
    assert event["decision"] == "allow"
    assert event["outcome"] == "failed"
    assert event["error_code"] == "internal_error"


def test_broker_error_keeps_its_code_and_status(
    gateway_db, token_string, failing_backend
):
    response = call("/api/v1/accounts", token_string)

    assert response.status_code == BrokerUnavailable.status
    assert error_of(response)["code"] == BrokerUnavailable.code
    assert error_of(response)["message"] == BrokerUnavailable.default_message


def test_broker_error_writes_one_failed_event(
    gateway_db, token_string, failing_backend
):
    call("/api/v1/accounts", token_string)

    (event,) = api_events(gateway_db)
    assert event["decision"] == "allow"
    assert event["outcome"] == "failed"
    assert event["error_code"] == "broker_unavailable"


def test_unknown_account_is_a_failed_broker_call(gateway_db, token_string):
    response = call("/api/v1/accounts/U9999999/positions", token_string)

    assert response.status_code == 404
    assert error_of(response)["code"] == "broker_account_not_found"
    (event,) = api_events(gateway_db)
    assert event["outcome"] == "failed"


def test_call_naming_account_records_its_hash(gateway_db, token_string):
    call("/api/v1/accounts/DU5550101/positions", token_string)

    (event,) = api_events(gateway_db)
    assert event["account_hash"] is not None
    assert "DU5550101" not in str(event)


def test_refused_call_naming_account_records_its_hash(gateway_db):
    call("/api/v1/accounts/DU5550101/positions")

    (event,) = api_events(gateway_db)
    assert event["account_hash"] is not None


def test_client_request_id_kept_as_metadata(gateway_db, token_string):
    response = call(
        "/api/v1/accounts", token_string, headers={"X-Request-ID": "client-42"}
    )

    (event,) = api_events(gateway_db)
    assert event["request_id"] == response["X-Request-ID"]
    assert event["metadata"]["client_request_id"] == "client-42"


def test_each_call_writes_its_own_event(gateway_db, token_string):
    responses = [
        call("/api/v1/accounts", token_string),
        call("/api/v1/accounts"),
        call("/api/v1/nothing-here"),
        call("/api/v1/accounts", token_string, method="delete"),
    ]

    events = api_events(gateway_db)
    assert [event["request_id"] for event in events] == [
        response["X-Request-ID"] for response in responses
    ]


@pytest.fixture
def audit_down(monkeypatch):
    def unavailable(*args, **kwargs):
        raise AuditUnavailable()

    monkeypatch.setattr("api.call_audit.audit.log_event", unavailable)


def test_unwritable_event_returns_503(gateway_db, token_string, audit_down):
    response = call("/api/v1/accounts", token_string)

    assert response.status_code == 503
    assert error_of(response)["code"] == "audit_unavailable"
    assert response["Retry-After"] == str(AuditUnavailable.retry_after_seconds)


def test_unwritable_event_hides_the_result(gateway_db, token_string, audit_down):
    response = call("/api/v1/accounts", token_string)

    assert b"DU5550101" not in response.content


def test_unwritable_event_on_export_returns_503(gateway_db, audit_down):
    from ibkr_gateway.scopes import AUDIT_EXPORT

    _token, token_string = make_token([AUDIT_EXPORT])

    response = call("/api/v1/audit/export", token_string)

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"


def test_event_that_cannot_be_built_returns_503(gateway_db, token_string, monkeypatch):
    def invalid(*args, **kwargs):
        raise ValueError("bad event")

    monkeypatch.setattr("api.call_audit.audit.log_event", invalid)

    response = call("/api/v1/accounts", token_string)

    assert response.status_code == 503


def test_unwritable_event_releases_export_reader(gateway_db, audit_down, monkeypatch):
    from api.views.audit_export import ExportStream
    from ibkr_gateway.scopes import AUDIT_EXPORT

    released = []
    original = ExportStream.close

    def close(self):
        released.append(self.reader is not None)
        original(self)

    monkeypatch.setattr(ExportStream, "close", close)
    _token, token_string = make_token([AUDIT_EXPORT])

    call("/api/v1/audit/export", token_string)

    assert released == [True]


def test_audit_outage_in_view_returns_503(gateway_db, token_string, monkeypatch):
    def unavailable(self, request):
        raise AuditUnavailable()

    monkeypatch.setattr("api.views.broker.AccountsView.get", unavailable)

    response = call("/api/v1/accounts", token_string)

    assert response.status_code == 503
    assert error_of(response)["code"] == "audit_unavailable"
    assert response["Retry-After"] == str(AuditUnavailable.retry_after_seconds)
    (event,) = api_events(gateway_db)
    assert event["outcome"] == "failed"


def test_disallowed_host_gets_json_error(gateway_db):
    response = call("/api/v1/health", headers={"Host": "attacker.invalid"})

    assert response.status_code == 400
    assert error_of(response)["code"] == "disallowed_host"


def test_disallowed_host_writes_one_refused_event(gateway_db):
    call("/api/v1/health", headers={"Host": "attacker.invalid"})

    (event,) = api_events(gateway_db)
    assert event["operation"] == "api.host_rejected"
    assert event["outcome"] == "refused"
    assert event["error_code"] == "disallowed_host"


def test_trailing_slash_404_suggests_path(gateway_db, token_string):
    response = call("/api/v1/accounts/", token_string)

    assert response.status_code == 404
    assert "try /api/v1/accounts." in error_of(response)["message"]


def test_too_many_query_fields_is_refused_and_audited(gateway_db):
    _token, health_token = make_token(["ibkr:health:read"])
    query = "&".join(["a"] * 1900)

    response = call(f"/api/v1/health?{query}", health_token)

    assert response.status_code == 400
    (event,) = api_events(gateway_db)
    assert event["request_id"] == response["X-Request-ID"]


def test_huge_after_seq_is_refused_and_audited(gateway_db):
    _token, export_token = make_token(["ibkr:audit:export"])

    response = call("/api/v1/audit/export?after_seq=9007199254740992", export_token)

    assert response.status_code == 400
    assert len(api_events(gateway_db)) == 1
