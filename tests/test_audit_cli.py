"""``manage.py audit tail | export | verify``: output, exit codes, self-audit.

Each command runs as a real subprocess on a real database file, as an
operator would run it.
"""

import hashlib
import json
import sqlite3

import pytest
from django.db import connections

from audit.triggers import CREATE_STATEMENTS
from tests.conftest import (
    TEST_CORRELATION_KEY,
    TEST_KEY,
    append_events,
    manage_env,
    run_manage,
)


def close_django():
    connections["default"].close()


def events(db_path):
    with sqlite3.connect(db_path) as db:
        db.row_factory = sqlite3.Row
        return [
            dict(row) for row in db.execute("SELECT * FROM audit_events ORDER BY seq")
        ]


def last_event(db_path):
    event = events(db_path)[-1]
    event["payload"] = json.loads(event["payload"])
    return event


@pytest.fixture
def log_of_five(gateway_db):
    append_events(5)
    close_django()
    return gateway_db


@pytest.fixture
def config_file(tmp_path):
    """Write a runtime config with a reviewer principal; return a writer."""

    def write(scopes=("ibkr:audit:read",), extra=""):
        path = tmp_path / "gateway.toml"
        scope_list = ", ".join(f'"{scope}"' for scope in scopes)
        path.write_text(
            "[audit]\n"
            'hmac_secret_env = "TEST_AUDIT_KEY"\n'
            'correlation_secret_env = "TEST_CORRELATION_KEY"\n'
            f"{extra}\n"
            "[cli]\n"
            'principal = "reviewer"\n'
            f"scopes = [{scope_list}]\n"
        )
        return path

    return write


def config_env(db_path, config_path, **extra):
    return manage_env(
        db_path,
        IBKR_GATEWAY_CONFIG=str(config_path),
        TEST_AUDIT_KEY=TEST_KEY,
        TEST_CORRELATION_KEY=TEST_CORRELATION_KEY,
        DJANGO_SECRET_KEY="test-secret-key-for-subprocesses-only",
        **extra,
    )


# tail


def test_tail_json_lists_newest_first(log_of_five, manage):
    result = manage("audit", "tail", "--limit", "3", "--json")

    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert [event["seq"] for event in body["events"]] == [5, 4, 3]


def test_tail_json_event_has_documented_keys(log_of_five, manage):
    result = manage("audit", "tail", "--limit", "1", "--json")

    event = json.loads(result.stdout)["events"][0]
    for key in (
        "seq",
        "event_id",
        "event_type",
        "occurred_at",
        "operation",
        "decision",
        "outcome",
        "error_code",
        "request_id",
        "payload",
    ):
        assert key in event, key
    assert event["occurred_at"] == event["payload"]["occurred_at"]
    assert event["occurred_at"].endswith("Z")


def test_tail_appends_its_own_read_event(log_of_five, manage):
    manage("audit", "tail", "--limit", "2", "--json")

    event = last_event(log_of_five)
    assert event["seq"] == 6
    assert event["event_type"] == "audit_read"
    assert event["operation"] == "audit.tail"
    assert event["actor"] == "cli:dev"
    assert event["payload"]["metadata"]["limit"] == 2


def test_tail_text_prints_one_line_per_event(log_of_five, manage):
    result = manage("audit", "tail", "--limit", "4")

    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4
    assert lines[0].split()[0] == "5"


def test_tail_reads_external_database_read_only(log_of_five, tmp_path, manage):
    external = tmp_path / "copy.sqlite3"
    with sqlite3.connect(log_of_five) as source, sqlite3.connect(external) as target:
        source.backup(target)
    before = hashlib.sha256(external.read_bytes()).hexdigest()

    result = manage(
        "audit",
        "tail",
        "--database-url",
        f"sqlite:{external}",
        "--limit",
        "100",
        "--json",
    )

    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["events"]) == 5
    assert hashlib.sha256(external.read_bytes()).hexdigest() == before
    assert last_event(log_of_five)["payload"]["metadata"]["database"] == "external"


def test_database_url_with_empty_authority_is_accepted(log_of_five, manage):
    result = manage(
        "audit", "tail", "--database-url", f"sqlite://{log_of_five}", "--json"
    )

    assert result.returncode == 0, result.stderr


