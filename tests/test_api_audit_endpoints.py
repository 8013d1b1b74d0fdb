"""Audit endpoints: tail, verify and the JSON Lines export with its secret scan."""

import hashlib
import json
import sqlite3

import pytest
from django.db import connections

from ibkr_gateway.scopes import AUDIT_EXPORT, AUDIT_READ
from tests.api_support import api_events, call, error_of, make_token
from tests.conftest import append_events, run_manage


@pytest.fixture
def log_of_five(gateway_db):
    append_events(5)
    return gateway_db


@pytest.fixture
def reader(log_of_five):
    _token, token_string = make_token([AUDIT_READ])
    return token_string


@pytest.fixture
def exporter(log_of_five):
    _token, token_string = make_token([AUDIT_EXPORT])
    return token_string


def export_lines(response):
    return [json.loads(line) for line in response.body.splitlines()]


# tail


def test_tail_lists_newest_first(reader):
    response = call("/api/v1/audit/tail?limit=3", reader)

    assert [event["seq"] for event in response.json()["events"]] == [5, 4, 3]


def test_tail_matches_cli_json_keys(reader):
    response = call("/api/v1/audit/tail?limit=1", reader)

    (event,) = response.json()["events"]
    assert event["payload"]["event_type"] == "test_event"
    assert event["occurred_at"] == event["payload"]["occurred_at"]


def test_tail_defaults_to_hundred(reader):
    response = call("/api/v1/audit/tail", reader)

    assert len(response.json()["events"]) == 5


@pytest.mark.parametrize("limit", ["0", "10001", "ten", "-1", "1.5"])
def test_tail_rejects_invalid_limit(reader, limit):
    response = call(f"/api/v1/audit/tail?limit={limit}", reader)

    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_parameter"
    assert "limit" in error_of(response)["message"]


def test_tail_call_is_audited_after_the_read(log_of_five, reader):
    response = call("/api/v1/audit/tail?limit=2", reader)

    (event,) = api_events(log_of_five)
    assert event["metadata"]["count"] == 2
    assert response.json()["events"][0]["seq"] == 5


# verify


def test_verify_reports_valid_chain(reader):
    response = call("/api/v1/audit/verify", reader)

    body = response.json()
    assert response.status_code == 200
    assert body["chain_valid"] is True
    assert body["events_scanned"] == 5
    assert body["triggers_present"] is True


def test_verify_call_is_audited_as_completed(log_of_five, reader):
    call("/api/v1/audit/verify", reader)

    (event,) = api_events(log_of_five)
    assert event["outcome"] == "completed"
    assert event["metadata"]["chain_valid"] is True


@pytest.fixture
def broken_chain(log_of_five):
    connections["default"].close()
    with sqlite3.connect(log_of_five) as db:
        db.execute("DROP TRIGGER audit_events_reject_update")
        db.execute(
            "UPDATE audit_events SET payload = replace(payload, 'event 2', "
            "'event X') WHERE seq = 3"
        )
    return log_of_five


def test_verify_reports_broken_chain(broken_chain, reader):
    response = call("/api/v1/audit/verify", reader)

    body = response.json()
    assert response.status_code == 200
    assert body["chain_valid"] is False
    assert body["first_break"]["seq"] == 3


def test_broken_chain_audited_as_failed(broken_chain, reader):
    call("/api/v1/audit/verify", reader)

    (event,) = api_events(broken_chain)
    assert event["outcome"] == "failed"
    assert event["error_code"] == "chain_broken"


# export


def test_export_streams_json_lines(exporter):
    response = call("/api/v1/audit/export?limit=3", exporter)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    assert response.streaming
    assert [line["seq"] for line in export_lines(response)] == [3, 4, 5]


def test_export_headers_describe_the_bytes(exporter):
    response = call("/api/v1/audit/export?limit=3", exporter)

    assert response["X-Export-Count"] == "3"
    assert response["X-Export-SHA256"] == hashlib.sha256(response.body).hexdigest()


