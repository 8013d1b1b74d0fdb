"""Reconcile schedule: its registration, the cluster settings and the sweep loop."""

import logging
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection
from django.utils import timezone
from django_q.models import Schedule

from audit.errors import AuditUnavailable
from orders import lease, reconcile, schedule, sweep
from orders.models import ReconcileLease


def reconcile_schedules():
    return Schedule.objects.filter(name=schedule.SCHEDULE_NAME)


def test_register_schedule_three_times_leaves_one(gateway_db):
    reconcile_schedules().delete()

    for _ in range(3):
        schedule.register_schedule()

    assert reconcile_schedules().count() == 1
    row = reconcile_schedules().get()
    assert row.func == "orders.sweep.sweep"
    assert row.schedule_type == Schedule.MINUTES
    assert row.minutes == 1
    assert row.repeats == -1


def test_register_schedule_updates_row_in_place(gateway_db):
    row = reconcile_schedules().get()
    reconcile_schedules().update(func="orders.old.task", minutes=5, repeats=0)
    Schedule.objects.create(name=schedule.SCHEDULE_NAME, func="orders.old.task")

    schedule.register_schedule()

    assert reconcile_schedules().count() == 1
    updated = reconcile_schedules().get()
    assert updated.pk == row.pk
    assert updated.func == "orders.sweep.sweep"
    assert updated.minutes == 1
    assert updated.repeats == -1
    assert updated.next_run == row.next_run


def test_migrate_registers_schedule(gateway_db):
    reconcile_schedules().delete()

    call_command("migrate", verbosity=0, interactive=False)

    assert reconcile_schedules().count() == 1
    assert reconcile_schedules().get().func == "orders.sweep.sweep"


def test_app_start_does_not_register_schedule(gateway_db, manage):
    reconcile_schedules().delete()

    result = manage("check")

    assert result.returncode == 0, result.stderr
    assert not reconcile_schedules().exists()


def test_post_migrate_skips_missing_schedule_table(gateway_db, caplog):
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {Schedule._meta.db_table}")

    with caplog.at_level(logging.WARNING, logger="orders.schedule"):
        schedule.register_after_migrate(sender=None)

    assert "table django_q_schedule is missing" in caplog.text


def test_cluster_timing_settings():
    cluster = settings.Q_CLUSTER

    # django-q2 kills a task at ``timeout`` and hands an unacknowledged one
    # out again at ``retry``, so a sweep must end before either.
    assert sweep.SLOT_SECONDS < cluster["timeout"]
    assert cluster["timeout"] < cluster["retry"]
    assert cluster["catch_up"] is False


# The sweep loop, on a fake clock whose sleep only moves the time on.


class FakeClock:
    def __init__(self):
        self.time = 1000.0
        self.sleeps = []

    def now(self):
        return self.time

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.time += seconds


@pytest.fixture
def clock(monkeypatch):
    # A fresh outage log, so an outage left open by another test cannot
    # silence this test's first error.
    monkeypatch.setattr(sweep, "_outage", sweep._OutageLog())
    return FakeClock()


@pytest.fixture
def pass_times(clock, monkeypatch):
    times = []

    def run_pass(now=None):
        times.append(clock.time - 1000.0)
        return {}

    monkeypatch.setattr(reconcile, "run_pass", run_pass)
    monkeypatch.setattr(reconcile, "delay_seconds", lambda now=None: 1.0)
    return times


def run_sweep(clock, slot_seconds=10):
    return sweep.sweep(slot_seconds=slot_seconds, now=clock.now, sleep=clock.sleep)


def test_sweep_runs_pass_every_interval(gateway_db, clock, pass_times):
    summary = run_sweep(clock)

    assert pass_times == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert summary["acquired"] is True
    assert summary["waited_seconds"] == 0.0
    assert summary["passes"] == 9
    assert summary["failed_passes"] == 0
    assert not ReconcileLease.objects.exists()


def test_sweep_waits_out_slot_while_lease_held(gateway_db, clock, pass_times):
    lease.acquire(sweep.LEASE_NAME, "other-host:1:abcd", 600)

    summary = run_sweep(clock, slot_seconds=3)

    assert pass_times == []
    assert summary["acquired"] is False
    assert summary["waited_seconds"] == 3.0
    assert max(clock.sleeps) <= sweep.LEASE_POLL_SECONDS
    assert lease.current_holder(sweep.LEASE_NAME) == "other-host:1:abcd"


def test_sweep_takes_over_lease_of_dead_holder(gateway_db, clock, pass_times):
    expired = timezone.now() - timedelta(seconds=600)
    lease.acquire(sweep.LEASE_NAME, "dead-host:1:abcd", 60, now=expired)

    summary = run_sweep(clock)

    assert summary["acquired"] is True
    assert summary["waited_seconds"] == 0.0
    assert summary["passes"] == 9


def test_sweep_stops_when_lease_lost(gateway_db, clock, monkeypatch):
    def run_pass_losing_lease(now=None):
        ReconcileLease.objects.update(holder="thief:1:abcd")
        return {}

    monkeypatch.setattr(reconcile, "run_pass", run_pass_losing_lease)
    monkeypatch.setattr(reconcile, "delay_seconds", lambda now=None: 1.0)

    summary = run_sweep(clock)

    assert summary["passes"] == 1
    assert summary["lost_lease"] is True
    assert lease.current_holder(sweep.LEASE_NAME) == "thief:1:abcd"


def test_sweep_renews_lease_during_long_delay(gateway_db, clock, monkeypatch):
    interval = sweep.get_runtime_config().trading.live.reconciler_interval_seconds
    renewals = []
    real_renew = lease.renew

    def recording_renew(name, holder, ttl_seconds, now=None):
        renewals.append(clock.time)
        return real_renew(name, holder, ttl_seconds, now)

    monkeypatch.setattr(lease, "renew", recording_renew)
    monkeypatch.setattr(reconcile, "run_pass", lambda now=None: {})
    monkeypatch.setattr(reconcile, "delay_seconds", lambda now=None: 50.0)

    summary = run_sweep(clock, slot_seconds=60)

    assert summary["passes"] == 1
    assert max(clock.sleeps) <= interval
    assert len(renewals) == 50 // interval


@pytest.mark.parametrize(
    "error", [AuditUnavailable(), DatabaseError("database is locked")]
)
def test_sweep_logs_outage_once(gateway_db, clock, monkeypatch, caplog, error):
    calls = []

    def failing_run_pass(now=None):
        calls.append(clock.time)
        if len(calls) <= 3:
            raise error
        return {}

    monkeypatch.setattr(reconcile, "run_pass", failing_run_pass)
    monkeypatch.setattr(reconcile, "delay_seconds", lambda now=None: 1.0)

    with caplog.at_level(logging.INFO, logger="orders.sweep"):
        summary = run_sweep(clock)

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert summary["passes"] == 9
    assert summary["failed_passes"] == 3
    assert len(errors) == 1
    assert errors[0].exc_info[1] is error
    assert "outage ended after 3 failed attempt(s)" in caplog.text


def test_sweep_logs_start_and_stop(gateway_db, clock, pass_times, caplog):
    with caplog.at_level(logging.INFO, logger="orders.sweep"):
        summary = run_sweep(clock)

    holder = summary["holder"]
    assert f"Reconcile sweep {holder} started" in caplog.text
    assert f"Reconcile sweep {holder} stopped after 9 pass(es), 0 failed" in (
        caplog.text
    )
