"""Concurrent API clients against a real gunicorn server: one event per call, no gaps.

Three client processes send 50 requests each to a server on a free
loopback port, with a mix of statuses (200, 401, 403, 404). The log must then
hold exactly 150 ``api_request`` events, one per response's request id,
with gap-free ``seq`` numbers, and ``manage.py audit verify`` must pass.
"""

import json
import multiprocessing
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import httpx
import pytest

from tests.conftest import REPO_ROOT, manage_env, run_manage

PROCESSES = 3
REQUESTS_PER_PROCESS = 50
# (path, sends the token, expected status), cycled through by each client.
PLAN = [
    ("/api/v1/accounts", True, 200),
    ("/api/v1/accounts/DU5550101/positions", True, 200),
    ("/api/v1/health", True, 403),
    ("/api/v1/accounts", False, 401),
    ("/api/v1/nothing-here", False, 404),
]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_client(base, token_string, count, offset):
    """Send ``count`` requests; return ``[(plan_index, status, request_id), ...]``."""
    results = []
    with httpx.Client(base_url=base, timeout=20) as client:
        for index in range(count):
            plan_index = (index + offset) % len(PLAN)
            path, with_token, _expected = PLAN[plan_index]
            headers = {"Authorization": f"Bearer {token_string}"} if with_token else {}
            response = client.get(path, headers=headers)
            request_id = response.headers["X-Request-ID"]
            results.append((plan_index, response.status_code, request_id))
    return results


@pytest.fixture
def server(gateway_db):
    """Start gunicorn with two workers on this test's database; yield its URL."""
    from django.db import connections

    connections["default"].close()
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "ibkr_gateway.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
        ],
        cwd=REPO_ROOT,
        env=manage_env(gateway_db),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                httpx.get(f"{base}/health/", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None:
                    pytest.fail(f"gunicorn exited: {process.stderr.read()}")
                if time.monotonic() > deadline:
                    pytest.fail("gunicorn did not respond within 30 seconds")
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
def token_string(gateway_db):
    # Created by the command in a subprocess, so its hash uses the same
    # SECRET_KEY as the server.
    result = run_manage(
        "tokens",
        "create",
        "--name",
        "load",
        "--scope",
        "ibkr:accounts:read",
        "--scope",
        "ibkr:positions:read",
        "--json",
        db_path=gateway_db,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["token"]


def api_events(db_path):
    with sqlite3.connect(db_path) as db:
        return db.execute(
            "SELECT seq, request_id FROM audit_events "
            "WHERE event_type = 'api_request' ORDER BY seq"
        ).fetchall()


def send_load(base, token_string):
    """Run the clients in parallel processes and return all their results."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(PROCESSES, mp_context=context) as pool:
        futures = [
            pool.submit(run_client, base, token_string, REQUESTS_PER_PROCESS, offset)
            for offset in range(PROCESSES)
        ]
        return [result for future in futures for result in future.result()]


@pytest.mark.slow
def test_concurrent_clients_audit_every_call(gateway_db, token_string, server):
    results = send_load(server, token_string)
    events = api_events(gateway_db)
    with sqlite3.connect(gateway_db) as db:
        seqs = [
            seq for (seq,) in db.execute("SELECT seq FROM audit_events ORDER BY seq")
        ]
    verify = run_manage("audit", "verify", "--json", db_path=gateway_db)

    assert len(results) == PROCESSES * REQUESTS_PER_PROCESS
    for plan_index, status, _request_id in results:
        assert status == PLAN[plan_index][2], PLAN[plan_index]
    assert len(events) == PROCESSES * REQUESTS_PER_PROCESS
    assert sorted(request_id for _seq, request_id in events) == sorted(
        request_id for _index, _status, request_id in results
    )
    assert seqs == list(range(1, len(seqs) + 1))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout)["events_scanned"] == len(seqs)
