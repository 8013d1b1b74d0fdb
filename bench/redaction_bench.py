"""Time redact, scrub_text and find_secrets on the audit benchmark's order event.

Run from the repository root with ``.venv/bin/python bench/redaction_bench.py``.
The metadata comes from ``order_event`` in ``bench/audit_bench.py``, with a
different ``client_order_id`` in every call. The stored payloads are built by
``audit.envelope.build_event`` and ``audit.canonical.dumps``, as the writer
stores them, with a fresh event id, request id and timestamp in each.

The script prints the median time per call of each figure next to its
target. "warm" runs keep the module's caches of key names and scanned
strings, as a long-running process does, and "cold" runs clear them before
every call. On a shared virtual machine, one process can measure much
slower than the next, so compare the figures of several runs.
"""

import argparse
import datetime
import functools
import os
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ibkr_gateway.settings")

from audit_bench import order_event  # noqa: E402

from audit import redaction  # noqa: E402
from audit.canonical import dumps  # noqa: E402
from audit.correlation import ACCOUNT, correlation_hash  # noqa: E402
from audit.envelope import build_event  # noqa: E402

CORRELATION_KEY = b"k" * 32

# Targets in microseconds per call.
REDACT_TARGET_US = 25.0
SCRUB_TEXT_TARGET_US = 1.5
FIND_SECRETS_TARGET_US = 40.0

# Short strings without secrets, as in actor ids, notes and metadata values.
CLEAN_TEXTS = (
    "AAPL",
    "user:bob",
    "bench-order-17",
    "order 17 filled at 187.25",
    "symbol_allowlist",
)


def clear_caches():
    """Clear every functools cache of the redaction module."""
    for value in vars(redaction).values():
        if hasattr(value, "cache_clear"):
            value.cache_clear()


def median_per_call(function, arguments, rounds, calls, cold):
    """Return the median over ``rounds`` of the mean time per call, in µs.

    Each round makes ``calls`` calls, cycling through ``arguments``. A cold
    round clears the caches before each call and times each call alone.
    """
    per_call = []
    index = 0
    for _ in range(rounds):
        if cold:
            total = 0
            for _ in range(calls):
                argument = arguments[index % len(arguments)]
                index += 1
                clear_caches()
                start = time.perf_counter_ns()
                function(argument)
                total += time.perf_counter_ns() - start
        else:
            batch = [arguments[(index + i) % len(arguments)] for i in range(calls)]
            index += calls
            start = time.perf_counter_ns()
            for argument in batch:
                function(argument)
            total = time.perf_counter_ns() - start
        per_call.append(total / calls / 1000)
    return statistics.median(per_call)


def order_metadata(index):
    return order_event(index)["metadata"]


def stored_payload(index):
    """Return the canonical JSON text that the writer stores for one order."""
    event = order_event(index)
    # The envelope accepts only server-generated UUIDs as request ids.
    event["request_id"] = str(uuid.uuid4())
    payload = build_event("order_submitted", correlation_key=CORRELATION_KEY, **event)
    occurred_at = datetime.datetime(2026, 5, 9, 7, 35, 25, tzinfo=datetime.UTC)
    occurred_at += datetime.timedelta(microseconds=index)
    payload["occurred_at"] = occurred_at.isoformat().replace("+00:00", "Z")
    return dumps(payload).decode()


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, default=101, help="timed rounds per figure"
    )
    parser.add_argument("--calls", type=int, default=200, help="calls per timed round")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    account_hash = functools.partial(correlation_hash, CORRELATION_KEY, ACCOUNT)

    def redact_metadata(metadata):
        return redaction.redact(metadata, path="metadata", account_hash=account_hash)

    def scrub(text):
        return redaction.scrub_text(text, path="actor.id", account_hash=account_hash)

    metadata = [order_metadata(index) for index in range(1000)]
    payloads = [stored_payload(index) for index in range(1000)]
    for payload in payloads:
        if redaction.find_secrets(payload):
            raise SystemExit(
                "find_secrets flagged a stored benchmark payload, so either the "
                "order event carries a secret or the scan has a false positive"
            )

    figures = []
    for name, function, arguments, target in (
        ("redact(metadata)", redact_metadata, metadata, REDACT_TARGET_US),
        ("scrub_text(short clean string)", scrub, CLEAN_TEXTS, SCRUB_TEXT_TARGET_US),
        (
            "find_secrets(stored payload)",
            redaction.find_secrets,
            payloads,
            FIND_SECRETS_TARGET_US,
        ),
    ):
        for cold in (False, True):
            value = median_per_call(function, arguments, args.rounds, args.calls, cold)
            figures.append((name, "cold" if cold else "warm", value, target))

    print(
        f"Python {platform.python_version()}, {platform.machine()}, "
        f"{args.rounds} rounds of {args.calls} calls, stored payload "
        f"{len(payloads[0])} bytes"
    )
    print(f"{'figure':32s} {'cache':5s} {'median µs':>10s} {'target µs':>10s}  result")
    for name, cache, value, target in figures:
        result = "PASS" if value <= target else "FAIL"
        print(f"{name:32s} {cache:5s} {value:10.2f} {target:10.1f}  {result}")


if __name__ == "__main__":
    main()
