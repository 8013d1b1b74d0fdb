"""Idempotency keys of order submits: replay, conflicts, races and the cOID.

The tests drive the REST API against a real SQLite file with the example
config (``trading_gateway``). The ``broker`` fixture wraps ``open_backend``
in the submit, cancel and preview workflows and records every order call
that reaches the simulated broker. A test can make ``submit_orders`` wait
for an event, which keeps one request in flight while another one runs in
a second thread. Django gives each thread its own connection to the same
database file.
"""

import json
import re
import sqlite3
import threading

import pytest
from django.db import connections

from ibkr_gateway import runtime_config
from orders import backends, gates, trading_halt
from orders import submit as submit_workflow
from orders.models import Approval, IdempotencyRecord
from tests.conftest import REPO_ROOT
from tests.orders_support import (
    LIVE_ACCOUNT,
    approved,
    approver_token,
    body_of,
    order_fields,
    submit,
    trader_token,
)

ORDER_METHODS = ("submit_orders", "modify_order", "cancel_order")
COID_PATTERN = re.compile(r"gw-[0-9a-f]{24}")
OPERATOR = {"kind": "cli", "id": "cli:test-operator"}
# Max seconds a thread waits at a barrier or join. Each test takes well
# under a second.
THREAD_TIMEOUT_SECONDS = 10
# How long a blocked broker call waits for the other request before it runs
# anyway, so that a second broker call (a failure) cannot hang the test.
BROKER_WAIT_SECONDS = 5


class BrokerSpy:
    """Order calls that reached the broker, with an optional hold on submits."""

    def __init__(self):
        self.calls = []
        self.submitted = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self._lock = threading.Lock()

    def hold_submits(self):
        """Make ``submit_orders`` wait until ``release`` is set."""
        self.release.clear()

    def submit_count(self):
        return sum(
            1 for name, _account, _payload in self.calls if name == "submit_orders"
        )

    def open_backend(self, mode):
        backend = backends.open_backend(mode)
        for name in ORDER_METHODS:
            method = getattr(backend, name)

            def counted(account_id, payload=None, *rest, _name=name, _method=method):
                with self._lock:
                    self.calls.append((_name, account_id, payload))
                if _name == "submit_orders":
                    self.submitted.set()
                    self.release.wait(BROKER_WAIT_SECONDS)
                if payload is None:
                    return _method(account_id, *rest)
                return _method(account_id, payload, *rest)

            setattr(backend, name, counted)
        return backend


@pytest.fixture
def broker(monkeypatch):
    spy = BrokerSpy()
    for module in ("orders.submit", "orders.cancel", "orders.previews"):
        monkeypatch.setattr(f"{module}.open_backend", spy.open_backend)
    return spy


@pytest.fixture
def trader(trading_gateway):
    return trader_token()


@pytest.fixture
def approver(trading_gateway):
    return approver_token()


def use_config(tmp_path, old, new):
    """Install the example config with the line ``old`` replaced by ``new``."""
    text = (REPO_ROOT / "config" / "example.toml").read_text()
    assert old in text, f"{old!r} is no longer in config/example.toml"
    path = tmp_path / "gateway.toml"
    path.write_text(text.replace(old, new))
    runtime_config.set_runtime_config(runtime_config.load_runtime_config(path))


def events_of_type(db_path, event_type):
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT payload FROM audit_events WHERE event_type = ? ORDER BY seq",
            (event_type,),
        ).fetchall()
    return [json.loads(payload) for (payload,) in rows]


def error_code(response):
    return body_of(response)["error"]["code"]


