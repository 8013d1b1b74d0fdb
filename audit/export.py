"""Export of audit rows as JSON Lines, after a secret scan of the range.

Each line is the canonical JSON of ``{"seq", "key_id", "prev_mac", "mac",
"payload"}`` followed by ``\\n``. The caller runs ``scan_range`` and then
``iter_lines`` inside one read transaction, so both passes see the same
snapshot and the SHA-256 from the scan describes exactly the bytes that the
second pass writes.
"""

import hashlib
import json
from dataclasses import dataclass, field

from audit.canonical import CanonicalizationError, dumps
from audit.chain import storage_datetime
from audit.reader import as_text, text_as_bytes
from audit.redaction import find_secrets

# Rows named in a refusal message and event; the count is always complete.
MAX_REPORTED_ROWS = 20


@dataclass(frozen=True)
class ExportRange:
    """Rows to export: the newest ``limit``, or a range capped by ``limit``.

    ``limit`` 0 means no limit. ``since`` is inclusive and ``until``
    exclusive; both are aware datetimes.
    """

    limit: int = 500
    after_seq: int | None = None
    since: object = None
    until: object = None

    @property
    def is_range(self):
        return (
            self.after_seq is not None
            or self.since is not None
            or self.until is not None
        )

    def as_metadata(self):
        return {
            "limit": self.limit,
            "after_seq": self.after_seq,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


@dataclass
class ScanResult:
    """Result of the first pass: counts, the digest, and unsafe rows."""

    count: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    sha256: str = ""
    unsafe_count: int = 0
    unsafe_rows: list = field(default_factory=list)

    def summary(self):
        return {
            "format": "jsonl",
            "count": self.count,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "sha256": self.sha256,
        }


def _select(export_range):
    columns = "seq, key_id, prev_mac, mac, payload"
    if not export_range.is_range:
        sql = (
            f"SELECT {columns} FROM audit_events WHERE seq >= (SELECT min(seq) "
            "FROM (SELECT seq FROM audit_events ORDER BY seq DESC LIMIT ?)) "
            "ORDER BY seq"
        )
        limit = export_range.limit if export_range.limit > 0 else -1
        return sql, [limit]

    conditions, params = [], []
    if export_range.after_seq is not None:
        conditions.append("seq > ?")
        params.append(export_range.after_seq)
    if export_range.since is not None:
        conditions.append("occurred_at >= ?")
        params.append(storage_datetime(export_range.since))
    if export_range.until is not None:
        conditions.append("occurred_at < ?")
        params.append(storage_datetime(export_range.until))
    sql = f"SELECT {columns} FROM audit_events WHERE {' AND '.join(conditions)}"
    sql += " ORDER BY seq"
    if export_range.limit > 0:
        sql += " LIMIT ?"
        params.append(export_range.limit)
    return sql, params


def _line(row):
    seq, key_id, prev_mac, mac, payload_text = (as_text(value) for value in row)
    try:
        payload = json.loads(payload_text)
    except (TypeError, ValueError):
        # A damaged row is exported as the text it holds, so the export
        # still shows it to the reviewer; verify reports it as a break.
        payload = payload_text
    record = {
        "seq": seq,
        "key_id": key_id,
        "prev_mac": prev_mac,
        "mac": mac,
        "payload": payload,
    }
    try:
        return dumps(record) + b"\n"
    except CanonicalizationError:
        return dumps({**record, "payload": payload_text}) + b"\n"


def iter_lines(connection, export_range):
    """Yield ``(seq, line_bytes)`` for the range, in ascending ``seq``."""
    sql, params = _select(export_range)
    with text_as_bytes(connection):
        for row in connection.execute(sql, params):
            yield row[0], _line(row)


def scan_range(connection, export_range, progress=None, progress_every=2000):
    """Scan the range for secrets and digest its lines; return a ``ScanResult``."""
    result = ScanResult()
    digest = hashlib.sha256()
    sql, params = _select(export_range)
    with text_as_bytes(connection):
        for row in connection.execute(sql, params):
            seq = row[0]
            line = _line(row)
            digest.update(line)
            result.count += 1
            if result.first_seq is None:
                result.first_seq = seq
            result.last_seq = seq

            payload_text = as_text(row[4])
            reasons = (
                find_secrets(payload_text) if isinstance(payload_text, str) else []
            )
            if reasons:
                result.unsafe_count += 1
                if len(result.unsafe_rows) < MAX_REPORTED_ROWS:
                    result.unsafe_rows.append(
                        {"seq": seq, "reasons": sorted(set(reasons))}
                    )
            if progress and result.count % progress_every == 0:
                progress(result.count, None)

    result.sha256 = digest.hexdigest()
    return result
