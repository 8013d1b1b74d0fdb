"""Reconcile the gateway's orders with the broker's view of them.

``reconcile_live_orders_once`` walks the ``live_orders_pending`` backlog,
oldest poll first, against one read of the broker's order list. It
requests a single order's status only when the list lacks the order, so an
empty or partial list, as IBKR returns right after a login, is never read
as a transition. Every change goes through ``orders.observe.record_state``,
which writes the lifecycle event and drops filled, cancelled and refused
orders from the backlog. ``run_pass`` adds the steps of a sweep: resolve
unknown outcomes, rebuild the backlog, reconcile live and paper orders,
and record an outage once, with a backoff, instead of once per poll.
"""

import logging
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import F

import audit
from audit.envelope import ALLOW, COMPLETED, FAILED
from ibkr_gateway import market
from ibkr_gateway.broker import errors as broker_errors
from ibkr_gateway.runtime_config import get_runtime_config
from orders import recovery
from orders.backends import open_backend
from orders.models import LiveOrder, LiveOrderPending, PaperOrder, ReconcileHealth
from orders.models.choices import Lifecycle, Mode
from orders.observe import record_state

logger = logging.getLogger(__name__)

RECONCILER_ACTOR = {"kind": "reconciler", "id": "reconciler"}
# Broker errors meaning the broker cannot be reached now, as opposed to an
# error about one order.
OUTAGE_ERRORS = (
    broker_errors.BrokerUnavailable,
    broker_errors.BrokerLoginRequired,
    broker_errors.BrokerRateLimited,
    broker_errors.BrokerTimeout,
    broker_errors.BrokerTlsError,
    broker_errors.BrokerResponseInvalid,
    broker_errors.BrokerResponseTooLarge,
)
MAX_BACKOFF_SECONDS = 60
OPEN_LIFECYCLES = (Lifecycle.WORKING, Lifecycle.UNKNOWN)


@dataclass
class PassReport:
    """Counts and unresolved orders of one pass over one mode."""

    scanned: int = 0
    transitions: int = 0
    fills: int = 0
    completed: int = 0
    unchanged: int = 0
    unresolved: list = field(default_factory=list)

    def as_dict(self):
        return asdict(self)


class _Tracked:
    """One order to reconcile, with its backlog row when it is live."""

    def __init__(self, order, row=None):
        self.order = order
        self.row = row

    @property
    def key(self):
        return (self.order.account_id, self.order.broker_order_id)


def _apply(mode, item, state, report, actor, polls):
    order = item.order
    previous_status = order.status
    previous_filled = order.filled_quantity
    changed = record_state(mode, order, state, actor)

    if order.status != previous_status:
        report.transitions += 1
    elif changed and order.filled_quantity != previous_filled:
        report.fills += 1
    else:
        report.unchanged += 1

    if order.lifecycle == Lifecycle.UNKNOWN:
        report.unresolved.append(
            {
                "broker_order_id": order.broker_order_id,
                "reason": "unknown_status",
                "status": order.status,
            }
        )
    if order.lifecycle in OPEN_LIFECYCLES:
        if item.row is not None:
            polls.seen(item.row, state.get("why_held") or "")
        return
    report.completed += 1


class _Polls:
    """Poll times and counts of backlog rows, written in one transaction.

    One UPDATE per group of rows keeps a pass over a large backlog from
    paying one commit per row.
    """

    def __init__(self):
        self.found = {}
        self.not_found = []

    def seen(self, row, why_held):
        self.found.setdefault(why_held[:200], []).append(row.pk)

    def missing(self, row):
        self.not_found.append(row.pk)

    def write(self, now):
        with transaction.atomic():
            for why_held, ids in self.found.items():
                LiveOrderPending.objects.filter(pk__in=ids).update(
                    last_polled_at=now, not_found_count=0, why_held=why_held
                )
            LiveOrderPending.objects.filter(pk__in=self.not_found).update(
                last_polled_at=now, not_found_count=F("not_found_count") + 1
            )


def _reconcile(mode, items, backend, actor, now):
    report = PassReport(scanned=len(items))
    if not items:
        return report

    # One list read per pass; missing orders are then asked for one by one.
    listed = {
        (state.get("account_id"), state["broker_order_id"]): state
        for state in backend.live_orders()
    }
    polls = _Polls()
    for item in items:
        state = listed.get(item.key)
        if state is None:
            try:
                state = backend.order_status(*item.key)
            except broker_errors.BrokerOrderNotFound:
                passes = None
                if item.row is not None:
                    polls.missing(item.row)
                    passes = item.row.not_found_count + 1
                report.unresolved.append(
                    {
                        "broker_order_id": item.order.broker_order_id,
                        "reason": "not_found",
                        "passes": passes,
                    }
                )
                continue
        _apply(mode, item, state, report, actor, polls)
    polls.write(now)
    return report


def reconcile_live_orders_once(backend, now=None, actor=RECONCILER_ACTOR):
    """Reconcile every backlog row once and return a ``PassReport``.

    Raises the outage errors of ``OUTAGE_ERRORS`` from the broker; rows not
    reached yet stay untouched.
    """
    if now is None:
        now = market.now()
    rows = LiveOrderPending.objects.select_related("order", "order__group")
    rows = rows.order_by("last_polled_at", "added_at", "id")
    # SQLite sorts NULL first in ascending order, so never-polled rows lead.
    items = [_Tracked(row.order, row) for row in rows]
    return _reconcile(Mode.LIVE, items, backend, actor, now)


