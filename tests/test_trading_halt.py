"""Trading halt: the new-installation state, halt and resume, atomicity, restarts."""

import json
import sqlite3

import pytest
from django.db import IntegrityError, connections, transaction

import audit
from audit.errors import AuditUnavailable
from orders import trading_halt
from orders.models import TradingHalt, TradingHaltChange

OPERATOR = {"kind": "cli", "id": "cli:dev"}


def events(db_path):
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT payload FROM audit_events ORDER BY seq").fetchall()
    return [json.loads(payload) for (payload,) in rows]


def test_new_installation_is_halted(gateway_db):
    state = trading_halt.current_state()

    assert state.halted is True
    assert state.reason == "New installation: an operator must resume trading."
    assert state.changed_by == "system"
    assert TradingHalt.objects.count() == 1
    assert TradingHaltChange.objects.count() == 0


def test_second_row_violates_check(gateway_db):
    with pytest.raises(IntegrityError), transaction.atomic():
        TradingHalt.objects.create(
            id=2,
            halted=False,
            reason="x",
            changed_by="system",
            changed_at=trading_halt.current_state().changed_at,
        )


def test_resume_changes_state_history_and_event(gateway_db):
    change = trading_halt.resume(OPERATOR, "  checks done  ")

    state = trading_halt.current_state()
    assert state.halted is False
    assert state.reason == "checks done"
    assert state.changed_by == "cli:dev"
    (row,) = TradingHaltChange.objects.all()
    assert row.pk == change.pk
    assert row.halted is False
    assert row.changed is True
    (event,) = events(gateway_db)
    assert event["event_id"] == row.event_id
    assert event["event_type"] == "trading_resumed"
    assert event["operation"] == "trading.resume"
    assert event["decision"] == "allow"
    assert event["outcome"] == "completed"
    assert event["actor"] == OPERATOR
    assert event["metadata"]["reason"] == "checks done"
    assert event["metadata"]["changed"] is True


def test_halt_after_resume_writes_one_event(gateway_db):
    trading_halt.resume(OPERATOR, "open")

    change = trading_halt.halt({"kind": "system", "id": "risk"}, "limit hit")

    assert trading_halt.current_state().halted is True
    assert change.changed is True
    assert TradingHaltChange.objects.count() == 2
    halted_events = [
        e for e in events(gateway_db) if e["event_type"] == "trading_halted"
    ]
    assert len(halted_events) == 1
    assert halted_events[0]["operation"] == "trading.halt"
    assert halted_events[0]["metadata"]["reason"] == "limit hit"
    assert halted_events[0]["event_id"] == change.event_id


def test_halt_when_halted_records_no_change(gateway_db):
    before = trading_halt.current_state()

    change = trading_halt.halt(OPERATOR, "again")

    after = trading_halt.current_state()
    assert change.changed is False
    assert after.reason == before.reason
    assert after.changed_at == before.changed_at
    (event,) = events(gateway_db)
    assert event["outcome"] == "completed"
    assert event["metadata"]["changed"] is False


def test_resume_when_running_records_no_change(gateway_db):
    trading_halt.resume(OPERATOR, "open")

    change = trading_halt.resume(OPERATOR, "open again")

    assert change.changed is False
    assert trading_halt.current_state().reason == "open"
    assert [e["metadata"]["changed"] for e in events(gateway_db)] == [True, False]


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501, "two\nlines", None])
def test_invalid_reason_writes_nothing(gateway_db, reason):
    with pytest.raises(trading_halt.InvalidReason):
        trading_halt.resume(OPERATOR, reason)

    assert trading_halt.current_state().halted is True
    assert TradingHaltChange.objects.count() == 0
    assert events(gateway_db) == []


def test_reason_of_500_characters_is_accepted(gateway_db):
    change = trading_halt.resume(OPERATOR, "x" * 500)

    assert len(change.reason) == 500


@pytest.mark.parametrize("kind", ["token", "system", "reconciler", "anonymous"])
def test_resume_by_non_operator_is_denied(gateway_db, kind):
    with pytest.raises(trading_halt.OperatorRequired):
        trading_halt.resume({"kind": kind, "id": f"{kind}:1"}, "open")

    assert trading_halt.current_state().halted is True
    assert TradingHaltChange.objects.count() == 0
    (event,) = events(gateway_db)
    assert event["event_type"] == "trading_halt_denied"
    assert event["decision"] == "deny"
    assert event["error_code"] == "operator_required"


def test_audit_failure_leaves_state_unchanged(gateway_db, monkeypatch):
    def unavailable(*args, **kwargs):
        raise AuditUnavailable()

    monkeypatch.setattr(audit, "log_event", unavailable)

    with pytest.raises(AuditUnavailable):
        trading_halt.resume(OPERATOR, "open")

    state = trading_halt.current_state()
    assert state.halted is True
    assert state.changed_by == "system"
    assert TradingHaltChange.objects.count() == 0
    assert events(gateway_db) == []


def test_state_survives_restart(gateway_db):
    trading_halt.resume(OPERATOR, "open")
    connections["default"].close()

    state = trading_halt.current_state()

    assert state.halted is False
    assert state.reason == "open"
    with sqlite3.connect(gateway_db) as db:
        (halted,) = db.execute("SELECT halted FROM orders_trading_halt").fetchone()
    assert halted == 0


def test_missing_row_reads_as_halted(gateway_db):
    with sqlite3.connect(gateway_db) as db:
        db.execute("DELETE FROM orders_trading_halt")
    connections["default"].close()

    state = trading_halt.current_state()

    assert state.halted is True
    assert "migrate" in state.reason
