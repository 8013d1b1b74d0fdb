"""Read-only access to an audit database for tail, export and verify.

Scanning readers use their own ``sqlite3`` connection opened with
``mode=ro``, never Django's, so a long verify or export holds only a
deferred read transaction and never the write lock. A file that does not
exist is never created, and a file that is not an audit log, is corrupt, or
carries a newer audit schema is rejected with ``AuditDatabaseError``.
"""

import json
import re
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

REQUIRED_COLUMNS = {
    "audit_events": {
        "seq",
        "event_id",
        "event_type",
        "occurred_at",
        "actor",
        "request_id",
        "account_hash",
        "operation",
        "decision",
        "outcome",
        "error_code",
        "payload",
        "key_id",
        "prev_mac",
        "mac",
    },
    "audit_chain_head": {"id", "seq", "mac"},
}

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

HEX_MAC = re.compile(rb"[0-9a-f]{64}")

EVENT_COLUMNS = (
    "seq, event_id, event_type, occurred_at, actor, request_id, account_hash, "
    "operation, decision, outcome, error_code, payload, key_id, prev_mac, mac"
)


class AuditDatabaseError(Exception):
    """The audit database is missing, unreadable or not an audit log."""

    exit_code = 7


class DatabaseUrlError(ValueError):
    """A ``--database-url`` value that is not of the form ``sqlite:PATH``."""


def parse_database_url(url):
    """Return the file path named by ``sqlite:PATH`` or ``sqlite:///PATH``.

    Everything after ``sqlite:`` is the path once a leading ``//`` (an empty
    authority) is removed.
    """
    if not url.startswith("sqlite:"):
        raise DatabaseUrlError(
            f"--database-url {url!r} is not supported; use sqlite:/path/to/audit.db"
        )
    path = url[len("sqlite:") :]
    if path.startswith("//"):
        path = path[2:]
    if not path:
        raise DatabaseUrlError(
            f"--database-url {url!r} names no file; use sqlite:/path/to/audit.db"
        )
    return Path(path)


