"""Every tamper kind is caught, and the first break is reported at its seq.

Each test drops the append-only triggers first, as an attacker with write
access to the database file would, then changes the file with plain sqlite3.
"""

import hashlib
import hmac
import json
import sqlite3

import pytest

from audit.chain import compute_mac, payload_digest
from audit.keys import DEVELOPMENT_KEY, DEVELOPMENT_KEY_ID
from audit.reader import open_readonly
from audit.triggers import CREATE_STATEMENTS
from audit.verifier import verify_chain
from tests.conftest import append_events

KEYS = {DEVELOPMENT_KEY_ID: DEVELOPMENT_KEY}


@pytest.fixture
def log_of_ten(gateway_db):
    """Return the path of a log holding ten events, with triggers dropped."""
    append_events(10)
    from django.db import connections

    connections["default"].close()
    with sqlite3.connect(gateway_db) as db:
        for name in CREATE_STATEMENTS:
            db.execute(f"DROP TRIGGER {name}")
    return gateway_db


def tamper(path, *statements):
    with sqlite3.connect(path) as db:
        for statement, params in statements:
            db.execute(statement, params)


def row(path, seq):
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return dict(
            db.execute("SELECT * FROM audit_events WHERE seq = ?", (seq,)).fetchone()
        )


def verify(path, keys=KEYS):
    connection = open_readonly(path)
    try:
        return verify_chain(connection, keys)
    finally:
        connection.close()


def test_intact_log_verifies(log_of_ten):
    report = verify(log_of_ten)

    assert report.chain_valid
    assert report.events_scanned == 10
    assert report.head_seq == 10


def test_changed_payload_value_breaks_at_row(log_of_ten):
    original = row(log_of_ten, 5)["payload"]
    changed = original.replace('"event 4"', '"event X"')
    assert changed != original
    tamper(
        log_of_ten, ("UPDATE audit_events SET payload = ? WHERE seq = 5", (changed,))
    )

    report = verify(log_of_ten)

    assert report.first_break.as_dict() == {
        "seq": 5,
        "event_id": row(log_of_ten, 5)["event_id"],
        "reason": "mac_mismatch",
    }
    assert report.breaks == 1


def test_changed_projection_column_breaks_at_row(log_of_ten):
    tamper(
        log_of_ten,
        ("UPDATE audit_events SET operation = 'tests.other' WHERE seq = 3", ()),
    )

    report = verify(log_of_ten)

    assert report.first_break.seq == 3
    assert report.first_break.reason == "projection_mismatch"


def test_changed_occurred_at_column_breaks_at_row(log_of_ten):
    tamper(
        log_of_ten,
        (
            "UPDATE audit_events SET occurred_at = '2001-01-01 00:00:00' WHERE seq = 7",
            (),
        ),
    )

    report = verify(log_of_ten)

    assert report.first_break.seq == 7
    assert report.first_break.reason == "projection_mismatch"


def test_deleted_middle_row_breaks_at_next_row(log_of_ten):
    sixth = row(log_of_ten, 6)
    tamper(log_of_ten, ("DELETE FROM audit_events WHERE seq = 5", ()))

    report = verify(log_of_ten)

    assert report.first_break.as_dict() == {
        "seq": 6,
        "event_id": sixth["event_id"],
        "reason": "seq_gap",
    }
    assert report.events_scanned == 9


def test_inserted_row_breaks_at_inserted_seq(log_of_ten):
    fourth = row(log_of_ten, 4)
    forged = dict(row(log_of_ten, 5))
    forged["event_id"] = "00000000-0000-4000-8000-000000000000"
    forged["prev_mac"] = fourth["mac"]
    forged["mac"] = "f" * 64
    tamper(
        log_of_ten,
        ("UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 5", ()),
        ("UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1000", ()),
        (
            "INSERT INTO audit_events (seq, event_id, event_type, occurred_at, "
            "actor, request_id, account_hash, operation, decision, outcome, "
            "error_code, payload, key_id, prev_mac, mac) VALUES (5, :event_id, "
            ":event_type, :occurred_at, :actor, :request_id, :account_hash, "
            ":operation, :decision, :outcome, :error_code, :payload, :key_id, "
            ":prev_mac, :mac)",
            forged,
        ),
    )

    report = verify(log_of_ten)

    assert report.first_break.seq == 5
    assert report.first_break.event_id == forged["event_id"]
    assert report.first_break.reason == "mac_mismatch"


