"""``manage.py trading``: output shapes, exit codes and the operator gate.

Each command runs as a real subprocess on a real database file, as an
operator would run it.
"""

import json
import sqlite3

import pytest

from tests.conftest import TEST_CORRELATION_KEY, TEST_KEY, manage_env, run_manage


def events(db_path):
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT payload FROM audit_events ORDER BY seq").fetchall()
    return [json.loads(payload) for (payload,) in rows]


@pytest.fixture
def non_operator_env(gateway_db, tmp_path):
    """Return an environment whose runtime config has ``operator = false``."""
    path = tmp_path / "gateway.toml"
    path.write_text(
        "[audit]\n"
        'hmac_secret_env = "TEST_AUDIT_KEY"\n'
        'correlation_secret_env = "TEST_CORRELATION_KEY"\n'
        "[cli]\n"
        'principal = "desk"\n'
        'scopes = ["ibkr:audit:read"]\n'
        "operator = false\n"
    )
    return manage_env(
        gateway_db,
        IBKR_GATEWAY_CONFIG=str(path),
        TEST_AUDIT_KEY=TEST_KEY,
        TEST_CORRELATION_KEY=TEST_CORRELATION_KEY,
        DJANGO_SECRET_KEY="test-secret-key-for-subprocesses-only",
    )


def test_status_json_of_new_installation(manage):
    result = manage("trading", "status", "--json")

    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["halted"] is True
    assert body["changed_by"] == "system"
    assert body["reason"] == "New installation: an operator must resume trading."
    assert body["changed_at"].endswith("Z")


def test_status_text_and_no_event(manage, gateway_db):
    result = manage("trading", "status")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Trading is halted since ")
    assert events(gateway_db) == []


def test_resume_then_halt(manage, gateway_db):
    resumed = manage("trading", "resume", "--reason", "checks done", "--json")
    halted = manage("trading", "halt", "--reason", "broker outage")
    status = manage("trading", "status", "--json")

    assert resumed.returncode == 0, resumed.stderr
    body = json.loads(resumed.stdout)
    assert body["action"] == "resume"
    assert body["halted"] is False
    assert body["changed"] is True
    assert body["changed_by"] == "cli:dev"
    assert halted.returncode == 0, halted.stderr
    assert halted.stdout.strip() == "Trading is now halted."
    assert json.loads(status.stdout)["reason"] == "broker outage"
    recorded = events(gateway_db)
    assert [e["event_type"] for e in recorded] == ["trading_resumed", "trading_halted"]
    assert recorded[0]["event_id"] == body["event_id"]


def test_halt_when_halted_says_nothing_changed(manage):
    result = manage("trading", "halt", "--reason", "again")

    assert result.returncode == 0, result.stderr
    assert "already halted; nothing changed" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("trading",),
        ("trading", "halt"),
        ("trading", "resume", "--reason", ""),
        ("trading", "resume", "--reason", "x" * 501),
        ("trading", "status", "--bogus"),
    ],
)
def test_usage_errors_exit_64(manage, gateway_db, args):
    result = manage(*args)

    assert result.returncode == 64, result.stderr
    assert events(gateway_db) == []


def test_resume_denied_for_non_operator(manage, gateway_db, non_operator_env):
    result = manage("trading", "resume", "--reason", "open", env=non_operator_env)

    assert result.returncode == 4, result.stderr
    assert "operator = true" in result.stderr
    (event,) = events(gateway_db)
    assert event["event_type"] == "trading_halt_denied"
    assert event["operation"] == "trading.resume"
    assert event["decision"] == "deny"
    assert event["outcome"] == "denied"
    assert event["error_code"] == "operator_required"
    assert event["actor"] == {"kind": "cli", "id": "cli:desk"}
    status = manage("trading", "status", "--json", env=non_operator_env)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["halted"] is True


def test_halt_denied_for_non_operator(manage, gateway_db, non_operator_env):
    result = manage("trading", "halt", "--reason", "stop", env=non_operator_env)

    assert result.returncode == 4, result.stderr
    (event,) = events(gateway_db)
    assert event["operation"] == "trading.halt"


def test_missing_database_exits_7(tmp_path):
    missing = tmp_path / "absent.sqlite3"

    result = run_manage("trading", "status", db_path=missing)

    assert result.returncode == 7, result.stderr
    assert not missing.exists()