def reconcile_paper_orders_once(backend, now=None, actor=RECONCILER_ACTOR):
    """Reconcile every paper order that is not final; return a ``PassReport``."""
    if now is None:
        now = market.now()
    orders = PaperOrder.objects.filter(lifecycle__in=OPEN_LIFECYCLES)
    orders = orders.select_related("group").order_by("updated_at", "id")
    items = [_Tracked(order) for order in orders]
    return _reconcile(Mode.PAPER, items, backend, actor, now)


def rebuild_backlog(now=None):
    """Add every open live order of a completed request to the backlog.

    Returns the number of rows added; a second run adds none.
    """
    if now is None:
        now = market.now()
    missing = LiveOrder.objects.filter(
        lifecycle__in=OPEN_LIFECYCLES,
        record__status="completed",
        pending__isnull=True,
    )
    added = 0
    for order in missing:
        _, created = LiveOrderPending.objects.get_or_create(
            account_id=order.account_id,
            broker_order_id=order.broker_order_id,
            defaults={"order": order, "last_status": order.status, "added_at": now},
        )
        added += int(created)
    if added:
        logger.info("Rebuilt the live backlog: %d order(s) added", added)
    return added


def _health(mode):
    health, _ = ReconcileHealth.objects.get_or_create(mode=mode)
    return health


def _record_outage(mode, error, now, interval):
    health = _health(mode)
    retry_after = getattr(error, "retry_after", None) or 0
    health.failures += 1
    backoff = min(interval * 2 ** (health.failures - 1), MAX_BACKOFF_SECONDS)
    health.next_attempt_at = now + timedelta(seconds=max(backoff, retry_after))
    health.reason = error.code
    if health.degraded_since is None:
        health.degraded_since = now
        audit.log_event(
            "reconcile_degraded",
            operation=f"reconcile.{mode}",
            actor=RECONCILER_ACTOR,
            decision=ALLOW,
            outcome=FAILED,
            error_code=error.code,
            metadata={"mode": mode, "retry_after": retry_after or None},
        )
        logger.warning(
            "%s reconciliation degraded: %s; retrying with backoff", mode, error.code
        )
    health.save()


def _record_recovery(mode, now):
    health = _health(mode)
    health.last_pass_at = now
    if health.degraded_since is not None:
        audit.log_event(
            "reconcile_recovered",
            operation=f"reconcile.{mode}",
            actor=RECONCILER_ACTOR,
            decision=ALLOW,
            outcome=COMPLETED,
            metadata={
                "mode": mode,
                "degraded_since": health.degraded_since.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "failed_passes": health.failures,
                "last_error": health.reason,
            },
        )
        logger.info(
            "%s reconciliation recovered after %d failed pass(es)",
            mode,
            health.failures,
        )
    health.degraded_since = None
    health.failures = 0
    health.next_attempt_at = None
    health.reason = ""
    health.save()


def interval_seconds():
    return get_runtime_config().trading.live.reconciler_interval_seconds


def delay_seconds(now=None):
    """Return the seconds to wait before the next pass: the configured interval.

    A degraded mode waits out its own backoff inside ``run_pass``, so a
    healthy mode keeps its pace.
    """
    return float(interval_seconds())


PASSES = {
    Mode.LIVE: reconcile_live_orders_once,
    Mode.PAPER: reconcile_paper_orders_once,
}


def _run_mode(mode, now, actor):
    health = _health(mode)
    if health.next_attempt_at is not None and now < health.next_attempt_at:
        return {"skipped": "backoff", "reason": health.reason}
    try:
        with open_backend(mode) as backend:
            report = PASSES[mode](backend, now, actor)
    except OUTAGE_ERRORS as error:
        _record_outage(mode, error, now, interval_seconds())
        return {"degraded": error.code}
    _record_recovery(mode, now)
    return report.as_dict()


def run_pass(now=None, actor=RECONCILER_ACTOR):
    """Run one sweep pass and return its report as a JSON-ready dict.

    Resolves unknown outcomes by cOID, rebuilds the live backlog, then
    reconciles live and paper orders. Broker outages are recorded, not
    raised; audit and database errors propagate.
    """
    if now is None:
        now = market.now()
    report = {"at": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
    try:
        recovered = recovery.recover_outcomes(now=now)
        report["recovered"] = [item.result for item in recovered]
    except OUTAGE_ERRORS as error:
        report["recovered"] = {"degraded": error.code}
    report["rebuilt"] = rebuild_backlog(now)
    for mode in (Mode.LIVE, Mode.PAPER):
        report[mode] = _run_mode(mode, now, actor)
    return report


def trouble_report(min_not_found=3):
    """Return what needs a person: lost orders, held orders, unknown outcomes."""
    not_found = LiveOrderPending.objects.filter(not_found_count__gte=min_not_found)
    held = LiveOrderPending.objects.exclude(why_held="")
    unknown_status = LiveOrder.objects.filter(lifecycle=Lifecycle.UNKNOWN)
    return {
        "not_found": [
            {
                "broker_order_id": row.broker_order_id,
                "passes": row.not_found_count,
                "last_status": row.last_status,
            }
            for row in not_found
        ],
        "held": [
            {
                "broker_order_id": row.broker_order_id,
                "status": row.last_status,
                "why_held": row.why_held,
            }
            for row in held
        ],
        "unknown_status": [
            {"broker_order_id": order.broker_order_id, "status": order.status}
            for order in unknown_status
        ],
        "unknown_outcome": [
            {
                "record": record.pk,
                "coid": record.coid,
                "operation": record.operation,
                "status": record.status,
            }
            for record in recovery.unresolved()
        ],
        "degraded": [
            {
                "mode": health.mode,
                "since": health.degraded_since.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "reason": health.reason,
            }
            for health in ReconcileHealth.objects.exclude(degraded_since=None)
        ],
    }