def submit_in_threads(trader, requests, broker):
    """Send each ``(body, key)`` of ``requests`` from its own thread at once.

    Each thread releases the held broker when its own request returns, so
    a request that reached the broker stays in flight until another one
    has returned. Returns the responses in the order of ``requests``.
    """
    barrier = threading.Barrier(len(requests))
    responses = [None] * len(requests)
    failures = []

    def run(index, body, key):
        try:
            barrier.wait(THREAD_TIMEOUT_SECONDS)
            responses[index] = submit(trader, "paper", body, key)
        except Exception as error:  # reported by the assert below
            failures.append(error)
        finally:
            broker.release.set()
            connections.close_all()

    threads = [
        threading.Thread(target=run, args=(index, body, key))
        for index, (body, key) in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(THREAD_TIMEOUT_SECONDS)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    return responses


# Replays.


def test_same_key_replays_stored_response(trader, approver, broker):
    body = approved(trader, approver, order_fields())
    first = submit(trader, "paper", body, "key-1")

    again = submit(trader, "paper", body, "key-1")

    assert first.status_code == 201
    assert again.status_code == 201
    assert body_of(again) == body_of(first)
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert broker.submit_count() == 1


def test_replay_after_approval_consumed(trading_gateway, trader, approver, broker):
    body = approved(trader, approver, order_fields())
    first = submit(trader, "paper", body, "key-1")
    assert Approval.objects.get().status == Approval.CONSUMED

    again = submit(trader, "paper", body, "key-1")

    assert again.status_code == 201
    assert body_of(again) == body_of(first)
    assert again["Idempotent-Replayed"] == "true"
    assert broker.submit_count() == 1
    (replayed,) = events_of_type(trading_gateway, "order_replayed")
    assert replayed["metadata"]["coid"] == body_of(first)["coid"]


def test_same_key_changed_quantity_rejected(trading_gateway, trader, approver, broker):
    body = approved(trader, approver, order_fields())
    first = submit(trader, "paper", body, "key-1")
    assert first.status_code == 201

    changed = submit(trader, "paper", {**body, "quantity": "11"}, "key-1")

    assert changed.status_code == 422
    assert error_code(changed) == "idempotency_key_reused"
    assert "Use a new key" in body_of(changed)["error"]["message"]
    assert broker.submit_count() == 1
    refused_event = events_of_type(trading_gateway, "order_refused")[-1]
    assert refused_event["error_code"] == "idempotency_key_reused"
    assert refused_event["decision"] == "refuse"


def test_same_key_other_account_rejected(trader, approver, broker):
    paper_body = approved(trader, approver, order_fields())
    assert submit(trader, "paper", paper_body, "key-1").status_code == 201

    other = {**paper_body, "account_id": "DU5550199"}
    changed = submit(trader, "paper", other, "key-1")

    assert changed.status_code == 422
    assert error_code(changed) == "idempotency_key_reused"
    assert broker.submit_count() == 1


# Concurrent requests.


def meet_before_write_ahead(monkeypatch):
    """Make two submits wait for each other just before their write-ahead.

    Both have then passed the key lookup and every gate, so only the
    write-ahead transaction can tell them apart.
    """
    barrier = threading.Barrier(2)
    real_write_ahead = submit_workflow.write_ahead_with_limits

    def write_ahead_together(request, policy):
        barrier.wait(THREAD_TIMEOUT_SECONDS)
        return real_write_ahead(request, policy)

    monkeypatch.setattr(
        submit_workflow, "write_ahead_with_limits", write_ahead_together
    )


def test_concurrent_same_key_reaches_broker_once(trader, approver, broker):
    body = approved(trader, approver, order_fields())
    broker.hold_submits()

    responses = submit_in_threads(trader, [(body, "key-1"), (body, "key-1")], broker)

    # The winner is held at the broker until the loser has its response, so
    # the loser cannot get a replay yet. Its error code depends on the
    # interleaving and is checked by the two tests below.
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201, 409]
    assert broker.submit_count() == 1


def test_write_ahead_race_gets_in_flight(trader, approver, broker, monkeypatch):
    body = approved(trader, approver, order_fields())
    broker.hold_submits()
    meet_before_write_ahead(monkeypatch)

    responses = submit_in_threads(trader, [(body, "key-1"), (body, "key-1")], broker)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201, 409]
    loser = next(response for response in responses if response.status_code == 409)
    assert error_code(loser) == "request_in_flight"
    assert loser["Retry-After"] == "2"
    assert broker.submit_count() == 1


def test_retry_after_race_replays(trader, approver, broker):
    body = approved(trader, approver, order_fields())
    broker.hold_submits()
    responses = submit_in_threads(trader, [(body, "key-1"), (body, "key-1")], broker)
    winner = next(response for response in responses if response.status_code == 201)

    retry = submit(trader, "paper", body, "key-1")

    assert retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert body_of(retry) == body_of(winner)
    assert broker.submit_count() == 1


def test_late_approval_load_gets_in_flight(trader, approver, broker, monkeypatch):
    """Hold the second request between its key lookup and its approval load.

    Both requests pass the key lookup first. The first one then writes ahead
    and reaches the broker while the second waits before it reads the
    approval row. Free-running threads hit this interleaving in about one
    run of twenty.
    """
    body = approved(trader, approver, order_fields())
    broker.hold_submits()
    real_load_approval = gates.load_approval
    both_loading = threading.Event()
    arrivals = []
    arrivals_lock = threading.Lock()

    def load_approval_in_turn(*args, **kwargs):
        with arrivals_lock:
            arrivals.append(threading.current_thread().name)
            second = len(arrivals) == 2
        if second:
            both_loading.set()
            broker.submitted.wait(BROKER_WAIT_SECONDS)
        else:
            both_loading.wait(BROKER_WAIT_SECONDS)
        return real_load_approval(*args, **kwargs)

    monkeypatch.setattr(gates, "load_approval", load_approval_in_turn)

    responses = submit_in_threads(trader, [(body, "key-1"), (body, "key-1")], broker)

    loser = next(response for response in responses if response.status_code != 201)
    assert broker.submit_count() == 1
    assert loser.status_code == 409
    assert error_code(loser) == "request_in_flight"


