"""Every connection of the gateway uses WAL, FULL sync and IMMEDIATE mode."""

import sqlite3
import threading

import pytest
from django.db import connection, transaction


def pragma(name):
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA {name}")
        return cursor.fetchone()[0]


def test_journal_mode_is_wal(gateway_db):
    assert pragma("journal_mode") == "wal"


def test_synchronous_is_full_by_default(gateway_db):
    assert pragma("synchronous") == 2


def test_busy_timeout_is_set(gateway_db):
    assert pragma("busy_timeout") == 30000


def test_atomic_takes_write_lock_at_begin(gateway_db):
    other = sqlite3.connect(gateway_db, timeout=0.1)
    try:
        with transaction.atomic():
            # No write has run yet, but BEGIN IMMEDIATE already holds the
            # lock, so a second writer cannot start.
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
    finally:
        other.close()


def test_new_thread_connection_gets_same_pragmas(gateway_db):
    seen = {}

    def probe():
        try:
            seen["synchronous"] = pragma("synchronous")
            seen["journal_mode"] = pragma("journal_mode")
        finally:
            connection.close()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()

    assert seen == {"synchronous": 2, "journal_mode": "wal"}