# export


def test_export_json_digest_covers_the_lines(log_of_five, manage):
    result = manage("audit", "export", "--limit", "500", "--json")

    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["format"] == "jsonl"
    assert body["count"] == 5
    assert (body["first_seq"], body["last_seq"]) == (1, 5)
    lines = b"".join(
        json.dumps(
            line, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
        + b"\n"
        for line in body["events"]
    )
    assert hashlib.sha256(lines).hexdigest() == body["sha256"]


def test_export_lines_are_ascending_with_chain_fields(log_of_five, manage):
    result = manage("audit", "export", "--limit", "2")

    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["seq"] for line in lines] == [4, 5]
    assert set(lines[0]) == {"seq", "key_id", "prev_mac", "mac", "payload"}
    assert lines[1]["prev_mac"] == lines[0]["mac"]


def test_export_to_file_matches_digest(log_of_five, tmp_path, manage):
    output = tmp_path / "export.jsonl"

    result = manage(
        "audit", "export", "--limit", "0", "--output", str(output), "--json"
    )

    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert "events" not in body
    assert hashlib.sha256(output.read_bytes()).hexdigest() == body["sha256"]
    assert len(output.read_bytes().splitlines()) == 5
    assert list(tmp_path.glob(".export.jsonl.*")) == []


def test_export_refuses_existing_output_file(log_of_five, tmp_path, manage):
    output = tmp_path / "export.jsonl"
    output.write_text("keep me\n")

    result = manage("audit", "export", "--output", str(output))

    assert result.returncode == 64
    assert output.read_text() == "keep me\n"


def test_export_range_by_after_seq(log_of_five, manage):
    result = manage("audit", "export", "--after-seq", "3", "--json")

    body = json.loads(result.stdout)
    assert [line["seq"] for line in body["events"]] == [4, 5]


def test_export_range_by_time(log_of_five, manage):
    third = events(log_of_five)[2]
    since = json.loads(third["payload"])["occurred_at"]

    result = manage("audit", "export", "--since", since, "--json")

    body = json.loads(result.stdout)
    assert body["first_seq"] == 3


def test_export_appends_event_with_digest(log_of_five, manage):
    result = manage("audit", "export", "--json")

    body = json.loads(result.stdout)
    event = last_event(log_of_five)
    assert event["event_type"] == "audit_export"
    assert event["payload"]["metadata"]["sha256"] == body["sha256"]


@pytest.fixture
def log_with_leaked_secret(gateway_db):
    """A log whose third row contains a bearer token, as an old writer left it."""
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
    close_django()
    return gateway_db


def test_export_refuses_rows_holding_secrets(log_with_leaked_secret, tmp_path, manage):
    output = tmp_path / "out.jsonl"

    result = manage("audit", "export", "--output", str(output))

    assert result.returncode == 6
    assert "seq 3" in result.stderr
    assert not output.exists()
    assert "leakedtoken" not in result.stdout + result.stderr


def test_export_refusal_is_audited(log_with_leaked_secret, manage):
    manage("audit", "export", "--json")

    event = last_event(log_with_leaked_secret)
    assert event["outcome"] == "refused"
    assert event["error_code"] == "unsafe_output"
    assert event["payload"]["metadata"]["unsafe_rows"][0]["seq"] == 3


# verify


def test_verify_json_reports_valid_chain(log_of_five, manage):
    result = manage("audit", "verify", "--json")

    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["chain_valid"] is True
    assert body["events_scanned"] == 5
    assert body["breaks"] == 0
    assert body["first_break"] is None
    assert body["head"]["seq"] == 5
    assert body["triggers_present"] is True


def test_verify_empty_log_exits_zero(gateway_db, manage):
    result = manage("audit", "verify", "--json")

    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["head"] == {"seq": 0, "mac": "0" * 64}
    assert body["events_scanned"] == 0


def test_verify_appends_verification_event(log_of_five, manage):
    manage("audit", "verify", "--json")

    event = last_event(log_of_five)
    assert event["event_type"] == "audit_verification"
    assert event["payload"]["metadata"]["chain_valid"] is True


def drop_triggers(db_path):
    with sqlite3.connect(db_path) as db:
        for name in CREATE_STATEMENTS:
            db.execute(f"DROP TRIGGER {name}")