def test_appended_forged_row_breaks_at_its_seq(log_of_ten):
    forged = dict(row(log_of_ten, 10))
    forged.update(
        seq=11,
        event_id="00000000-0000-4000-8000-000000000011",
        prev_mac=forged["mac"],
        mac="e" * 64,
    )
    tamper(
        log_of_ten,
        (
            "INSERT INTO audit_events (seq, event_id, event_type, occurred_at, "
            "actor, request_id, account_hash, operation, decision, outcome, "
            "error_code, payload, key_id, prev_mac, mac) VALUES (:seq, :event_id, "
            ":event_type, :occurred_at, :actor, :request_id, :account_hash, "
            ":operation, :decision, :outcome, :error_code, :payload, :key_id, "
            ":prev_mac, :mac)",
            forged,
        ),
    )

    report = verify(log_of_ten)

    assert report.first_break.seq == 11
    assert report.first_break.reason == "mac_mismatch"


def test_swapped_rows_break_at_first_of_pair(log_of_ten):
    fourth, fifth = row(log_of_ten, 4), row(log_of_ten, 5)
    columns = [name for name in fourth if name not in ("seq", "event_id")]
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    tamper(
        log_of_ten,
        (
            "UPDATE audit_events SET event_id = 'swap-' || event_id "
            "WHERE seq IN (4, 5)",
            (),
        ),
        (
            f"UPDATE audit_events SET event_id = :event_id, {assignments} "
            "WHERE seq = 4",
            fifth,
        ),
        (
            f"UPDATE audit_events SET event_id = :event_id, {assignments} "
            "WHERE seq = 5",
            fourth,
        ),
    )

    report = verify(log_of_ten)

    assert report.first_break.seq == 4
    assert report.first_break.event_id == fifth["event_id"]
    assert report.first_break.reason == "prev_mac_mismatch"


def test_deleted_last_rows_caught_by_head(log_of_ten):
    tamper(log_of_ten, ("DELETE FROM audit_events WHERE seq >= 9", ()))

    report = verify(log_of_ten)

    assert report.first_break.as_dict() == {
        "seq": 10,
        "event_id": None,
        "reason": "head_mismatch",
    }
    assert report.breaks == 1


def test_truncation_with_rewound_head_goes_unseen(log_of_ten):
    # Deleting the newest rows and rewinding the head together leaves a
    # shorter valid chain: only an exported head or an external copy of the
    # head reveals it. This test pins that limit so docs stay honest.
    eighth = row(log_of_ten, 8)
    tamper(
        log_of_ten,
        ("DELETE FROM audit_events WHERE seq >= 9", ()),
        ("UPDATE audit_chain_head SET seq = 8, mac = ? WHERE id = 1", (eighth["mac"],)),
    )

    report = verify(log_of_ten)

    assert report.chain_valid
    assert report.head_seq == 8


def test_head_rolled_back_breaks_after_head(log_of_ten):
    eighth, ninth = row(log_of_ten, 8), row(log_of_ten, 9)
    tamper(
        log_of_ten,
        ("UPDATE audit_chain_head SET seq = 8, mac = ? WHERE id = 1", (eighth["mac"],)),
    )

    report = verify(log_of_ten)

    assert report.first_break.as_dict() == {
        "seq": 9,
        "event_id": ninth["event_id"],
        "reason": "head_mismatch",
    }


def test_head_with_wrong_mac_breaks_at_head(log_of_ten):
    tamper(
        log_of_ten, ("UPDATE audit_chain_head SET mac = ? WHERE id = 1", ("a" * 64,))
    )

    report = verify(log_of_ten)

    assert report.first_break.seq == 10
    assert report.first_break.reason == "head_mismatch"


def test_row_resigned_with_wrong_key_breaks_at_row(log_of_ten):
    fifth = row(log_of_ten, 5)
    wrong_key = b"w" * 32
    forged_mac = compute_mac(
        wrong_key, 5, fifth["prev_mac"], payload_digest(fifth["payload"].encode())
    )
    tamper(log_of_ten, ("UPDATE audit_events SET mac = ? WHERE seq = 5", (forged_mac,)))

    report = verify(log_of_ten)

    assert report.first_break.seq == 5
    assert report.first_break.reason == "mac_mismatch"
    # The next row still links to the real MAC, so it breaks too.
    assert report.breaks == 2