def _known_migrations():
    return {path.stem for path in MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.py")}


def _check_schema(connection, path):
    cursor = connection.cursor()
    for table, required in REQUIRED_COLUMNS.items():
        cursor.execute(f"PRAGMA table_info({table})")
        columns = {row[1] for row in cursor.fetchall()}
        if not columns:
            raise AuditDatabaseError(
                f"{path} is not an audit log: table {table} is missing. Point "
                "--database-url at a gateway database or an audit log copy."
            )
        missing = required - columns
        if missing:
            raise AuditDatabaseError(
                f"{path} is not an audit log this version can read: "
                f"{table} lacks {', '.join(sorted(missing))}."
            )

    cursor.execute(
        "SELECT 1 FROM sqlite_master "
        "WHERE type = 'table' AND name = 'django_migrations'"
    )
    if cursor.fetchone() is None:
        return
    cursor.execute("SELECT name FROM django_migrations WHERE app = 'audit'")
    newer = sorted({row[0] for row in cursor.fetchall()} - _known_migrations())
    if newer:
        raise AuditDatabaseError(
            f"{path} has a newer audit schema (migrations {', '.join(newer)}); "
            "read it with the gateway version that wrote it."
        )


def open_readonly(path):
    """Open the audit database at ``path`` read-only and check its schema."""
    path = Path(path)
    if not path.is_file():
        raise AuditDatabaseError(
            f"audit database {path} does not exist or is not a file; check "
            "--database-url or DATABASE_URL (it is never created)."
        )

    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        connection = sqlite3.connect(
            uri, uri=True, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA query_only = ON")
        _check_schema(connection, path)
    except sqlite3.DatabaseError as exc:
        raise AuditDatabaseError(
            f"{path} cannot be read as an SQLite database ({exc}); check that "
            "the file is an audit log and not damaged."
        ) from None
    return connection


def runtime_database_path():
    """Return the file of the gateway's own database from Django settings."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3":
        # NOTE: PostgreSQL readers are not written yet; reads of the runtime
        # log need the SQLite file until then.
        raise AuditDatabaseError(
            f"the runtime database uses {database['ENGINE']}; only SQLite is "
            "supported by audit tail, export and verify"
        )
    return Path(database["NAME"])


@contextmanager
def read_transaction(connection):
    """Hold one deferred read transaction, so all reads use one snapshot."""
    connection.execute("BEGIN")
    try:
        yield connection
    finally:
        connection.execute("ROLLBACK")


def read_head(connection):
    """Return ``(seq, mac)`` of the head row, or None when it is missing or
    does not hold an integer ``seq`` and a 64-digit hex ``mac``."""
    row = connection.execute(
        "SELECT seq, CAST(mac AS BLOB) FROM audit_chain_head WHERE id = 1"
    ).fetchone()
    if row is None:
        return None
    seq, mac = row
    if not isinstance(seq, int) or not isinstance(mac, bytes):
        return None
    if not HEX_MAC.fullmatch(mac):
        return None
    return seq, mac.decode("ascii")


def current_key_id(connection):
    """Return the key id of the newest row, or None on an empty log."""
    row = connection.execute(
        "SELECT CAST(key_id AS BLOB) FROM audit_events ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return row[0].decode("utf-8", "replace")


EVENT_COLUMN_NAMES = tuple(name.strip() for name in EVENT_COLUMNS.split(","))


@contextmanager
def text_as_bytes(connection):
    """Fetch text columns as bytes inside the block.

    A damaged row (invalid UTF-8) then reaches the caller, which reports it,
    instead of stopping the scan with a decoding error. Bytes are also
    cheaper to fetch than decoded text, which matters to verify.
    """
    previous = connection.text_factory
    connection.text_factory = bytes
    try:
        yield connection
    finally:
        connection.text_factory = previous


def as_text(value):
    """Return ``value`` decoded from UTF-8 with replacement, if it is bytes."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def tail_rows(connection, limit):
    """Yield the newest ``limit`` rows as dicts of text, newest first."""
    with text_as_bytes(connection):
        cursor = connection.execute(
            f"SELECT {EVENT_COLUMNS} FROM audit_events ORDER BY seq DESC LIMIT ?",
            (limit,),
        )
        for row in cursor:
            values = (as_text(value) for value in row)
            yield dict(zip(EVENT_COLUMN_NAMES, values, strict=True))


def _printable(text):
    # Control characters in a stored value must not forge lines or move the
    # cursor on a reviewer's terminal, so they are shown escaped.
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def tail_line(entry):
    """Return the one-line text form of a ``tail_entry`` for people."""
    parts = [
        f"{entry['seq']:>8}",
        entry["occurred_at"] or "-",
        entry["event_type"],
        entry["operation"],
        entry["actor"],
        f"{entry['decision']}/{entry['outcome']}",
    ]
    if entry["error_code"]:
        parts.append(entry["error_code"])
    if entry["request_id"]:
        parts.append(f"request {entry['request_id']}")
    return "  ".join(_printable(str(part)) for part in parts) + "\n"


def tail_entry(row):
    """Return the ``audit tail --json`` form of one row."""
    try:
        payload = json.loads(row["payload"])
    except ValueError:
        payload = None
    occurred_at = payload.get("occurred_at") if isinstance(payload, dict) else None
    return {
        "seq": row["seq"],
        "event_id": row["event_id"],
        "event_type": row["event_type"],
        "occurred_at": occurred_at,
        "actor": row["actor"],
        "operation": row["operation"],
        "decision": row["decision"],
        "outcome": row["outcome"],
        "error_code": row["error_code"],
        "request_id": row["request_id"],
        "account_hash": row["account_hash"],
        "key_id": row["key_id"],
        "payload": payload,
    }