def test_verify_broken_chain_exits_two(log_of_five, tmp_path, manage):
    external = tmp_path / "tampered.sqlite3"
    with sqlite3.connect(log_of_five) as source, sqlite3.connect(external) as target:
        source.backup(target)
    drop_triggers(external)
    with sqlite3.connect(external) as db:
        db.execute("UPDATE audit_events SET actor = 'cli:mallory' WHERE seq = 2")

    result = manage("audit", "verify", "--database-url", f"sqlite:{external}", "--json")

    assert result.returncode == 2
    body = json.loads(result.stdout)
    assert body["first_break"]["seq"] == 2
    assert body["first_break"]["reason"] == "projection_mismatch"


def test_verify_missing_triggers_exits_three(log_of_five, manage):
    drop_triggers(log_of_five)

    result = manage("audit", "verify", "--json")

    assert result.returncode == 3
    assert json.loads(result.stdout)["triggers_present"] is False


def test_verify_missing_key_variable_exits_seven(log_of_five, manage):
    result = manage(
        "audit", "verify", "--hmac-secret-env", "NOT_SET_ANYWHERE", "--json"
    )

    assert result.returncode == 7
    assert "NOT_SET_ANYWHERE" in result.stderr


def test_verify_short_key_exits_seven(log_of_five, manage):
    result = manage(
        "audit",
        "verify",
        "--hmac-secret-env",
        "SHORT_KEY",
        "--json",
        SHORT_KEY="x" * 31,
    )

    assert result.returncode == 7
    assert "31 bytes" in result.stderr


def test_verify_config_key_missing_exits_seven(log_of_five, config_file, manage):
    env = config_env(log_of_five, config_file())
    del env["TEST_AUDIT_KEY"]

    result = manage("audit", "verify", "--json", env=env)

    assert result.returncode == 7
    assert "TEST_AUDIT_KEY" in result.stderr


def test_verify_missing_database_exits_seven_without_creating(gateway_db, tmp_path):
    missing = tmp_path / "nowhere" / "audit.db"

    result = run_manage(
        "audit",
        "verify",
        "--database-url",
        f"sqlite:{missing}",
        "--json",
        db_path=gateway_db,
    )

    assert result.returncode == 7
    assert not missing.exists()
    assert not missing.parent.exists()


def test_verify_non_audit_database_exits_seven(gateway_db, tmp_path, manage):
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (body TEXT)")

    result = manage("audit", "verify", "--database-url", f"sqlite:{other}")

    assert result.returncode == 7
    assert "not an audit log" in result.stderr


def test_verify_corrupt_file_exits_seven(gateway_db, tmp_path, manage):
    corrupt = tmp_path / "corrupt.sqlite3"
    corrupt.write_bytes(b"this is not a database" * 100)

    result = manage("audit", "verify", "--database-url", f"sqlite:{corrupt}")

    assert result.returncode == 7


def test_verify_newer_schema_exits_seven(log_of_five, tmp_path, manage):
    newer = tmp_path / "newer.sqlite3"
    with sqlite3.connect(log_of_five) as source, sqlite3.connect(newer) as target:
        source.backup(target)
    with sqlite3.connect(newer) as db:
        db.execute(
            "INSERT INTO django_migrations (app, name, applied) "
            "VALUES ('audit', '0999_future', '2030-01-01')"
        )

    result = manage("audit", "verify", "--database-url", f"sqlite:{newer}")

    assert result.returncode == 7
    assert "newer audit schema" in result.stderr


@pytest.mark.parametrize(
    "arguments",
    [
        ("audit", "verify", "--no-such-flag"),
        ("audit", "tail", "--limit", "many"),
        ("audit", "tail", "--limit", "0"),
        ("audit", "export", "--since", "2026-01-01T00:00:00"),
        ("audit", "frobnicate"),
        ("audit",),
        ("audit", "verify", "--database-url", "postgres://db/audit"),
    ],
)
def test_usage_errors_exit_sixty_four(gateway_db, manage, arguments):
    result = manage(*arguments)

    assert result.returncode == 64, result.stderr


