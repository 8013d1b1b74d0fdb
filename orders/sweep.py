"""The django-q2 task that reconciles orders with the broker for one time slot.

The shortest interval of a django-q2 schedule is one minute, so the
``reconcile-live-orders`` schedule starts a sweep every minute and each
sweep runs ``orders.reconcile.run_pass`` every few seconds for a slot of two
minutes. A database lease lets one sweep at a time run passes, across every
cluster process that shares the database. The next sweep polls for the lease
while the current one runs and takes over when it is released, so some sweep
is always either running passes or waiting to.

The slot (120 s) stays below ``Q_CLUSTER["timeout"]`` (150 s), after which
django-q2 kills the task, and that stays below ``Q_CLUSTER["retry"]``
(300 s), after which the ORM broker hands an unacknowledged task out again.

NOTE: a sweep occupies a cluster worker for its whole slot, waiting or
running, and one starts every minute, so sweeps keep two workers busy at
all times. With ``Q_CLUSTER["workers"] = 2`` any other task, or a sweep
started late by the scheduler, queues until a sweep ends.
"""

import logging
import os
import socket
import threading
import time
import uuid

from django.db import DatabaseError, close_old_connections

from audit.errors import AuditUnavailable
from ibkr_gateway.runtime_config import get_runtime_config
from orders import lease, reconcile

logger = logging.getLogger(__name__)

LEASE_NAME = "reconcile-live-orders"
SLOT_SECONDS = 120
LEASE_POLL_SECONDS = 0.5

# A holder that dies keeps the lease until it expires. Three intervals let a
# renewal fail twice before the lease lapses. The lease is renewed only
# between passes, so the slack lets one pass take about 2 intervals + 30 s.
# NOTE: a longer pass lets the lease expire, so another sweep may start a
# pass before this one ends. This sweep then logs a lost lease and stops.
LEASE_TTL_INTERVALS = 3
LEASE_TTL_SLACK_SECONDS = 30

# Errors that a pass may raise while the database is down or locked. The
# sweep logs them and tries again at the next interval.
OUTAGE_ERRORS = (AuditUnavailable, DatabaseError)