def test_export_event_records_the_digest(log_of_five, exporter):
    response = call("/api/v1/audit/export", exporter)

    (event,) = api_events(log_of_five)
    assert event["outcome"] == "completed"
    assert event["metadata"]["sha256"] == hashlib.sha256(response.body).hexdigest()
    assert event["metadata"]["count"] == 5


def test_export_matches_cli_export(log_of_five, exporter, tmp_path):
    response = call("/api/v1/audit/export?after_seq=0&limit=5", exporter)
    connections["default"].close()
    output = tmp_path / "cli.jsonl"

    result = run_manage(
        "audit",
        "export",
        "--after-seq",
        "0",
        "--limit",
        "5",
        "--output",
        str(output),
        db_path=log_of_five,
    )

    assert result.returncode == 0, result.stderr
    assert response.body == output.read_bytes()


def test_export_range_after_seq(exporter):
    response = call("/api/v1/audit/export?after_seq=3", exporter)

    assert [line["seq"] for line in export_lines(response)] == [4, 5]


def test_export_range_since(log_of_five, exporter):
    with sqlite3.connect(log_of_five) as db:
        (payload,) = db.execute(
            "SELECT payload FROM audit_events WHERE seq = 4"
        ).fetchone()
    since = json.loads(payload)["occurred_at"]

    response = call(f"/api/v1/audit/export?since={since}", exporter)

    assert export_lines(response)[0]["seq"] == 4


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("limit=0", "limit"),
        ("limit=100001", "limit"),
        ("after_seq=-1", "after_seq"),
        ("since=yesterday", "since"),
        ("until=2026-01-01T00:00:00", "until"),
        ("format=csv", "format"),
    ],
)
def test_export_rejects_invalid_parameter(exporter, query, name):
    response = call(f"/api/v1/audit/export?{query}", exporter)

    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_parameter"
    assert name in error_of(response)["message"]


@pytest.fixture
def log_with_leaked_secret(gateway_db):
    """A log whose third row contains a bearer credential, as an old writer left it."""
    from audit.keys import DEVELOPMENT_KEY, DEVELOPMENT_KEY_ID, SigningKey
    from audit.writer import SqliteAuditWriter

    append_events(2)
    payload = {
        "event_id": "11111111-1111-4111-8111-111111111111",
        "event_type": "test_event",
        "actor": {"kind": "system", "id": "tests"},
        "request_id": None,
        "operation": "tests.leak",
        "scopes": {"granted": [], "required": []},
        "account_hash": None,
        "token_hash": None,
        "decision": "allow",
        "outcome": "completed",
        "error_code": None,
        "input_hash": None,
        "output_hash": None,
        "redactions": [],
        "metadata": {"note": "Authorization: Bearer leakedtoken1234567890abcdef"},
    }
    SqliteAuditWriter().append(payload, SigningKey(DEVELOPMENT_KEY_ID, DEVELOPMENT_KEY))
    append_events(1)
    _token, token_string = make_token([AUDIT_EXPORT])
    return token_string


def test_export_refuses_rows_holding_secrets(log_with_leaked_secret):
    response = call("/api/v1/audit/export", log_with_leaked_secret)

    assert response.status_code == 409
    assert error_of(response)["code"] == "unsafe_output"
    assert "seq 3" in error_of(response)["message"]
    assert b"leakedtoken" not in response.content


def test_export_refusal_is_audited(gateway_db, log_with_leaked_secret):
    call("/api/v1/audit/export", log_with_leaked_secret)

    (event,) = api_events(gateway_db)
    assert event["decision"] == "refuse"
    assert event["outcome"] == "refused"
    assert event["error_code"] == "unsafe_output"
    assert event["metadata"]["unsafe_rows"][0]["seq"] == 3


def test_export_outside_leaked_row_succeeds(log_with_leaked_secret):
    response = call("/api/v1/audit/export?after_seq=3", log_with_leaked_secret)

    assert response.status_code == 200
    assert [line["seq"] for line in export_lines(response)] == [4]


def test_export_leaves_chain_verifiable(log_of_five, exporter):
    call("/api/v1/audit/export", exporter)
    connections["default"].close()

    result = run_manage("audit", "verify", "--json", db_path=log_of_five)

    assert result.returncode == 0, result.stdout + result.stderr
