"""Reconcile lease: take, renew, release, expiry, and sweeps that never overlap."""

import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections

from orders import lease, reconcile, sweep
from orders.models import ReconcileLease
from tests.conftest import REPO_ROOT, manage_env

NAME = "test-lease"
TTL = 30
T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def lease_row():
    return ReconcileLease.objects.get(name=NAME)


def test_acquire_free_lease(gateway_db):
    assert lease.acquire(NAME, "a", TTL, T0) is True

    row = lease_row()
    assert row.holder == "a"
    assert row.acquired_at == T0
    assert row.expires_at == at(TTL)


def test_acquire_rejected_while_held(gateway_db):
    lease.acquire(NAME, "a", TTL, T0)

    assert lease.acquire(NAME, "b", TTL, at(TTL - 1)) is False
    assert lease_row().holder == "a"


def test_acquire_after_expiry_takes_over(gateway_db):
    lease.acquire(NAME, "a", TTL, T0)

    assert lease.acquire(NAME, "b", TTL, at(TTL)) is True

    row = lease_row()
    assert row.holder == "b"
    assert row.acquired_at == at(TTL)
    assert row.expires_at == at(2 * TTL)


def test_acquire_by_holder_extends_lease(gateway_db):
    lease.acquire(NAME, "a", TTL, T0)

    assert lease.acquire(NAME, "a", TTL, at(10)) is True

    row = lease_row()
    assert row.acquired_at == T0
    assert row.expires_at == at(10 + TTL)


def test_renew_extends_current_lease(gateway_db):
    lease.acquire(NAME, "a", TTL, T0)

    assert lease.renew(NAME, "a", TTL, at(20)) is True
    assert lease_row().expires_at == at(20 + TTL)
    assert lease.acquire(NAME, "b", TTL, at(TTL + 1)) is False


def test_renew_after_expiry_rejected(gateway_db):
    lease.acquire(NAME, "a", TTL, T0)

    assert lease.renew(NAME, "a", TTL, at(TTL)) is False
    assert lease_row().expires_at == at(TTL)


def test_renew_by_other_holder_rejected(gateway_db):
    lease.acquire(NAME, "a", TTL, T0)

    assert lease.renew(NAME, "b", TTL, at(1)) is False
    assert lease_row().holder == "a"


def test_renew_of_missing_lease_rejected(gateway_db):
    assert lease.renew(NAME, "a", TTL, T0) is False
    assert not ReconcileLease.objects.filter(name=NAME).exists()


def test_release_frees_lease(gateway_db):
    lease.acquire(NAME, "a", TTL, T0)

    assert lease.release(NAME, "a") is True
    assert lease.acquire(NAME, "b", TTL, at(1)) is True


def test_release_by_other_holder_keeps_lease(gateway_db):
    lease.acquire(NAME, "a", TTL, T0)

    assert lease.release(NAME, "b") is False
    assert lease_row().holder == "a"


def test_current_holder_follows_lease(gateway_db):
    assert lease.current_holder(NAME, T0) is None

    lease.acquire(NAME, "a", TTL, T0)

    assert lease.current_holder(NAME, at(1)) == "a"
    assert lease.current_holder(NAME, at(TTL)) is None


def test_leases_with_other_names_independent(gateway_db):
    lease.acquire(NAME, "a", TTL, T0)

    assert lease.acquire("other-job", "b", TTL, at(1)) is True
    assert lease_row().holder == "a"


# Sweeps against a real database file: two threads, then two processes.


class PassRecorder:
    """A fake ``run_pass`` that records who ran each pass, and when."""

    def __init__(self, slow_after, slow_seconds):
        self.lock = threading.Lock()
        self.passes = []
        self.started = {}
        self.slow_after = slow_after
        self.slow_seconds = slow_seconds
        self.slow_done = False

    def __call__(self, now=None):
        name = threading.current_thread().name
        start = time.monotonic()

        # The first sweep's pass near the end of its slot runs long, so the
        # sweep ends after its slot while the second one is waiting.
        duration = 0.05
        with self.lock:
            late = start - self.started[name] >= self.slow_after
            if name == "first" and late and not self.slow_done:
                self.slow_done = True
                duration = self.slow_seconds
        time.sleep(duration)

        with self.lock:
            self.passes.append((start, time.monotonic(), name))
        return {}


