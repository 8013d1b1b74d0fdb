"""Secrets given to ``log_event`` never reach the database file or the logs.

The checks read the raw bytes of the SQLite file and its WAL, so a secret
hidden in a free page, an index or an uncheckpointed frame is found too.
"""

import json
import logging
import secrets
import sqlite3

import pytest
from django.db import connections

import audit
from audit.correlation import ACCOUNT, TOKEN, correlation_hash
from audit.keys import correlation_key
from ibkr_gateway.runtime_config import get_runtime_config
from tests.conftest import run_manage


def database_bytes(path):
    data = b""
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            data += part.read_bytes()
    return data


@pytest.fixture
def canaries():
    return [secrets.token_urlsafe(32) for _ in range(8)]


@pytest.fixture
def issue_metadata(canaries):
    c = canaries
    return {
        "request": {
            "aUtHoRiZaTiOn": f"Bearer {c[1]}",
            "X-API-KEY": c[2],
            "Proxy-Authorization": f"Basic {c[3]}",
        },
        "note": (
            f"curl -H 'AUTHORIZATION: bearer {c[4]}' "
            f"https://user:{c[5]}@gw.local/v1/api?token={c[6]} for DU1234567 "
            "from /home/alice/.config/gw.toml"
        ),
    }


def append(metadata, **fields):
    return audit.log_event(
        "test_event",
        operation="tests.redaction",
        actor={"kind": "system", "id": "tests"},
        decision="allow",
        outcome="completed",
        metadata=metadata,
        **fields,
    )


def stored_payload(path, seq):
    with sqlite3.connect(path) as db:
        text = db.execute(
            "SELECT payload FROM audit_events WHERE seq = ?", (seq,)
        ).fetchone()[0]
    return json.loads(text)


def test_no_canary_in_database_file(gateway_db, issue_metadata, canaries):
    append(issue_metadata)
    connections["default"].close()

    data = database_bytes(gateway_db)

    for canary in canaries[1:7]:
        assert canary.encode() not in data, canary


def test_no_raw_account_or_home_path_in_file(gateway_db, issue_metadata):
    append(issue_metadata)
    connections["default"].close()

    data = database_bytes(gateway_db)

    assert b"DU1234567" not in data
    assert b"/home/alice" not in data


def test_account_id_becomes_correlation_hash(gateway_db, issue_metadata):
    record = append(issue_metadata)

    payload = stored_payload(gateway_db, record.seq)
    expected = correlation_hash(
        correlation_key(get_runtime_config()), ACCOUNT, "DU1234567"
    )
    assert f"[account:{expected}]" in payload["metadata"]["note"]


def test_parent_key_kept_and_paths_recorded(gateway_db, issue_metadata):
    record = append(issue_metadata)

    payload = stored_payload(gateway_db, record.seq)
    assert set(payload["metadata"]["request"]) == {
        "aUtHoRiZaTiOn",
        "X-API-KEY",
        "Proxy-Authorization",
    }
    paths = {entry["path"] for entry in payload["redactions"]}
    assert "metadata.request.aUtHoRiZaTiOn" in paths
    assert "metadata.note" in paths


def test_raw_ids_stored_only_as_hashes(gateway_db, canaries):
    account, token = f"U{secrets.randbelow(10**7):07d}", canaries[7]

    record = append({}, account_id=account, token_id=token)
    connections["default"].close()

    payload = stored_payload(gateway_db, record.seq)
    key = correlation_key(get_runtime_config())
    assert payload["account_hash"] == correlation_hash(key, ACCOUNT, account)
    assert payload["token_hash"] == correlation_hash(key, TOKEN, token)
    data = database_bytes(gateway_db)
    assert account.encode() not in data
    assert token.encode() not in data


def test_input_and_output_stored_as_hashes(gateway_db, canaries):
    record = append({}, input={"secret": canaries[0]}, output=[canaries[1]])
    connections["default"].close()

    payload = stored_payload(gateway_db, record.seq)
    assert len(payload["input_hash"]) == 64
    assert len(payload["output_hash"]) == 64
    data = database_bytes(gateway_db)
    assert canaries[0].encode() not in data
    assert canaries[1].encode() not in data


def test_no_canary_in_logs_or_cli_output(gateway_db, issue_metadata, canaries, caplog):
    caplog.set_level(logging.DEBUG)
    append(issue_metadata)
    connections["default"].close()

    result = run_manage("audit", "tail", "--json", db_path=gateway_db)
    exported = run_manage("audit", "export", "--json", db_path=gateway_db)

    seen = caplog.text + result.stdout + result.stderr
    seen += exported.stdout + exported.stderr
    assert exported.returncode == 0, exported.stderr
    for canary in canaries[1:7]:
        assert canary not in seen


def test_stored_principal_id_passes_export_scan(gateway_db):
    from audit.redaction import find_secrets

    record = audit.log_event(
        "test_event",
        operation="tests.redaction",
        actor={"kind": "token", "id": "token:17"},
        decision="allow",
        outcome="completed",
    )
    with sqlite3.connect(gateway_db) as db:
        (text,) = db.execute(
            "SELECT payload FROM audit_events WHERE seq = ?", (record.seq,)
        ).fetchone()

    assert '"id":"token:17"' in text
    assert find_secrets(text) == []


def test_secret_after_principal_prefix_still_found():
    from audit.redaction import find_secrets

    text = '{"actor":{"id":"user:Bearer abcdefghijklmnop123","kind":"user"}}'

    assert find_secrets(text) != []


def test_gateway_token_in_free_text_redacted(gateway_db):
    secret = "ibkr_1_" + secrets.token_urlsafe(32)

    record = append({"client_request_id": secret})
    connections["default"].close()

    assert secret.encode() not in database_bytes(gateway_db)
    assert stored_payload(gateway_db, record.seq)["redactions"]
