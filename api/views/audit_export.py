"""``GET /api/v1/audit/export``: audit rows as JSON Lines, after a secret scan.

The view scans the range first, inside a read transaction on its own
read-only connection, and refuses (409 ``unsafe_output``) when a row looks
like it contains a secret, as ``manage.py audit export`` does. Otherwise it
returns a ``StreamingHttpResponse`` whose lines come from the same
read transaction, so the SHA-256 in the call's audit event and in the
``X-Export-SHA256`` header describes exactly the bytes sent. The event is
written before the first byte is sent.
"""

import hashlib
import logging
import sqlite3

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema

from api import params
from api.errors import ExportRefused
from api.openapi import error_responses
from api.views.audit import open_reader
from api.views.base import ApiView
from audit.export import ExportRange, iter_lines, scan_range
from ibkr_gateway import scopes

logger = logging.getLogger(__name__)

JSON_LINES = "application/x-ndjson"
DEFAULT_EXPORT_LIMIT = 500
# The scan runs before the first byte is sent. docs/benchmarks.md measured
# a whole export of 200,000 rows in about 16 s, so 100,000 rows should send
# their first byte well inside gunicorn's default 30 s worker timeout (an
# estimate from that one machine). Larger ranges are paged with after_seq.
MAX_EXPORT_LIMIT = 100_000
# Lines are sent in chunks of about this many bytes.
CHUNK_BYTES = 64 * 1024


def _release(reader):
    try:
        reader.execute("ROLLBACK")
    except sqlite3.Error:
        # No transaction was open; closing is all that is left to do.
        pass
    reader.close()


class ExportStream:
    """The export's lines, owning the read connection until ``close``.

    Django calls ``close`` when the response is finished, even if iteration
    never started. The audited view base calls it when the response is
    replaced before it is sent.
    """

    def __init__(self, reader, export_range, scan, request_id):
        self.reader = reader
        self.export_range = export_range
        self.scan = scan
        self.request_id = request_id

    def __iter__(self):
        digest = hashlib.sha256()
        chunk = []
        size = 0
        for _seq, line in iter_lines(self.reader, self.export_range):
            digest.update(line)
            chunk.append(line)
            size += len(line)
            if size >= CHUNK_BYTES:
                yield b"".join(chunk)
                chunk, size = [], 0
        if chunk:
            yield b"".join(chunk)
        if digest.hexdigest() != self.scan.sha256:
            # One read transaction reads one snapshot, so a mismatch means
            # SQLite did not keep it. The headers are already sent, so only
            # the log can report it.
            logger.error(
                "API request %s: the exported lines differ from the scanned ones",
                self.request_id,
            )

    def close(self):
        if self.reader is not None:
            _release(self.reader)
            self.reader = None


class AuditExportView(ApiView):
    """Stream audit events as JSON Lines in ascending seq, after a secret scan.

    Each line is the canonical JSON of {"seq", "key_id", "prev_mac", "mac",
    "payload"}, as ``manage.py audit export`` writes it. Without a range the
    newest ``limit`` events are exported; with after_seq, since or until the
    first ``limit`` events of that range.
    """

    operation = "api.audit.export"
    required_scopes = (scopes.AUDIT_EXPORT,)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "limit",
                int,
                description=f"Number of events, 1 to {MAX_EXPORT_LIMIT} "
                f"(default {DEFAULT_EXPORT_LIMIT}).",
            ),
            OpenApiParameter(
                "after_seq", int, description="Events with seq greater than this."
            ),
            OpenApiParameter(
                "since",
                OpenApiTypes.DATETIME,
                description="Events that occurred at or after this RFC 3339 time.",
            ),
            OpenApiParameter(
                "until",
                OpenApiTypes.DATETIME,
                description="Events that occurred before this RFC 3339 time.",
            ),
        ],
        responses={(200, JSON_LINES): OpenApiTypes.STR, **error_responses(400, 409)},
    )
    def get(self, request):
        params.check_known(request, ("limit", "after_seq", "since", "until"))
        export_range = ExportRange(
            limit=params.bounded_int(
                request,
                "limit",
                default=DEFAULT_EXPORT_LIMIT,
                minimum=1,
                maximum=MAX_EXPORT_LIMIT,
            ),
            after_seq=params.sequence_number(request, "after_seq"),
            since=params.timestamp(request, "since"),
            until=params.timestamp(request, "until"),
        )
        metadata = self.call.metadata
        metadata.update(export_range.as_metadata())

        reader = open_reader(request.request_id)
        try:
            reader.execute("BEGIN")
            scan = scan_range(reader, export_range)
        except BaseException:
            _release(reader)
            raise
        metadata.update(scan.summary())

        if scan.unsafe_count:
            _release(reader)
            metadata["unsafe_count"] = scan.unsafe_count
            metadata["unsafe_rows"] = scan.unsafe_rows
            rows = ", ".join(str(row["seq"]) for row in scan.unsafe_rows)
            raise ExportRefused(
                f"Export refused: {scan.unsafe_count} row(s) look like they "
                f"contain secrets (seq {rows}). Nothing was exported; an operator "
                "should run 'manage.py audit verify' and investigate those rows."
            )

        stream = ExportStream(reader, export_range, scan, request.request_id)
        self.call.on_discard.append(stream.close)
        response = StreamingHttpResponse(stream, content_type=JSON_LINES)
        response["X-Export-Count"] = str(scan.count)
        response["X-Export-SHA256"] = scan.sha256
        return response
