"""Concurrent writers in several processes and threads never fork the chain."""

import json
import sqlite3
import subprocess
import sys

import pytest

from audit.keys import DEVELOPMENT_KEY, DEVELOPMENT_KEY_ID
from audit.reader import open_readonly
from audit.verifier import verify_chain
from tests.conftest import REPO_ROOT, manage_env

PROCESSES = 4
THREADS = 4
APPENDS = 50


def run_workers(db_path, mode):
    env = manage_env(db_path)
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.helpers.append_worker",
                str(db_path),
                str(THREADS),
                str(APPENDS),
                mode,
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    results = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=300)
        results.append((worker.returncode, stdout, stderr))
    return results


def chain_rows(db_path):
    with sqlite3.connect(db_path) as db:
        return db.execute(
            "SELECT seq, prev_mac, mac, payload FROM audit_events ORDER BY seq"
        ).fetchall()


def verify(db_path):
    connection = open_readonly(db_path)
    try:
        return verify_chain(connection, {DEVELOPMENT_KEY_ID: DEVELOPMENT_KEY})
    finally:
        connection.close()


@pytest.mark.slow
def test_parallel_appends_form_one_chain(gateway_db):
    results = run_workers(gateway_db, "plain")

    for returncode, stdout, stderr in results:
        assert returncode == 0, stderr
        assert json.loads(stdout)["errors"] == []
    rows = chain_rows(gateway_db)
    expected = PROCESSES * THREADS * APPENDS
    assert [row[0] for row in rows] == list(range(1, expected + 1))
    assert len({row[1] for row in rows}) == expected
    report = verify(gateway_db)
    assert report.chain_valid, report.as_dict()
    assert report.events_scanned == expected


@pytest.mark.slow
def test_rolled_back_order_transactions_leave_no_event(gateway_db):
    results = run_workers(gateway_db, "order")

    for returncode, stdout, stderr in results:
        assert returncode == 0, stderr
        assert json.loads(stdout)["errors"] == []
    rows = chain_rows(gateway_db)
    expected = PROCESSES * THREADS * APPENDS
    assert [row[0] for row in rows] == list(range(1, expected + 1))
    assert len({row[1] for row in rows}) == expected
    rolled_back = [row for row in rows if '"rolled_back":true' in row[3]]
    assert rolled_back == []
    with sqlite3.connect(gateway_db) as db:
        kept = db.execute(
            "SELECT count(*) FROM auth_group WHERE name LIKE 'kept-%'"
        ).fetchone()[0]
        dropped = db.execute(
            "SELECT count(*) FROM auth_group WHERE name LIKE 'dropped-%'"
        ).fetchone()[0]
    assert kept == expected
    assert dropped == 0
    assert verify(gateway_db).chain_valid


def test_event_inside_rolled_back_transaction_is_gone(gateway_db):
    from django.contrib.auth.models import Group
    from django.db import transaction

    import audit

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        Group.objects.create(name="order-row")
        audit.log_event(
            "test_event",
            operation="tests.rollback",
            actor={"kind": "system", "id": "tests"},
            decision="allow",
            outcome="completed",
        )
        raise Abort()

    assert chain_rows(gateway_db) == []
    assert not Group.objects.filter(name="order-row").exists()
    with sqlite3.connect(gateway_db) as db:
        head = db.execute("SELECT seq FROM audit_chain_head").fetchone()
    assert head == (0,)