def test_frequency_limit_race_passes_one(
    trading_gateway, trader, approver, broker, tmp_path, monkeypatch
):
    use_config(tmp_path, "max_orders_per_window = 5", "max_orders_per_window = 1")
    first = approved(trader, approver, order_fields())
    second = approved(trader, approver, order_fields())
    broker.hold_submits()
    meet_before_write_ahead(monkeypatch)

    responses = submit_in_threads(trader, [(first, "key-a"), (second, "key-b")], broker)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201, 429]
    loser = next(response for response in responses if response.status_code == 429)
    assert error_code(loser) == "frequency_limit"
    assert loser["Retry-After"] == "60"
    assert broker.submit_count() == 1
    assert IdempotencyRecord.objects.count() == 1


# Refusals leave no record.


def test_halted_submit_leaves_key_usable(trading_gateway, trader, approver, broker):
    body = approved(trader, approver, order_fields(LIVE_ACCOUNT))
    trading_halt.halt(OPERATOR, "test halt")

    halted = submit(trader, "live", body, "key-1")

    assert halted.status_code == 409
    assert error_code(halted) == "trading_halted"
    assert IdempotencyRecord.objects.count() == 0
    assert Approval.objects.get().status == Approval.ACTIVE
    assert broker.submit_count() == 0

    trading_halt.resume(OPERATOR, "test resume")
    resumed = submit(trader, "live", body, "key-1")

    assert resumed.status_code == 201
    assert "Idempotent-Replayed" not in resumed
    assert broker.submit_count() == 1


def test_invalid_body_leaves_key_usable(trader, approver, broker):
    body = approved(trader, approver, order_fields())

    invalid = submit(trader, "paper", {**body, "quantity": "-1"}, "key-1")
    fixed = submit(trader, "paper", body, "key-1")

    assert invalid.status_code == 400
    assert fixed.status_code == 201
    assert broker.submit_count() == 1


# Client order ids.


def test_coid_format(trader, approver, broker):
    body = approved(trader, approver, order_fields())

    response = submit(trader, "paper", body, "key-1")

    coid = body_of(response)["coid"]
    assert COID_PATTERN.fullmatch(coid)
    ((name, _account, tickets),) = broker.calls
    assert name == "submit_orders"
    assert tickets[0]["coid"] == coid


def test_coid_differs_per_key_and_account(trader, approver, broker):
    paper_a = submit(
        trader, "paper", approved(trader, approver, order_fields()), "key-a"
    )
    paper_b = submit(
        trader, "paper", approved(trader, approver, order_fields()), "key-b"
    )
    live_a = submit(
        trader,
        "live",
        approved(trader, approver, order_fields(LIVE_ACCOUNT)),
        "key-a",
    )

    coids = [body_of(response)["coid"] for response in (paper_a, paper_b, live_a)]
    assert all(COID_PATTERN.fullmatch(coid) for coid in coids)
    assert len(set(coids)) == 3


def test_coid_differs_per_principal(trading_gateway, approver, broker):
    first_trader = trader_token(owner="alice")
    second_trader = trader_token(owner="carol")

    first = submit(
        first_trader,
        "paper",
        approved(first_trader, approver, order_fields()),
        "key-1",
    )
    second = submit(
        second_trader,
        "paper",
        approved(second_trader, approver, order_fields()),
        "key-1",
    )

    assert first.status_code == 201
    assert second.status_code == 201
    assert "Idempotent-Replayed" not in second
    assert body_of(first)["coid"] != body_of(second)["coid"]


# Caller-sent counters.


def submit_with_caller_counters(trader, approver):
    """Submit one order, then a second one whose body claims zero counts."""
    first = approved(trader, approver, order_fields())
    assert submit(trader, "paper", first, "key-1").status_code == 201
    second = approved(trader, approver, order_fields())
    claimed = {
        "window_order_count": 0,
        "session_order_count": 0,
        "session_notional": "0",
    }
    return submit(trader, "paper", {**second, "counters": claimed}, "key-2")


def test_caller_counters_are_ignored(trading_gateway, trader, approver, broker):
    response = submit_with_caller_counters(trader, approver)

    assert response.status_code == 201
    plain, with_counters = events_of_type(trading_gateway, "order_requested")
    assert plain["metadata"]["caller_counters_ignored"] is False
    assert with_counters["metadata"]["caller_counters_ignored"] is True
    assert with_counters["metadata"]["counters"]["window_order_count"] == "1"
    assert broker.submit_count() == 2


def test_requested_event_keeps_session_counts(
    trading_gateway, trader, approver, broker
):
    submit_with_caller_counters(trader, approver)

    counts = events_of_type(trading_gateway, "order_requested")[-1]["metadata"][
        "counters"
    ]
    assert counts["session_order_count"] == "1"
    assert counts["session_notional"] == "1930"


def test_caller_counters_do_not_lift_limit(
    trading_gateway, trader, approver, broker, tmp_path
):
    use_config(tmp_path, "max_orders_per_window = 5", "max_orders_per_window = 1")
    first = approved(trader, approver, order_fields())
    assert submit(trader, "paper", first, "key-1").status_code == 201
    second = approved(trader, approver, order_fields())

    response = submit(
        trader, "paper", {**second, "counters": {"window_order_count": 0}}, "key-2"
    )

    assert response.status_code == 429
    assert error_code(response) == "frequency_limit"
    assert broker.submit_count() == 1
