"""JSON Lines export of admin-selected or filtered audit events.

The lines are those of ``manage.py audit export``. As there, the rows are
read twice inside one read transaction on a read-only connection: a first
pass scans for secrets and digests the lines, and the second streams them,
so the SHA-256 in the audit event describes exactly the bytes sent.
"""

import hashlib
import logging
import re

from django.db import connections

# _line is the export module's line encoder, reused so that both exports
# write identical bytes.
from audit.export import MAX_REPORTED_ROWS, ScanResult, _line
from audit.reader import open_readonly, runtime_database_path, text_as_bytes
from audit.redaction import find_secrets

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-ndjson"
# The scan runs before the first byte is sent, so the admin caps an export
# at the REST export's limit; larger ranges go through manage.py audit export.
MAX_EXPORT_ROWS = 100_000
CHUNK_BYTES = 64 * 1024
EXPORT_COLUMNS = ("seq", "key_id", "prev_mac", "mac", "payload")

# Django's SQLite backend turns "%s" placeholders into "?" the same way.
_FORMAT_PLACEHOLDER = re.compile(r"(?<!%)%s")


class ExportTooLarge(Exception):
    """The selection has more rows than one admin export may stream."""


def export_sql(queryset):
    """Return ``(sql, params)`` of the export rows of ``queryset`` for sqlite3.

    The rows come in ascending ``seq``, capped at one row over
    ``MAX_EXPORT_ROWS`` so that an oversized selection is detected.
    """
    rows = queryset.order_by("seq").values_list(*EXPORT_COLUMNS)
    rows = rows[: MAX_EXPORT_ROWS + 1]
    sql, params = rows.query.get_compiler(using=rows.db).as_sql()
    sql = _FORMAT_PLACEHOLDER.sub("?", sql).replace("%%", "%")
    return sql, list(params)


class ExportReader:
    """A read transaction over the export rows, owned until ``close``."""

    def __init__(self, sql, params):
        # Django's connection switches the file to WAL mode, in which this
        # read transaction does not block the event that records the export.
        connections["default"].ensure_connection()
        self.sql = sql
        self.params = params
        self.connection = open_readonly(runtime_database_path())
        self.connection.execute("BEGIN")

    def rows(self):
        with text_as_bytes(self.connection):
            yield from self.connection.execute(self.sql, self.params)

    def scan(self):
        """Return the ``ScanResult`` of the rows; raise ``ExportTooLarge``."""
        result = ScanResult()
        digest = hashlib.sha256()
        for row in self.rows():
            seq = row[0]
            result.count += 1
            if result.count > MAX_EXPORT_ROWS:
                raise ExportTooLarge()
            line = _line(row)
            digest.update(line)
            if result.first_seq is None:
                result.first_seq = seq
            result.last_seq = seq
            payload = row[4].decode("utf-8", "replace") if row[4] is not None else ""
            reasons = find_secrets(payload)
            if reasons:
                result.unsafe_count += 1
                if len(result.unsafe_rows) < MAX_REPORTED_ROWS:
                    result.unsafe_rows.append(
                        {"seq": seq, "reasons": sorted(set(reasons))}
                    )
        result.sha256 = digest.hexdigest()
        return result

    def close(self):
        if self.connection is None:
            return
        try:
            self.connection.execute("ROLLBACK")
        finally:
            self.connection.close()
            self.connection = None


class ExportStream:
    """The export's lines in chunks; Django calls ``close`` when the response ends."""

    def __init__(self, reader, scan, request_id):
        self.reader = reader
        self.scan = scan
        self.request_id = request_id

    def __iter__(self):
        digest = hashlib.sha256()
        chunk, size = [], 0
        for row in self.reader.rows():
            line = _line(row)
            digest.update(line)
            chunk.append(line)
            size += len(line)
            if size >= CHUNK_BYTES:
                yield b"".join(chunk)
                chunk, size = [], 0
        if chunk:
            yield b"".join(chunk)
        if digest.hexdigest() != self.scan.sha256:
            # The headers are already sent, so only the log can report it.
            logger.error(
                "admin request %s: the exported lines differ from the scanned ones",
                self.request_id,
            )

    def close(self):
        self.reader.close()
