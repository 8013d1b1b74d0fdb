"""Verification of the whole audit chain inside one read transaction.

Every row is checked for its ``seq`` (gap-free from 1), its link to the row
before, a known key id, a parseable payload, its MAC and its projection
columns. After the rows come the head row and the append-only triggers. The
scan always runs to the end, counts every break and keeps the first one.
"""

import hmac
import json
import re
from dataclasses import dataclass, field

from audit.canonical import dumps
from audit.chain import GENESIS_MAC, compute_mac, payload_digest, projection
from audit.reader import (
    EVENT_COLUMNS,
    as_text,
    read_head,
    read_transaction,
    text_as_bytes,
)
from audit.triggers import missing_triggers

SEQ_GAP = "seq_gap"
PREV_MAC_MISMATCH = "prev_mac_mismatch"
UNKNOWN_KEY_ID = "unknown_key_id"
PAYLOAD_INVALID = "payload_invalid"
MAC_MISMATCH = "mac_mismatch"
PROJECTION_MISMATCH = "projection_mismatch"
HEAD_MISMATCH = "head_mismatch"


# The payload form of occurred_at, split so the Django storage form can be
# rebuilt without parsing a datetime on every row.
_OCCURRED_AT = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})\.(\d{6})Z$")


@dataclass
class Break:
    """The first row (or head) that does not verify, and why."""

    seq: int
    event_id: str | None
    reason: str

    def as_dict(self):
        return {"seq": self.seq, "event_id": self.event_id, "reason": self.reason}


@dataclass
class VerifyReport:
    """Result of one verification run, in the ``audit verify --json`` shape."""

    events_scanned: int = 0
    breaks: int = 0
    first_break: Break | None = None
    head_seq: int = 0
    head_mac: str = GENESIS_MAC
    missing_triggers: list = field(default_factory=list)
    key_ids: set = field(default_factory=set)

    @property
    def chain_valid(self):
        return self.breaks == 0

    @property
    def triggers_present(self):
        return not self.missing_triggers

    def record(self, broken):
        self.breaks += 1
        if self.first_break is None or broken.seq < self.first_break.seq:
            self.first_break = broken

    def as_dict(self):
        return {
            "chain_valid": self.chain_valid,
            "events_scanned": self.events_scanned,
            "breaks": self.breaks,
            "first_break": self.first_break.as_dict() if self.first_break else None,
            "head": {"seq": self.head_seq, "mac": self.head_mac},
            "triggers_present": self.triggers_present,
            "missing_triggers": self.missing_triggers,
            "key_ids": sorted(self.key_ids),
        }


def _storage_occurred_at(text):
    match = _OCCURRED_AT.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    date, clock, fraction = match.groups()
    if fraction == "000000":
        return f"{date} {clock}"
    return f"{date} {clock}.{fraction}"


def _projection_matches(row, payload):
    occurred_at = _storage_occurred_at(payload.get("occurred_at"))
    if occurred_at is None:
        return False
    # The columns arrive as bytes; a plain loop with early exit is the
    # cheapest comparison, and this runs once per row of every verify.
    try:
        expected = projection(payload, occurred_at)
        for column, value in zip(row[1:11], expected, strict=True):
            if value is None:
                if column is not None:
                    return False
            elif column != value.encode():
                return False
    except (AttributeError, UnicodeEncodeError):
        # A non-string value, or a lone surrogate, in a projected field.
        return False
    return True


def _reject_duplicate_keys(pairs):
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


