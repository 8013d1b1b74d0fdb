"""Benchmark one reconcile pass over a large live backlog against its broker time.

Run from the repository root with ``.venv/bin/python bench/reconcile_bench.py``
(``--quick`` for fewer rounds, ``--json`` for machine output). The database
lives in a new temporary directory that is removed at the end, and the
script drops ``DATABASE_URL`` and every ``DJANGO_*`` and ``IBKR_*``
variable, so it never opens the gateway's own database.

The broker is a fake whose order list call sleeps 20 ms and whose
per-order status call sleeps 2 ms, with no pacing. Scenario A lists every
backlog order; scenario B leaves 100 orders out of the list, so they are
asked for one by one, and 30 of those report a new status. Each round runs
on a fresh copy of the same database. The figures per scenario are the
median pass time, the broker time (the fake's sleeps), and the gateway's
own overhead, pass time minus broker time, as a ratio of the broker time.

Targets: overhead under 50% of the broker time in B, and a pass in either
scenario well within the default 5 s interval (under half of it).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BACKLOG = 1000
MISSING = 100
CHANGED = 30
LIST_SECONDS = 0.020
STATUS_SECONDS = 0.002
MAX_OVERHEAD_RATIO = 0.5
MAX_PASS_SECONDS = 2.5
ACCOUNT = "U5550102"


class FakeBroker:
    """Order list and status calls that cost fixed times and are timed."""

    def __init__(self, states, missing):
        self.listed = [state for key, state in states.items() if key not in missing]
        self.states = states
        self.broker_seconds = 0.0

    def _wait(self, seconds):
        started = time.perf_counter()
        time.sleep(seconds)
        self.broker_seconds += time.perf_counter() - started

    def live_orders(self, account_id=None):
        self._wait(LIST_SECONDS)
        return self.listed

    def order_status(self, account_id, broker_order_id):
        self._wait(STATUS_SECONDS)
        return self.states[broker_order_id]


def clean_environment(workspace):
    for name in list(os.environ):
        if name.startswith(("IBKR_", "DJANGO_")) or name == "DATABASE_URL":
            del os.environ[name]
    os.environ["DJANGO_SETTINGS_MODULE"] = "ibkr_gateway.settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{workspace / 'template.sqlite3'}"
    sys.path.insert(0, str(REPO_ROOT))


def build_template(workspace):
    """Migrate the template database and fill the backlog; return its path."""
    import django
    from django.core.management import call_command
    from django.utils import timezone

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)

    from orders.models import IdempotencyRecord, LiveOrder, LiveOrderPending

    now = timezone.now()
    record = IdempotencyRecord.objects.create(
        principal="token:1",
        operation="orders.live.submit",
        key="bench",
        request_hash="0" * 64,
        mode="live",
        action="submit",
        status="completed",
        account_id=ACCOUNT,
        account_hash="0" * 64,
        session_date=now.date(),
        created_at=now,
    )
    orders = LiveOrder.objects.bulk_create(
        LiveOrder(
            account_id=ACCOUNT,
            account_hash="0" * 64,
            broker_order_id=str(2_000_000_000 + index),
            coid=f"gw-bench-{index}",
            symbol="AAPL",
            conid=265598,
            side="BUY",
            order_type="LMT",
            quantity=10,
            price=190,
            tif="DAY",
            status="Submitted",
            record=record,
            created_at=now,
            updated_at=now,
        )
        for index in range(BACKLOG)
    )
    orders = list(LiveOrder.objects.order_by("id"))
    LiveOrderPending.objects.bulk_create(
        LiveOrderPending(
            account_id=ACCOUNT,
            broker_order_id=order.broker_order_id,
            order=order,
            last_status="Submitted",
            added_at=now,
        )
        for order in orders
    )
    from django.db import connection

    connection.close()
    path = workspace / "template.sqlite3"
    import sqlite3

    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def broker_states(scenario):
    """Return the states by broker order id and the ids left out of the list."""
    states = {}
    missing = set()
    for index in range(BACKLOG):
        broker_order_id = str(2_000_000_000 + index)
        status = "Submitted"
        if scenario == "B" and index < MISSING:
            missing.add(broker_order_id)
            if index < CHANGED:
                status = "PendingCancel"
        states[broker_order_id] = {
            "broker_order_id": broker_order_id,
            "account_id": ACCOUNT,
            "coid": None,
            "status": status,
            "filled_quantity": "0",
            "remaining_quantity": "10",
            "average_price": None,
            "why_held": None,
        }
    return states, missing


def run_round(template, workspace, scenario, index):
    from django.db import connections

    from orders import reconcile

    copy = workspace / f"round-{scenario}-{index}.sqlite3"
    shutil.copyfile(template, copy)
    connection = connections["default"]
    connection.close()
    connection.settings_dict["NAME"] = str(copy)

    states, missing = broker_states(scenario)
    broker = FakeBroker(states, missing)
    started = time.perf_counter()
    report = reconcile.reconcile_live_orders_once(broker)
    elapsed = time.perf_counter() - started
    connection.close()

    expected = CHANGED if scenario == "B" else 0
    if report.transitions != expected or report.scanned != BACKLOG:
        raise SystemExit(
            f"scenario {scenario}: expected {expected} transitions over {BACKLOG} "
            f"rows, got {report.transitions} over {report.scanned}"
        )
    return elapsed, broker.broker_seconds


def measure(template, workspace, rounds):
    results = {}
    for scenario in ("A", "B"):
        passes, brokers = [], []
        for index in range(rounds):
            elapsed, broker_seconds = run_round(template, workspace, scenario, index)
            passes.append(elapsed)
            brokers.append(broker_seconds)
        pass_seconds = statistics.median(passes)
        broker_seconds = statistics.median(brokers)
        overhead = pass_seconds - broker_seconds
        results[scenario] = {
            "pass_seconds": round(pass_seconds, 4),
            "broker_seconds": round(broker_seconds, 4),
            "overhead_seconds": round(overhead, 4),
            "overhead_ratio": round(overhead / broker_seconds, 3),
            "rounds": rounds,
        }
    results["targets"] = {
        "overhead_ratio_B_max": MAX_OVERHEAD_RATIO,
        "overhead_ratio_B_met": results["B"]["overhead_ratio"] < MAX_OVERHEAD_RATIO,
        "pass_seconds_max": MAX_PASS_SECONDS,
        "pass_seconds_met": max(
            results["A"]["pass_seconds"], results["B"]["pass_seconds"]
        )
        < MAX_PASS_SECONDS,
    }
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="Run 2 rounds per scenario (default 7)."
    )
    parser.add_argument(
        "--json", action="store_true", help="Print the results as one JSON object."
    )
    options = parser.parse_args(argv)
    rounds = 2 if options.quick else 7

    workspace = Path(tempfile.mkdtemp(prefix="reconcile-bench-"))
    try:
        clean_environment(workspace)
        template = build_template(workspace)
        results = measure(template, workspace, rounds)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)

    if options.json:
        print(json.dumps(results, sort_keys=True))
        return 0
    for scenario, label in (
        ("A", "every order listed"),
        ("B", "100 missing, 30 changed"),
    ):
        row = results[scenario]
        pass_ms = row["pass_seconds"] * 1000
        broker_ms = row["broker_seconds"] * 1000
        overhead_ms = row["overhead_seconds"] * 1000
        print(
            f"scenario {scenario} ({label}), median of {row['rounds']}: pass "
            f"{pass_ms:.0f} ms, broker {broker_ms:.0f} ms, overhead "
            f"{overhead_ms:.0f} ms = {row['overhead_ratio']:.2f}x broker time"
        )
    targets = results["targets"]
    print(
        f"target: overhead in B under {MAX_OVERHEAD_RATIO:.2f}x broker time: "
        f"{'met' if targets['overhead_ratio_B_met'] else 'NOT met'}; pass under "
        f"{MAX_PASS_SECONDS} s: {'met' if targets['pass_seconds_met'] else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
