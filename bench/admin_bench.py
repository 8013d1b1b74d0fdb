"""Benchmark the audit admin's change list, filters and detail page by log size.

Run from the repository root with ``.venv/bin/python bench/admin_bench.py``
(logs of 10,000 and 1,000,000 events) or ``--quick`` (10,000 and 100,000).
The databases live in a new temporary directory that is removed at the end,
and the script drops ``DATABASE_URL`` and every ``DJANGO_*`` and ``IBKR_*``
variable, so it never opens the gateway's own database.

Rows are bulk-inserted with raw SQL: every column is valid and the rows
link by ``prev_mac``, but the MACs are not real, so the chain does not
verify and the detail page reports "MAC invalid". Events are one second
apart and end now, so the last hour holds 3,600 events at every size.

Each page is fetched through Django's test Client as a signed-in superuser,
``--rounds`` times after one warm-up, and the median is reported. Every
admin request also appends its own audit event, which is included. Target:
the median at the larger size within 2x of the median at 10,000 events.
"""

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 2.0
EVENT_TYPES = (
    "api_request",
    "audit_read",
    "audit_export",
    "login_succeeded",
    "order_submitted",
    "order_status",
    "reconcile_pass",
    "scope_denied",
)
# (decision, outcome, error_code) in rotation: mostly completed.
RESULTS = (
    ("allow", "completed", None),
    ("allow", "completed", None),
    ("allow", "completed", None),
    ("allow", "failed", "broker_error"),
    ("deny", "denied", "scope_denied"),
    ("refuse", "refused", "policy_refused"),
)
INSERT_SQL = (
    "INSERT INTO audit_events (seq, event_id, event_type, occurred_at, actor, "
    "request_id, account_hash, operation, decision, outcome, error_code, payload, "
    "key_id, prev_mac, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# Triggers that would reject rows not written by the chain writer.
WRITER_TRIGGERS = ("audit_events_check_append", "audit_chain_head_check_update")


def clean_environment(workspace):
    for name in list(os.environ):
        if name.startswith(("IBKR_", "DJANGO_")) or name == "DATABASE_URL":
            del os.environ[name]
    os.environ["DJANGO_SETTINGS_MODULE"] = "ibkr_gateway.settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{workspace / 'template.sqlite3'}"
    sys.path.insert(0, str(REPO_ROOT))


def fake_mac(seq):
    return hashlib.sha256(b"bench-%d" % seq).hexdigest()


def event_rows(count, end):
    """Yield ``count`` insert rows ending at ``end``, one second apart."""
    start = end - timedelta(seconds=count)
    accounts = [hashlib.sha256(b"account-%d" % i).hexdigest() for i in range(50)]
    for seq in range(1, count + 1):
        moment = start + timedelta(seconds=seq)
        event_type = EVENT_TYPES[seq % len(EVENT_TYPES)]
        decision, outcome, error_code = RESULTS[seq % len(RESULTS)]
        account_hash = accounts[seq % 50] if seq % 100 == 0 else None
        event_id = str(uuid.uuid4())
        request_id = str(uuid.uuid4())
        operation = f"bench.{event_type}"
        payload = {
            "account_hash": account_hash,
            "actor": {"id": "token:1", "kind": "token"},
            "decision": decision,
            "error_code": error_code,
            "event_id": event_id,
            "event_type": event_type,
            "input_hash": None,
            "metadata": {"index": seq},
            "occurred_at": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "operation": operation,
            "outcome": outcome,
            "output_hash": None,
            "redactions": [],
            "request_id": request_id,
            "scopes": {"granted": [], "required": []},
            "token_hash": None,
        }
        yield (
            seq,
            event_id,
            event_type,
            str(moment.replace(tzinfo=None)),
            "token:1",
            request_id,
            account_hash,
            operation,
            decision,
            outcome,
            error_code,
            json.dumps(payload, separators=(",", ":"), sort_keys=True),
            "dev",
            fake_mac(seq - 1) if seq > 1 else "0" * 64,
            fake_mac(seq),
        )


def build_log(template, path, count):
    """Copy the migrated template to ``path`` and fill it with ``count`` events."""
    from audit.triggers import CREATE_STATEMENTS

    shutil.copyfile(template, path)
    with sqlite3.connect(path) as db:
        for name in WRITER_TRIGGERS:
            db.execute(f"DROP TRIGGER {name}")
        db.executemany(INSERT_SQL, event_rows(count, datetime.now(UTC)))
        db.execute(
            "UPDATE audit_chain_head SET seq = ?, mac = ? WHERE id = 1",
            (count, fake_mac(count)),
        )
        for name in WRITER_TRIGGERS:
            db.execute(CREATE_STATEMENTS[name])
        db.commit()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def pages(count):
    """Return ``{name: url}`` of the pages to time on a log of ``count`` events."""
    base = "/admin/audit/auditevent/"
    # Every 100th event names one of 50 accounts; seq 100, 5100, ... use #0.
    account = hashlib.sha256(b"account-0").hexdigest()
    middle = count // 2
    return {
        "list": base,
        "older page": f"{base}?before={middle}",
        "event type": f"{base}?event_type=scope_denied",
        "decision": f"{base}?decision=deny",
        "outcome": f"{base}?outcome=failed",
        "last hour": f"{base}?occurred=hour",
        "last day": f"{base}?occurred=day",
        "last week": f"{base}?occurred=week",
        "from/to": f"{base}?occurred_from=2000-01-01&occurred_to=2999-01-01",
        "account": f"{base}?account_hash={account}",
        "uuid search": f"{base}?q={uuid.uuid4()}",
        "detail": f"{base}{middle}/change/",
    }


def time_pages(path, count, rounds):
    """Return ``{page: median seconds}`` for the log at ``path``."""
    from django.contrib.auth.models import User
    from django.db import connections
    from django.test import Client

    connection = connections["default"]
    connection.close()
    connection.settings_dict["NAME"] = str(path)
    user, _ = User.objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    medians = {}
    for name, url in pages(count).items():
        samples = []
        for index in range(rounds + 1):
            started = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"{url} returned {response.status_code}")
            if index:
                samples.append(elapsed)
        medians[name] = statistics.median(samples)
    connection.close()
    return medians


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Use logs of 10,000 and 100,000 events instead of 10,000 and 1,000,000.",
    )
    parser.add_argument(
        "--rounds", type=int, default=15, help="Timed requests per page (default 15)."
    )
    parser.add_argument("--json", action="store_true", help="Print JSON.")
    options = parser.parse_args()
    sizes = (10_000, 100_000) if options.quick else (10_000, 1_000_000)

    workspace = Path(tempfile.mkdtemp(prefix="admin-bench-"))
    try:
        clean_environment(workspace)
        import django
        from django.core.management import call_command
        from django.test.utils import setup_test_environment

        django.setup()
        # Lets the test Client's "testserver" host through ALLOWED_HOSTS.
        setup_test_environment()
        call_command("migrate", verbosity=0, interactive=False)
        from django.db import connections

        connections["default"].close()
        template = workspace / "template.sqlite3"
        with sqlite3.connect(template) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        results = {}
        for count in sizes:
            path = workspace / f"log-{count}.sqlite3"
            started = time.perf_counter()
            build_log(template, path, count)
            print(
                f"built {count} events in {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
            results[count] = time_pages(path, count, options.rounds)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)

    small, large = sizes
    report = {
        name: {
            "small_ms": results[small][name] * 1000,
            "large_ms": results[large][name] * 1000,
            "ratio": results[large][name] / results[small][name],
        }
        for name in results[small]
    }
    if options.json:
        print(json.dumps({"sizes": sizes, "pages": report}, indent=2))
        return
    print(f"| page | {small:,} events | {large:,} events | ratio |")
    print("| --- | --- | --- | --- |")
    for name, row in report.items():
        verdict = "" if row["ratio"] <= TARGET_RATIO else " (over target)"
        print(
            f"| {name} | {row['small_ms']:.1f} ms | {row['large_ms']:.1f} ms | "
            f"{row['ratio']:.2f}x{verdict} |"
        )


if __name__ == "__main__":
    main()