def _parse_payload(payload_bytes):
    try:
        payload = json.loads(payload_bytes)
    except (TypeError, ValueError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None


def _canonical_mac_matches(key, seq, prev_mac, payload_bytes, stored_mac):
    # The writer stores canonical bytes, so only a row rewritten by another
    # tool (say, with its keys in another order) gets here. Duplicate keys
    # are refused: other JSON readers may keep a different copy of the key
    # than the one that was signed.
    try:
        payload = json.loads(payload_bytes, object_pairs_hook=_reject_duplicate_keys)
        canonical = dumps(payload)
    except (ValueError, RecursionError):
        return False
    computed = compute_mac(key, seq, prev_mac, payload_digest(canonical))
    return hmac.compare_digest(computed.encode(), stored_mac)


def check_row(row, expected_seq, previous_mac, keys):
    """Return the reason ``row`` does not verify, or None when it does.

    ``row`` is a tuple in ``EVENT_COLUMNS`` order with text columns as
    bytes, as ``verify_chain`` fetches it, so that damaged text never stops
    the scan. ``previous_mac`` is the previous
    row's stored MAC as bytes, and ``keys`` maps key ids (bytes) to keys.
    """
    seq = row[0]
    payload_bytes, key_id, prev_mac, mac = row[11], row[12], row[13], row[14]

    if seq != expected_seq:
        return SEQ_GAP
    if prev_mac != previous_mac:
        return PREV_MAC_MISMATCH
    key = keys.get(key_id)
    if key is None:
        return UNKNOWN_KEY_ID
    if payload_bytes is None:
        return PAYLOAD_INVALID
    payload = _parse_payload(payload_bytes)
    if payload is None:
        return PAYLOAD_INVALID
    if type(mac) is not bytes:
        return MAC_MISMATCH

    computed = compute_mac(key, seq, prev_mac, payload_digest(payload_bytes))
    if not hmac.compare_digest(computed.encode(), mac):
        if not _canonical_mac_matches(key, seq, prev_mac, payload_bytes, mac):
            return MAC_MISMATCH
    if not _projection_matches(row, payload):
        return PROJECTION_MISMATCH
    return None


def verify_chain(connection, keys, progress=None, progress_every=5000):
    """Verify the audit log on ``connection`` with ``keys`` (``{key_id: bytes}``).

    ``progress``, when given, is called as ``progress(scanned, total)`` every
    ``progress_every`` rows, ``total`` being the head's ``seq``.
    """
    report = VerifyReport()
    keys_by_id = {key_id.encode(): key for key_id, key in keys.items()}
    with read_transaction(connection):
        head = read_head(connection)
        report.missing_triggers = missing_triggers(connection.cursor())

        expected_seq = 1
        previous_mac = GENESIS_MAC.encode()
        last_seq = 0
        last_event_id = None
        key_ids_seen = set()
        after_head_event_id = None
        head_seq = head[0] if head else None
        total = head_seq or 0

        with text_as_bytes(connection):
            cursor = connection.execute(
                f"SELECT {EVENT_COLUMNS} FROM audit_events ORDER BY seq"
            )
            for row in cursor:
                report.events_scanned += 1
                key_ids_seen.add(row[12])
                reason = check_row(row, expected_seq, previous_mac, keys_by_id)
                if reason is not None:
                    report.record(Break(row[0], as_text(row[1]), reason))
                if head_seq is not None and row[0] == head_seq + 1:
                    after_head_event_id = as_text(row[1])

                expected_seq = row[0] + 1
                previous_mac = row[14]
                last_seq = row[0]
                last_event_id = row[1]
                if progress and report.events_scanned % progress_every == 0:
                    progress(report.events_scanned, total)

    report.key_ids = {as_text(key_id) for key_id in key_ids_seen}
    _check_head(
        report,
        head,
        (last_seq, as_text(last_event_id), as_text(previous_mac)),
        after_head_event_id,
    )
    if progress:
        progress(report.events_scanned, max(total, report.events_scanned))
    return report


def _check_head(report, head, last_row, after_head_event_id):
    last_seq, last_event_id, last_mac = last_row
    if head is None:
        report.record(Break(last_seq + 1, None, HEAD_MISMATCH))
        return

    head_seq, head_mac = head
    report.head_seq, report.head_mac = head_seq, head_mac
    if head_seq > last_seq:
        # Rows the head vouches for are gone, such as the newest rows deleted.
        report.record(Break(head_seq, None, HEAD_MISMATCH))
    elif head_seq < last_seq:
        # The head was rolled back: rows after it are not covered by it.
        report.record(Break(head_seq + 1, after_head_event_id, HEAD_MISMATCH))
    elif head_mac != last_mac:
        report.record(Break(head_seq, last_event_id, HEAD_MISMATCH))
