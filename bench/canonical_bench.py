"""Compare audit.canonical.dumps with rfc8785.dumps on a typical audit event.

Run from the repository root with ``.venv/bin/python bench/canonical_bench.py``.
Both functions are timed in alternating rounds of one process, and the script
prints the median time per call of each, their ratio, and the same figures for
an event with floats, which takes the slower full encoder.
"""

import platform
import statistics
import sys
import time
from pathlib import Path

CALLS_PER_ROUND = 200
ROUNDS = 300


def build_event():
    """Return an audit event of 16 keys with a 10-entry metadata dict, about 1.4 KB."""
    return {
        "schema_version": 1,
        "sequence": 184467,
        "event_id": "01J9Z8Q6W3M4K7T2R5N8P1V0XC",
        "event_type": "order.submit.approved",
        "occurred_at": "2026-05-09T07:35:25.123456Z",
        "recorded_at": "2026-05-09T07:35:25.130021Z",
        "actor": "svc-gateway",
        "actor_role": "gateway",
        "account_hash": "9f2c1e7a5b3d4c6e8f0a1b2c3d4e5f60"
        "718293a4b5c6d7e8f90a1b2c3d4e5f6a",
        "correlation_id": "c0ffee00-1234-4abc-9def-0123456789ab",
        "request_id": "req-7f3a9c2e-5b1d-4e8f-a6c0-9d2b7e4f1a3c",
        "source_ip": "10.20.30.40",
        "outcome": "allowed",
        "reason": "Order within the per-symbol notional limit, the open-order "
        "limit and regular trading hours for the primary exchange.",
        "previous_hmac": "5d41402abc4b2a76b9719d911017c592"
        "7a0f8c3e1b2d4f6a8c0e2b4d6f8a0c2e",
        "metadata": {
            "symbol": "AAPL",
            "side": "BUY",
            "order_type": "LMT",
            "quantity": 150,
            "limit_price": "187.25",
            "time_in_force": "DAY",
            "con_id": 265598,
            "exchange": "SMART",
            "checks": [
                "symbol_allowlist",
                "notional_limit",
                "trading_hours",
                "duplicate_order",
                "max_open_orders",
            ],
            "note": (
                "Approved by the pre-trade compliance policy. Limits are read "
                "from the policy version active at submission; the order is "
                "forwarded to the IBKR Client Portal API unchanged and the "
                "broker response is logged as a separate event that refers to "
                "this one by its event id and correlation id. Operators can "
                "replay the decision from the stored policy snapshot, which "
                "lists the allowlist, the notional and open-order limits and "
                "the trading calendar that applied at that time."
            ),
        },
    }


def build_float_event():
    """Return the typical event with prices and a ratio as floats."""
    event = build_event()
    event["metadata"]["limit_price"] = 187.25
    event["metadata"]["notional"] = 28087.5
    event["metadata"]["utilization"] = 0.4312
    return event


def measure(functions, value):
    """Return the median seconds per call of each function, in the same order."""
    samples = [[] for _ in functions]
    for function in functions:
        function(value)
    for _ in range(ROUNDS):
        for function, function_samples in zip(functions, samples, strict=True):
            start = time.perf_counter()
            for _ in range(CALLS_PER_ROUND):
                function(value)
            elapsed = time.perf_counter() - start
            function_samples.append(elapsed / CALLS_PER_ROUND)
    return [statistics.median(function_samples) for function_samples in samples]


def report(label, value, ours, reference):
    output = ours(value)
    if output != reference(value):
        raise SystemExit(f"{label}: output differs from rfc8785.dumps")
    ours_median, reference_median = measure([ours, reference], value)
    print(f"{label} ({len(output)} bytes)")
    print(f"  audit.canonical.dumps  median {ours_median * 1e6:8.2f} us")
    print(f"  rfc8785.dumps          median {reference_median * 1e6:8.2f} us")
    print(f"  ratio rfc8785 / ours   {reference_median / ours_median:8.2f}")


def cpu_model():
    """Return the CPU model name from /proc/cpuinfo, or the machine type elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main():
    # Running the file directly puts bench/ on sys.path, not the repository root.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import rfc8785

    from audit.canonical import dumps

    print(
        f"Python {platform.python_version()} on {cpu_model()}, "
        f"{ROUNDS} rounds of {CALLS_PER_ROUND} calls"
    )
    report("typical event, fast path", build_event(), dumps, rfc8785.dumps)
    report("event with floats, full encoder", build_float_event(), dumps, rfc8785.dumps)


if __name__ == "__main__":
    main()