def test_unknown_key_id_breaks_at_row(log_of_ten):
    tamper(log_of_ten, ("UPDATE audit_events SET key_id = 'k9' WHERE seq = 2", ()))

    report = verify(log_of_ten)

    assert report.first_break.seq == 2
    assert report.first_break.reason == "unknown_key_id"


def test_unparseable_payload_breaks_at_row(log_of_ten):
    tamper(
        log_of_ten, ("UPDATE audit_events SET payload = '{not json' WHERE seq = 6", ())
    )

    report = verify(log_of_ten)

    assert report.first_break.seq == 6
    assert report.first_break.reason == "payload_invalid"


def test_payload_in_other_key_order_still_verifies(log_of_ten):
    payload = json.loads(row(log_of_ten, 5)["payload"])
    reordered = json.dumps(dict(reversed(list(payload.items()))), indent=2)
    tamper(
        log_of_ten, ("UPDATE audit_events SET payload = ? WHERE seq = 5", (reordered,))
    )

    report = verify(log_of_ten)

    assert report.chain_valid


def test_nested_value_change_in_reordered_payload_fails(log_of_ten):
    payload = json.loads(row(log_of_ten, 5)["payload"])
    payload["metadata"]["nested"]["note"] = "rewritten"
    reordered = json.dumps(dict(reversed(list(payload.items()))))
    tamper(
        log_of_ten, ("UPDATE audit_events SET payload = ? WHERE seq = 5", (reordered,))
    )

    report = verify(log_of_ten)

    assert report.first_break.seq == 5
    assert report.first_break.reason == "mac_mismatch"
    assert report.breaks == 1


def test_missing_triggers_reported_with_intact_chain(log_of_ten):
    report = verify(log_of_ten)

    assert report.chain_valid
    assert not report.triggers_present
    assert set(report.missing_triggers) == set(CREATE_STATEMENTS)


def test_replaced_trigger_counts_as_missing(gateway_db):
    with sqlite3.connect(gateway_db) as db:
        db.execute("DROP TRIGGER audit_events_reject_update")
        db.execute(
            "CREATE TRIGGER audit_events_reject_update BEFORE UPDATE ON "
            "audit_events BEGIN SELECT 1; END"
        )

    report = verify(gateway_db)

    assert report.missing_triggers == ["audit_events_reject_update"]


def test_mac_uses_documented_form(gateway_db):
    (record,) = append_events(1)
    first = row(gateway_db, 1)
    digest = hashlib.sha256(first["payload"].encode()).hexdigest()
    message = f"ibkr-audit/v1\n1\n{'0' * 64}\n{digest}".encode()

    expected = hmac.new(DEVELOPMENT_KEY, message, hashlib.sha256).hexdigest()

    assert record.mac == expected
    assert first["mac"] == expected


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("payload", b"\xff\xfe not utf-8", "payload_invalid"),
        ("payload", b'{"blob": true}', "mac_mismatch"),
        ("payload", "[" * 100_000 + "]" * 100_000, "payload_invalid"),
        ("mac", "\u00e9" * 64, "mac_mismatch"),
        ("key_id", b"\x80\x81", "unknown_key_id"),
        ("event_id", b"\xc3\x28", "projection_mismatch"),
    ],
)
def test_damaged_column_reported_not_crashing(log_of_ten, column, value, reason):
    tamper(
        log_of_ten, (f"UPDATE audit_events SET {column} = ? WHERE seq = 4", (value,))
    )

    report = verify(log_of_ten)

    assert report.first_break.seq == 4
    assert report.first_break.reason == reason


def test_text_head_seq_reported_as_head_break(log_of_ten):
    tamper(log_of_ten, ("UPDATE audit_chain_head SET seq = 'ten' WHERE id = 1", ()))

    report = verify(log_of_ten)

    assert report.first_break.reason == "head_mismatch"


def test_duplicate_key_payload_breaks_at_row(log_of_ten):
    original = row(log_of_ten, 5)["payload"]
    # A reader that keeps the first copy reads "deny", but Python keeps the last.
    doubled = '{"decision":"deny",' + original[1:]
    tamper(
        log_of_ten, ("UPDATE audit_events SET payload = ? WHERE seq = 5", (doubled,))
    )

    report = verify(log_of_ten)

    assert report.first_break.seq == 5
    assert report.first_break.reason == "mac_mismatch"
