"""The audit writer: one chained row and the head update per append.

``SqliteAuditWriter.append`` runs raw SQL on Django's own connection inside
``transaction.atomic()``. With ``transaction_mode = "IMMEDIATE"`` the
outermost transaction takes SQLite's write lock at ``BEGIN``, so reading the
head, inserting the row and advancing the head happen under one lock and
concurrent writers queue instead of forking the chain. Called inside a
caller's transaction, the append joins it (as a savepoint), so an order's
state change and its events commit or roll back together.
"""

import logging
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from audit.canonical import dumps
from audit.chain import (
    compute_mac,
    format_occurred_at,
    payload_digest,
    projection,
    storage_datetime,
)
from audit.envelope import check_size
from audit.errors import AuditUnavailable

logger = logging.getLogger(__name__)

# Attempts for an append that owns its transaction and meets a lock that
# outlasted the busy timeout. Inside a caller's transaction the lock is
# already held, so there is nothing to retry.
LOCK_ATTEMPTS = 3

# The statements run on the DB-API connection under Django's transaction,
# because Django's cursor wrappers cost more than the SQL itself on this
# path. The CAST keeps Django's "datetime" converter from parsing the time.
_HEAD_QUERY = (
    "SELECT h.seq, h.mac, CAST(e.occurred_at AS TEXT) FROM audit_chain_head AS h "
    "LEFT JOIN audit_events AS e ON e.seq = h.seq WHERE h.id = 1"
)
_INSERT = (
    "INSERT INTO audit_events (seq, event_id, event_type, occurred_at, actor, "
    "request_id, account_hash, operation, decision, outcome, error_code, "
    "payload, key_id, prev_mac, mac) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_ADVANCE_HEAD = "UPDATE audit_chain_head SET seq = ?, mac = ? WHERE id = 1"


@dataclass(frozen=True)
class AuditRecord:
    """Position of an appended event in the chain, with its MAC and time."""

    seq: int
    event_id: str
    mac: str
    occurred_at: str


def _as_utc(stored):
    return datetime.fromisoformat(stored).replace(tzinfo=UTC)


def _is_lock_error(exc):
    message = str(exc).lower()
    return "database is locked" in message or "database is busy" in message


class SqliteAuditWriter:
    """Appends payloads built by ``audit.envelope.build_event`` to the chain.

    The caller passes a payload without ``occurred_at``. The writer sets it
    after the write lock is held, and never below the previous row's time,
    so time never goes backwards along ``seq``.
    """

    def __init__(self, using=DEFAULT_DB_ALIAS, clock=None):
        self.using = using
        self.clock = clock or (lambda: datetime.now(UTC))

    def append(self, payload, signing_key):
        """Append ``payload`` signed with ``signing_key``; return an ``AuditRecord``.

        Raises ``AuditUnavailable`` when the row cannot be written; the
        caller's operation must then fail.
        """
        connection = connections[self.using]
        owns_transaction = not connection.in_atomic_block
        attempts = LOCK_ATTEMPTS if owns_transaction else 1

        for attempt in range(1, attempts + 1):
            try:
                with transaction.atomic(using=self.using):
                    return self._append_locked(connection, payload, signing_key)
            except (DatabaseError, sqlite3.Error) as exc:
                if _is_lock_error(exc) and attempt < attempts:
                    logger.warning(
                        "Audit append for event %s waited out the busy timeout; "
                        "retrying (attempt %d of %d)",
                        payload["event_id"],
                        attempt + 1,
                        attempts,
                    )
                    time.sleep(0.05 * attempt)
                    continue
                logger.error(
                    "Audit append for event %s failed: %s", payload["event_id"], exc
                )
                raise AuditUnavailable() from exc

    def _append_locked(self, connection, payload, signing_key):
        database = connection.connection
        row = database.execute(_HEAD_QUERY).fetchone()
        if row is None:
            raise AuditUnavailable(
                "The audit_chain_head row is missing; run manage.py migrate "
                "on a new database, or restore this one from a backup."
            )
        head_seq, head_mac, head_stored_at = row

        occurred = self.clock()
        if head_stored_at is not None:
            occurred = max(occurred, _as_utc(head_stored_at))
        payload["occurred_at"] = format_occurred_at(occurred)

        canonical = dumps(payload)
        check_size(canonical)
        seq = head_seq + 1
        mac = compute_mac(signing_key.key, seq, head_mac, payload_digest(canonical))

        database.execute(
            _INSERT,
            (
                seq,
                *projection(payload, storage_datetime(occurred)),
                canonical.decode("utf-8"),
                signing_key.key_id,
                head_mac,
                mac,
            ),
        )
        database.execute(_ADVANCE_HEAD, (seq, mac))

        return AuditRecord(
            seq=seq,
            event_id=payload["event_id"],
            mac=mac,
            occurred_at=payload["occurred_at"],
        )
