"""The event envelope: fixed shape, outcome mapping, limits and value rules."""

from datetime import datetime
from decimal import Decimal

import pytest

import audit
from audit.envelope import MAX_EVENT_BYTES, build_event
from audit.errors import EventTooLarge, InvalidEvent

KEY = b"c" * 32
ENVELOPE_KEYS = {
    "event_id",
    "event_type",
    "actor",
    "request_id",
    "operation",
    "scopes",
    "account_hash",
    "token_hash",
    "decision",
    "outcome",
    "error_code",
    "input_hash",
    "output_hash",
    "redactions",
    "metadata",
}


def build(**overrides):
    fields = {
        "operation": "tests.envelope",
        "actor": {"kind": "cli", "id": "cli:ops"},
        "decision": "allow",
        "outcome": "completed",
        "correlation_key": KEY,
    }
    fields.update(overrides)
    return build_event("test_event", **fields)


def test_envelope_has_every_key_for_denial():
    payload = build(decision="deny", outcome="denied", error_code="scope_denied")

    assert set(payload) == ENVELOPE_KEYS


def test_envelope_has_every_key_for_completion():
    assert set(build()) == ENVELOPE_KEYS


@pytest.mark.parametrize(
    ("decision", "outcome"),
    [("allow", "denied"), ("deny", "refused"), ("refuse", "completed"), ("x", "y")],
)
def test_mismatched_decision_and_outcome_rejected(decision, outcome):
    with pytest.raises(InvalidEvent, match="decision|outcome"):
        build(decision=decision, outcome=outcome, error_code="some_error")


def test_failure_without_error_code_rejected():
    with pytest.raises(InvalidEvent, match="error_code"):
        build(outcome="failed")


def test_completion_with_error_code_rejected():
    with pytest.raises(InvalidEvent, match="error_code"):
        build(error_code="oops")


def test_scopes_sorted_and_deduplicated():
    payload = build(
        scopes={"required": ["x:b", "x:a", "x:a"], "granted": ["ibkr:audit:read"]}
    )

    assert payload["scopes"] == {
        "required": ["x:a", "x:b"],
        "granted": ["ibkr:audit:read"],
    }


def test_unknown_actor_kind_rejected():
    with pytest.raises(InvalidEvent, match="actor kind"):
        build(actor={"kind": "robot", "id": "r2"})


def test_float_in_metadata_rejected_with_path():
    with pytest.raises(InvalidEvent, match=r"metadata\.order\.price"):
        build(metadata={"order": {"price": 101.5}})


def test_naive_datetime_rejected_with_path():
    with pytest.raises(InvalidEvent, match=r"metadata\.when"):
        build(metadata={"when": datetime(2026, 1, 1)})


def test_very_deep_metadata_rejected_cleanly():
    nested = "leaf"
    for _ in range(5000):
        nested = [nested]

    with pytest.raises(InvalidEvent):
        build(metadata={"deep": nested})


def test_lone_surrogate_rejected():
    with pytest.raises(InvalidEvent):
        build(metadata={"text": "bad \ud800 text"})


def test_decimal_stored_as_string():
    payload = build(metadata={"price": Decimal("101.50")})

    assert payload["metadata"]["price"] == "101.50"


def test_depth_over_limit_rejected():
    # The envelope is level 1, so metadata may nest 31 levels.
    nested = "leaf"
    for _ in range(32):
        nested = {"level": nested}

    with pytest.raises(EventTooLarge, match="levels deep"):
        build(metadata=nested)


def test_depth_at_limit_accepted():
    nested = "leaf"
    for _ in range(31):
        nested = {"level": nested}

    assert build(metadata=nested)["metadata"]


def test_oversized_event_refused_not_truncated(gateway_db):
    with pytest.raises(EventTooLarge, match="bytes"):
        audit.log_event(
            "test_event",
            operation="tests.envelope",
            actor={"kind": "system", "id": "tests"},
            decision="allow",
            outcome="completed",
            metadata={"blob": "x" * MAX_EVENT_BYTES},
        )

    from audit.models import AuditEvent

    assert AuditEvent.objects.count() == 0


def test_account_hash_depends_on_correlation_key():
    first = build(account_id="U1234567")["account_hash"]
    second = build(account_id="U1234567", correlation_key=b"d" * 32)["account_hash"]

    assert first != second


def test_request_id_with_spaces_rejected():
    with pytest.raises(InvalidEvent, match="request_id"):
        build(request_id="has spaces")


def test_log_event_returns_record(gateway_db):
    record = audit.log_event(
        "test_event",
        operation="tests.envelope",
        actor={"kind": "system", "id": "tests"},
        decision="refuse",
        outcome="refused",
        error_code="gate_closed",
    )

    assert record.seq == 1
    assert len(record.mac) == 64
    assert len(record.event_id) == 36


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("request_id", "U7654321"),
        ("request_id", "3f2b7c1e-0000-4000-8000-000000000000\n"),
        ("error_code", "bad\ncode"),
        ("operation", "tests.x\n"),
    ],
)
def test_malformed_identifier_rejected(field, value):
    overrides = {field: value}
    if field == "error_code":
        overrides.update(decision="deny", outcome="denied")

    with pytest.raises(InvalidEvent):
        build(**overrides)


def test_secret_shaped_scope_rejected():
    with pytest.raises(InvalidEvent, match="scope"):
        build(scopes={"granted": ["Bearer abcdef0123456789"]})


def test_error_message_never_echoes_value():
    secret = "hunter2-very-secret-value"

    with pytest.raises(InvalidEvent) as caught:
        build(actor={"kind": "user", "id": "x", "password": secret})

    assert secret not in str(caught.value)


def test_unhashable_input_message_hides_value():
    secret = "hunter2\ud800"

    with pytest.raises(InvalidEvent) as caught:
        build(input={"password": secret})

    assert "hunter2" not in str(caught.value)


def test_boolean_account_id_rejected():
    with pytest.raises(InvalidEvent, match="account_id"):
        build(account_id=True)


def test_actor_id_with_newline_rejected():
    with pytest.raises(InvalidEvent, match="actor id"):
        build(actor={"kind": "user", "id": "user:bob\n  999 forged line"})


def test_principal_id_kept_as_is():
    payload = build(actor={"kind": "token", "id": "token:17"})

    assert payload["actor"]["id"] == "token:17"
    assert payload["redactions"] == []


def test_account_id_in_principal_name_hashed():
    payload = build(actor={"kind": "user", "id": "user:DU1234567"})

    assert payload["actor"]["id"].startswith("user:[account:")
    assert "DU1234567" not in payload["actor"]["id"]
