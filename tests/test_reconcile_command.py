"""``manage.py reconcile``: one pass, rebuild, report, and the operator gate."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ibkr_gateway import runtime_config
from orders.models import LiveOrderPending
from tests.conftest import REPO_ROOT
from tests.orders_support import (
    LIVE_ACCOUNT,
    approved,
    approver_token,
    order_fields,
    submit,
    trader_token,
)


def reconcile(*args):
    out = StringIO()
    call_command("reconcile", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def live_order(trading_gateway):
    trader = trader_token("alice")
    body = approved(
        trader, approver_token("bob"), order_fields(LIVE_ACCOUNT, limit_price="190")
    )
    submit(trader, "live", body, "live-1")


def test_once_reports_the_live_pass(live_order):
    report = reconcile("--once")

    assert report["live"]["scanned"] == 1
    assert report["live"]["transitions"] == 1


def test_rebuild_restores_a_lost_backlog_row(live_order):
    LiveOrderPending.objects.all().delete()

    report = reconcile("--rebuild")

    assert report["rebuilt"] == 1
    assert LiveOrderPending.objects.count() == 1


def test_report_lists_nothing_on_a_healthy_gateway(live_order):
    report = reconcile("--report")

    assert report == {
        "degraded": [],
        "held": [],
        "not_found": [],
        "unknown_outcome": [],
        "unknown_status": [],
    }


def test_loop_stops_after_the_given_passes(live_order, monkeypatch):
    monkeypatch.setattr("orders.reconcile.delay_seconds", lambda now=None: 0.0)
    out = StringIO()

    call_command("reconcile", "--loop", "--passes", "2", "--json", stdout=out)

    assert len(out.getvalue().strip().splitlines()) == 2


@pytest.fixture
def non_operator(trading_gateway, tmp_path):
    example = (REPO_ROOT / "config" / "example.toml").read_text()
    path = tmp_path / "gateway.toml"
    path.write_text(example.replace("\noperator = true\n", "\noperator = false\n"))
    runtime_config.set_runtime_config(runtime_config.load_runtime_config(path))
    return trading_gateway


def test_once_needs_an_operator(non_operator):
    with pytest.raises(CommandError) as refused:
        call_command("reconcile", "--once", stdout=StringIO())

    assert refused.value.returncode == 4


def test_report_needs_no_operator(non_operator):
    assert reconcile("--report")["degraded"] == []