class _OutageLog:
    """Error logging for outages: one traceback when an outage starts, then a count.

    Process-wide, so a long outage logs one traceback per process and not one
    per pass or per sweep.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.failures = 0

    def failed(self, message, *args):
        with self._lock:
            self.failures += 1
            first = self.failures == 1
        if first:
            logger.exception(message, *args)

    def recovered(self, holder):
        with self._lock:
            failures, self.failures = self.failures, 0
        if failures:
            logger.info(
                "Reconcile sweep %s: the outage ended after %d failed attempt(s)",
                holder,
                failures,
            )


_outage = _OutageLog()


def lease_ttl_seconds(interval_seconds):
    """Return the lease TTL in seconds for a pass interval of ``interval_seconds``."""
    return LEASE_TTL_INTERVALS * interval_seconds + LEASE_TTL_SLACK_SECONDS


def sweep(slot_seconds=SLOT_SECONDS, now=time.monotonic, sleep=time.sleep):
    """Run reconcile passes for one slot while holding the lease.

    Polls for the lease every 0.5 s until the slot ends. Once it holds the
    lease, waits ``reconcile.delay_seconds()``, renews the lease and runs a
    pass, and repeats while the next pass would still start inside the slot.
    Then it releases the lease. The last pass may end after the slot does.
    ``now`` returns monotonic seconds and ``sleep`` waits, both injectable for
    tests. Returns a summary: ``holder``, ``acquired``, ``waited_seconds``,
    ``passes``, ``failed_passes`` and ``lost_lease``.
    """
    started = now()
    deadline = started + slot_seconds
    holder = _holder_id()
    interval = get_runtime_config().trading.live.reconciler_interval_seconds
    ttl = lease_ttl_seconds(interval)
    summary = {
        "holder": holder,
        "acquired": False,
        "waited_seconds": 0.0,
        "passes": 0,
        "failed_passes": 0,
        "lost_lease": False,
    }
    logger.info(
        "Reconcile sweep %s started: slot %s s, interval %s s, lease TTL %s s",
        holder,
        slot_seconds,
        interval,
        ttl,
    )

    acquired = _wait_for_lease(holder, ttl, deadline, now, sleep)
    summary["waited_seconds"] = round(now() - started, 3)
    if not acquired:
        logger.info(
            "Reconcile sweep %s stopped: lease %s was still held when its slot "
            "ended after %.1f s",
            holder,
            LEASE_NAME,
            summary["waited_seconds"],
        )
        return summary

    summary["acquired"] = True
    if summary["waited_seconds"] >= LEASE_POLL_SECONDS:
        logger.info(
            "Reconcile sweep %s acquired lease %s after waiting %.1f s",
            holder,
            LEASE_NAME,
            summary["waited_seconds"],
        )

    try:
        _run_passes(holder, interval, ttl, deadline, now, sleep, summary)
    finally:
        _release(holder, summary)

    logger.info(
        "Reconcile sweep %s stopped after %d pass(es), %d failed",
        holder,
        summary["passes"],
        summary["failed_passes"],
    )
    return summary


def _holder_id():
    # Host and process id identify the cluster process that holds the lease,
    # and the random suffix distinguishes two sweeps of one process.
    host = socket.gethostname()[:100]
    return f"{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _wait_for_lease(holder, ttl, deadline, now, sleep):
    logged_wait = False
    while now() < deadline:
        try:
            if lease.acquire(LEASE_NAME, holder, ttl):
                _outage.recovered(holder)
                return True
            other = lease.current_holder(LEASE_NAME)
        except DatabaseError:
            _outage.failed(
                "Reconcile sweep %s failed to read lease %s and polls again",
                holder,
                LEASE_NAME,
            )
            close_old_connections()
        else:
            if not logged_wait:
                logger.info(
                    "Reconcile sweep %s waits for lease %s, held by %s",
                    holder,
                    LEASE_NAME,
                    other,
                )
                logged_wait = True

        sleep(max(0.0, min(LEASE_POLL_SECONDS, deadline - now())))
    return False


def _run_passes(holder, interval, ttl, deadline, now, sleep, summary):
    while True:
        delay = _delay_seconds(holder, interval)
        if now() + delay >= deadline:
            return

        # Waiting before the first pass too keeps the pace across a hand-over,
        # because the previous holder released the lease right after its pass.
        if not _sleep_holding(holder, ttl, delay, interval, now, sleep, summary):
            return

        still_held = _renew(holder, ttl, summary)
        if still_held is False:
            return
        if still_held is None:
            continue

        _run_pass(holder, summary)


def _delay_seconds(holder, interval):
    try:
        return float(reconcile.delay_seconds())
    except DatabaseError:
        _outage.failed(
            "Reconcile sweep %s failed to compute its delay and uses the interval",
            holder,
        )
        close_old_connections()
        return float(interval)


def _sleep_holding(holder, ttl, delay, interval, now, sleep, summary):
    # Sleep in steps of at most one interval and renew between them, so a
    # delay longer than the TTL does not let the lease lapse.
    wake_at = now() + delay
    while True:
        sleep(max(0.0, min(interval, wake_at - now())))
        if now() >= wake_at:
            return True
        if _renew(holder, ttl, summary) is False:
            return False


def _renew(holder, ttl, summary):
    # Returns True while the lease is held, False once it is lost and None
    # when a database error leaves that unknown.
    try:
        renewed = lease.renew(LEASE_NAME, holder, ttl)
    except DatabaseError:
        _outage.failed(
            "Reconcile sweep %s failed to renew lease %s, so no pass runs until a "
            "renewal succeeds",
            holder,
            LEASE_NAME,
        )
        close_old_connections()
        return None

    if not renewed:
        summary["lost_lease"] = True
        logger.warning(
            "Reconcile sweep %s lost lease %s, maybe after a pass longer than its "
            "TTL of %s s, and stops so that passes cannot overlap",
            holder,
            LEASE_NAME,
            ttl,
        )
    return renewed


def _run_pass(holder, summary):
    summary["passes"] += 1
    try:
        reconcile.run_pass()
    except OUTAGE_ERRORS:
        summary["failed_passes"] += 1
        _outage.failed(
            "Reconcile pass of sweep %s failed and is retried at the next interval",
            holder,
        )
        close_old_connections()
        return

    _outage.recovered(holder)


def _release(holder, summary):
    try:
        released = lease.release(LEASE_NAME, holder)
    except DatabaseError:
        logger.exception(
            "Reconcile sweep %s failed to release lease %s, which expires by itself",
            holder,
            LEASE_NAME,
        )
        close_old_connections()
        return

    if not released and not summary["lost_lease"]:
        logger.warning(
            "Reconcile sweep %s no longer held lease %s at its end, so its last "
            "pass may have outlasted the lease TTL",
            holder,
            LEASE_NAME,
        )