def test_help_lists_exit_codes(gateway_db, manage):
    result = manage("audit", "verify", "--help")

    assert result.returncode == 0
    assert "64 usage error" in " ".join(result.stdout.split())


# runtime config and the [cli] scope gate


def config_mode_log(db_path, config_path, monkeypatch, count=3, chain_key=TEST_KEY):
    """Append ``count`` events signed with ``chain_key`` under ``config_path``."""
    from ibkr_gateway import runtime_config

    monkeypatch.setenv("TEST_AUDIT_KEY", chain_key)
    monkeypatch.setenv("TEST_CORRELATION_KEY", TEST_CORRELATION_KEY)
    runtime_config.set_runtime_config(runtime_config.load_runtime_config(config_path))
    append_events(count)
    close_django()


def test_scope_denied_without_audit_read(gateway_db, config_file, manage):
    config = config_file(scopes=("ibkr:health:read",))

    result = manage("audit", "tail", "--json", env=config_env(gateway_db, config))

    assert result.returncode == 4
    assert "ibkr:audit:read" in result.stderr
    assert result.stdout == ""


def test_scope_denial_is_audited(gateway_db, config_file, manage):
    config = config_file(scopes=())

    manage("audit", "verify", env=config_env(gateway_db, config))

    event = last_event(gateway_db)
    assert event["event_type"] == "scope_denied"
    assert event["decision"] == "deny"
    assert event["outcome"] == "denied"
    assert event["actor"] == "cli:reviewer"
    assert event["payload"]["scopes"]["required"] == ["ibkr:audit:read"]


