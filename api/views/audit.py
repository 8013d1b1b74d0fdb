"""Audit log endpoints: tail and verify, with the readers of ``manage.py audit``.

Reads use their own read-only SQLite connection to the gateway's database
(``audit.reader.open_readonly``), never Django's, so a long scan holds only
a read transaction and never the write lock that the final event needs.
Each call's own ``api_request`` event is written after the read, so it is
not part of what the call returns.
"""

import logging
from contextlib import contextmanager

from django.db import connections
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from api import params, serializers
from api.errors import AuditLogUnreadable, VerificationKeysMissing
from api.openapi import error_responses
from api.views.base import ApiView
from audit.arguments import MAX_TAIL_LIMIT
from audit.keys import verification_keys
from audit.reader import (
    AuditDatabaseError,
    current_key_id,
    open_readonly,
    read_transaction,
    runtime_database_path,
    tail_entry,
    tail_rows,
)
from audit.verifier import verify_chain
from ibkr_gateway import scopes
from ibkr_gateway.runtime_config import ConfigError, get_runtime_config

logger = logging.getLogger(__name__)

DEFAULT_TAIL_LIMIT = 100


def open_reader(request_id):
    """Return a read-only connection to the runtime audit log.

    Raises ``AuditLogUnreadable`` when the database cannot be opened as an
    audit log; the reason goes to the log, not to the client.
    """
    # Django's connection switches the file to WAL mode, in which a read
    # transaction does not block the final event's write.
    connections["default"].ensure_connection()
    try:
        return open_readonly(runtime_database_path())
    except AuditDatabaseError as exc:
        logger.error(
            "API request %s: the audit log cannot be read: %s", request_id, exc
        )
        raise AuditLogUnreadable() from None


@contextmanager
def audit_reader(request):
    reader = open_reader(request.request_id)
    try:
        yield reader
    finally:
        reader.close()


class AuditTailView(ApiView):
    """Return the newest audit events, newest first, as ``audit tail --json`` does."""

    operation = "api.audit.tail"
    required_scopes = (scopes.AUDIT_READ,)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "limit",
                int,
                description=f"Number of events, 1 to {MAX_TAIL_LIMIT} "
                f"(default {DEFAULT_TAIL_LIMIT}).",
            )
        ],
        responses={200: serializers.AuditTailSerializer, **error_responses(400)},
    )
    def get(self, request):
        params.check_known(request, ("limit",))
        limit = params.bounded_int(
            request,
            "limit",
            default=DEFAULT_TAIL_LIMIT,
            minimum=1,
            maximum=MAX_TAIL_LIMIT,
        )
        with audit_reader(request) as reader, read_transaction(reader):
            events = [tail_entry(row) for row in tail_rows(reader, limit)]
        self.call.metadata.update({"limit": limit, "count": len(events)})
        return Response({"events": events})


class AuditVerifyView(ApiView):
    """Verify the whole chain, as ``audit verify --json`` does.

    The response is 200 with the report even when the chain is broken, and
    the call's audit event then records the failure (chain_broken or
    triggers_missing).
    """

    operation = "api.audit.verify"
    required_scopes = (scopes.AUDIT_READ,)

    @extend_schema(
        responses={200: serializers.AuditVerifySerializer, **error_responses()}
    )
    def get(self, request):
        params.check_known(request, ())
        config = get_runtime_config()
        with audit_reader(request) as reader:
            current = current_key_id(reader) or config.audit.key_id
            try:
                keys = verification_keys(config, current_key_id=current)
            except ConfigError as exc:
                logger.error(
                    "API request %s: a verification key is missing: %s",
                    request.request_id,
                    exc,
                )
                raise VerificationKeysMissing() from None
            report = verify_chain(reader, keys)

        result = report.as_dict()
        self.call.metadata.update(
            {
                "chain_valid": result["chain_valid"],
                "events_scanned": result["events_scanned"],
                "breaks": result["breaks"],
                "first_break": result["first_break"],
                "head_seq": result["head"]["seq"],
                "triggers_present": result["triggers_present"],
            }
        )
        if not report.chain_valid:
            self.call.failure_code = "chain_broken"
        elif not report.triggers_present:
            self.call.failure_code = "triggers_missing"
        return Response(result)