def test_sweeps_in_threads_never_overlap(gateway_db, monkeypatch):
    slot = 2.0
    recorder = PassRecorder(slow_after=1.4, slow_seconds=0.7)
    monkeypatch.setattr(reconcile, "run_pass", recorder)
    monkeypatch.setattr(reconcile, "delay_seconds", lambda now=None: 0.1)

    releases = {}
    real_release = lease.release

    def recording_release(name, holder):
        released = real_release(name, holder)
        releases[threading.current_thread().name] = time.monotonic()
        return released

    monkeypatch.setattr(lease, "release", recording_release)

    summaries = {}

    def run_sweep(slot_seconds):
        name = threading.current_thread().name
        recorder.started[name] = time.monotonic()
        try:
            summaries[name] = sweep.sweep(slot_seconds=slot_seconds)
        finally:
            connections["default"].close()

    first = threading.Thread(target=run_sweep, args=(slot,), name="first")
    # The second slot outlasts the first sweep's slow last pass with room to
    # spare on a loaded machine, so it must take the lease after the first.
    second = threading.Thread(target=run_sweep, args=(slot * 2,), name="second")
    first.start()
    time.sleep(1.0)
    second.start()
    first.join(timeout=10)
    second.join(timeout=10)

    passes = sorted(recorder.passes)
    for previous, following in zip(passes, passes[1:], strict=False):
        assert following[0] >= previous[1], f"{following} overlaps {previous}"

    first_passes = [p for p in passes if p[2] == "first"]
    second_passes = [p for p in passes if p[2] == "second"]
    assert first_passes[-1][1] - recorder.started["first"] > slot
    assert summaries["second"]["acquired"] is True
    assert summaries["second"]["waited_seconds"] >= sweep.LEASE_POLL_SECONDS
    assert second_passes, "the second sweep ran no pass"
    assert second_passes[0][0] >= releases["first"]


SWEEP_SCRIPT = """
import json, os, time
from orders import reconcile, sweep

log = open(os.environ["PASS_LOG"], "a")

def run_pass(now=None):
    start = time.time()
    time.sleep(0.05)
    log.write(f"{start} {time.time()}\\n")
    log.flush()
    return {}

reconcile.run_pass = run_pass
reconcile.delay_seconds = lambda now=None: 0.1
summary = sweep.sweep(slot_seconds=float(os.environ["SWEEP_SLOT"]))
print("SUMMARY " + json.dumps(summary))
"""


def start_sweep_process(db_path, pass_log, slot):
    env = manage_env(db_path, PASS_LOG=str(pass_log), SWEEP_SLOT=str(slot))
    return subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "manage.py"), "shell", "-c", SWEEP_SCRIPT],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish_sweep_process(process):
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    lines = [line for line in stdout.splitlines() if line.startswith("SUMMARY ")]
    return json.loads(lines[-1].removeprefix("SUMMARY "))


def read_passes(path):
    passes = []
    for line in path.read_text().splitlines():
        start, end = line.split()
        passes.append((float(start), float(end), path.stem))
    return passes


@pytest.mark.slow
def test_sweeps_in_processes_never_overlap(gateway_db, tmp_path):
    first_log = tmp_path / "first.log"
    second_log = tmp_path / "second.log"
    first_log.touch()
    second_log.touch()

    processes = [start_sweep_process(gateway_db, first_log, slot=3.0)]
    try:
        # Start the second process only once the first holds the lease, so the
        # second must wait for it.
        deadline = time.monotonic() + 20
        while not first_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        # A longer slot than the first's, so that under load the second
        # process still outlasts the first sweep and takes the lease after it.
        processes.append(start_sweep_process(gateway_db, second_log, slot=6.0))
        first_summary, second_summary = map(finish_sweep_process, processes)
    finally:
        for process in processes:
            process.kill()

    first_passes = read_passes(first_log)
    second_passes = read_passes(second_log)
    passes = sorted(first_passes + second_passes)
    for previous, following in zip(passes, passes[1:], strict=False):
        assert following[0] >= previous[1], f"{following} overlaps {previous}"

    assert first_summary["passes"] == len(first_passes)
    assert second_summary["acquired"] is True
    assert second_summary["waited_seconds"] >= sweep.LEASE_POLL_SECONDS
    assert second_passes, "the second process ran no pass"
    assert second_passes[0][0] >= first_passes[-1][1]
    assert not ReconcileLease.objects.exists()
