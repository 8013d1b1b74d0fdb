"""Fixtures shared by the suite: real SQLite files and subprocess helpers.

The append-only triggers reject the DELETE that a test-database flush runs,
so no test uses pytest-django's test database. Each test that needs one
gets a fresh copy of a database migrated once per session, and Django's
default connection is pointed at that copy for the test's duration (new
threads' connections included, because they read the same settings dict).
"""

import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from ibkr_gateway import runtime_config

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_KEY = "test-audit-key-0123456789abcdef0123456789abcdef"
TEST_CORRELATION_KEY = "test-correlation-key-0123456789abcdef012345"


@contextmanager
def use_database(path):
    """Point Django's default database at ``path`` until the block ends."""
    from django.db import connections

    connection = connections["default"]
    connection.close()
    previous = connection.settings_dict["NAME"]
    connection.settings_dict["NAME"] = str(path)
    try:
        yield Path(path)
    finally:
        connections["default"].close()
        connection.settings_dict["NAME"] = previous


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory, django_db_blocker):
    """Return a database file migrated once, to be copied by each test."""
    from django.core.management import call_command

    path = tmp_path_factory.mktemp("template") / "gateway.sqlite3"
    with django_db_blocker.unblock(), use_database(path):
        call_command("migrate", verbosity=0, interactive=False)

    # Fold the WAL into the main file so one copy carries the whole schema.
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def development_config(monkeypatch):
    """Run the test in development mode and restore the process config after.

    The chain key is the fixed development key (key id ``dev``) unless the
    test sets ``IBKR_AUDIT_HMAC_SECRET`` itself.
    """
    monkeypatch.delenv("IBKR_AUDIT_HMAC_SECRET", raising=False)
    monkeypatch.delenv("IBKR_GATEWAY_CONFIG", raising=False)
    previous = runtime_config._current
    runtime_config.set_runtime_config(runtime_config.RuntimeConfig())
    yield runtime_config.get_runtime_config()
    runtime_config._current = previous


@pytest.fixture
def gateway_db(migrated_template, tmp_path, django_db_blocker, development_config):
    """Yield the path of a fresh, migrated gateway database for this test."""
    path = tmp_path / "gateway.sqlite3"
    shutil.copyfile(migrated_template, path)
    with django_db_blocker.unblock(), use_database(path):
        yield path


def manage_env(db_path, **extra):
    """Return an environment for a ``manage.py`` subprocess on ``db_path``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("IBKR_", "DJANGO_", "DATABASE_URL"))
    }
    env["DATABASE_URL"] = f"sqlite:///{db_path}"
    env["DJANGO_SETTINGS_MODULE"] = "ibkr_gateway.settings"
    env.update(extra)
    return env


def run_manage(*args, db_path, env=None, timeout=120):
    """Run ``python manage.py ARGS`` on ``db_path`` and return the result."""
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "manage.py"), *args],
        cwd=REPO_ROOT,
        env=env or manage_env(db_path),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def manage(gateway_db):
    """Return a runner of ``manage.py`` subprocesses on this test's database."""

    def runner(*args, env=None, **extra_env):
        return run_manage(
            *args, db_path=gateway_db, env=env or manage_env(gateway_db, **extra_env)
        )

    return runner


def append_events(count, **overrides):
    """Append ``count`` completed events through ``audit.log_event``."""
    import audit

    records = []
    for index in range(count):
        fields = {
            "operation": "tests.append",
            "actor": {"kind": "system", "id": "tests"},
            "decision": "allow",
            "outcome": "completed",
            "metadata": {"index": index, "nested": {"note": f"event {index}"}},
        }
        fields.update(overrides)
        records.append(audit.log_event("test_event", **fields))
    return records


@pytest.fixture
def trading_gateway(gateway_db, monkeypatch, settings):
    """Yield the database of a gateway running ``config/example.toml``.

    Trading is resumed, the market is always open and its clock is
    ``orders_support.CLOCK``, reset for each test.
    """
    from orders import trading_halt
    from tests.orders_support import CLOCK

    monkeypatch.setenv("IBKR_AUDIT_HMAC_SECRET", TEST_KEY)
    monkeypatch.setenv("IBKR_AUDIT_CORRELATION_SECRET", TEST_CORRELATION_KEY)
    config = runtime_config.load_runtime_config(REPO_ROOT / "config" / "example.toml")
    runtime_config.set_runtime_config(config)
    settings.IBKR_MARKET_CLOCK = "tests.orders_support.fixed_clock"
    settings.IBKR_MARKET_HOURS = "ibkr_gateway.market.always_open"
    CLOCK.reset()
    trading_halt.resume({"kind": "cli", "id": "cli:test-operator"}, "test setup")
    yield gateway_db