def test_config_mode_verify_with_named_key(
    gateway_db, config_file, manage, monkeypatch
):
    config = config_file()
    config_mode_log(gateway_db, config, monkeypatch)
    env = config_env(gateway_db, config, REVIEW_KEY=TEST_KEY)

    result = manage(
        "audit",
        "verify",
        "--database-url",
        f"sqlite:{gateway_db}",
        "--hmac-secret-env",
        "REVIEW_KEY",
        "--json",
        env=env,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["events_scanned"] == 3


def test_config_mode_wrong_key_breaks_chain(
    gateway_db, config_file, manage, monkeypatch
):
    config = config_file()
    config_mode_log(gateway_db, config, monkeypatch)
    env = config_env(gateway_db, config, OTHER_KEY="o" * 40)

    result = manage(
        "audit", "verify", "--hmac-secret-env", "OTHER_KEY", "--json", env=env
    )

    assert result.returncode == 2
    assert json.loads(result.stdout)["first_break"]["reason"] == "mac_mismatch"


def test_config_mode_fallback_key_verifies_rotated_rows(
    gateway_db, config_file, manage, monkeypatch
):
    config_mode_log(gateway_db, config_file(), monkeypatch, count=2)
    rotated = config_file(
        extra='key_id = "k2"\n[audit.fallback_keys]\nk1 = "OLD_AUDIT_KEY"\n'
    )
    monkeypatch.setenv("OLD_AUDIT_KEY", TEST_KEY)
    config_mode_log(gateway_db, rotated, monkeypatch, count=2, chain_key="n" * 40)
    env = config_env(gateway_db, rotated, OLD_AUDIT_KEY=TEST_KEY)
    env["TEST_AUDIT_KEY"] = "n" * 40

    result = manage("audit", "verify", "--json", env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["key_ids"] == ["k1", "k2"]


def test_invalid_config_exits_seven(gateway_db, tmp_path, manage):
    config = tmp_path / "bad.toml"
    config.write_text('[audit]\nsynchronous = "OFF"\ncorrelation_secret_env = "X"\n')

    result = manage("audit", "tail", env=config_env(gateway_db, config))

    assert result.returncode == 7
    assert "audit.synchronous" in result.stderr


# mistakes a newcomer makes


def test_export_into_missing_directory_exits_64(log_of_five, tmp_path, manage):
    result = manage(
        "audit", "export", "--output", str(tmp_path / "no-such-dir" / "a.jsonl")
    )

    assert result.returncode == 64
    assert "does not exist" in result.stderr


def test_export_to_directory_exits_64(log_of_five, tmp_path, manage):
    result = manage("audit", "export", "--output", str(tmp_path))

    assert result.returncode == 64
    assert "is a directory" in result.stderr


def test_missing_runtime_database_exits_seven_uncreated(tmp_path):
    missing = tmp_path / "absent.sqlite3"

    result = run_manage("audit", "tail", db_path=missing)

    assert result.returncode == 7
    assert "four slashes" in result.stderr
    assert not missing.exists()


def test_subcommand_typo_shows_subcommand_usage(gateway_db, manage):
    result = manage("audit", "tail", "--limt", "3")

    assert result.returncode == 64
    assert "manage.py audit tail: error: unrecognized arguments" in result.stderr


def test_broken_chain_verification_recorded_as_failed(log_of_five, manage):
    drop_triggers(log_of_five)
    with sqlite3.connect(log_of_five) as db:
        db.execute("UPDATE audit_events SET operation = 'tests.other' WHERE seq = 1")

    manage("audit", "verify")

    event = last_event(log_of_five)
    assert event["outcome"] == "failed"
    assert event["error_code"] == "chain_broken"


def test_development_rows_under_config_get_key_hint(log_of_five, config_file, manage):
    env = config_env(log_of_five, config_file())

    result = manage("audit", "verify", env=env)

    assert result.returncode == 2
    assert "public development key" in result.stderr


def test_missing_django_secret_key_exits_seven(gateway_db, config_file, manage):
    env = config_env(gateway_db, config_file())
    del env["DJANGO_SECRET_KEY"]

    result = manage("audit", "tail", env=env)

    assert result.returncode == 7
    assert "DJANGO_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_system_check_reports_missing_key(gateway_db, config_file, manage):
    env = config_env(gateway_db, config_file())
    del env["TEST_AUDIT_KEY"]

    result = manage("check", env=env)

    assert result.returncode == 1
    assert "ibkr_gateway.E001" in result.stderr
    assert "TEST_AUDIT_KEY" in result.stderr


def test_damaged_row_shown_by_tail_and_export(log_of_five, manage):
    drop_triggers(log_of_five)
    with sqlite3.connect(log_of_five) as db:
        db.execute(
            "UPDATE audit_events SET payload = ?, actor = ? WHERE seq = 3",
            (b"\xff\xfe broken", "user:x\n       9  forged"),
        )

    tail = manage("audit", "tail", "--limit", "5")
    export = manage("audit", "export", "--json")
    verify = manage("audit", "verify", "--json")

    assert tail.returncode == 0, tail.stderr
    assert "user:x\\n" in tail.stdout
    assert len(tail.stdout.splitlines()) == 5
    assert export.returncode == 0, export.stderr
    assert verify.returncode == 2
    assert json.loads(verify.stdout)["first_break"]["seq"] == 3


@pytest.mark.parametrize(
    "arguments",
    [
        ("audit", "export", "--after-seq", str(2**64)),
        ("audit", "export", "--since", "9999-12-31T23:59:59-05:00"),
        ("audit", "tail", "--database-url", ""),
        ("audit", "export", "--output", ""),
    ],
)
def test_out_of_range_values_exit_64(gateway_db, manage, arguments):
    result = manage(*arguments)

    assert result.returncode == 64, result.stderr
    assert "Traceback" not in result.stderr


def test_bad_settings_variable_exits_seven(gateway_db, manage):
    result = manage("audit", "tail", IBKR_SQLITE_BUSY_TIMEOUT="soon")

    assert result.returncode == 7
    assert "IBKR_SQLITE_BUSY_TIMEOUT" in result.stderr


def test_sigterm_during_export_leaves_no_file(gateway_db, tmp_path, monkeypatch):
    import os
    import signal

    from django.core.management import call_command

    from audit.management.commands import audit as audit_command

    append_events(3)
    real_iter_lines = audit_command.iter_lines

    def interrupted(connection, export_range):
        for number, item in enumerate(real_iter_lines(connection, export_range)):
            if number == 1:
                os.kill(os.getpid(), signal.SIGTERM)
            yield item

    monkeypatch.setattr(audit_command, "iter_lines", interrupted)
    exports = tmp_path / "exports"
    exports.mkdir()

    with pytest.raises(SystemExit) as caught:
        call_command("audit", "export", "--output", str(exports / "out.jsonl"))

    assert caught.value.code == 128 + signal.SIGTERM
    assert list(exports.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
