"""System check E002: a configured gateway refuses a log signed in development mode."""

from ibkr_gateway import runtime_config
from ibkr_gateway.checks import check_no_development_rows
from tests.conftest import REPO_ROOT, TEST_CORRELATION_KEY, TEST_KEY, append_events


def configure(monkeypatch):
    monkeypatch.setenv("IBKR_AUDIT_HMAC_SECRET", TEST_KEY)
    monkeypatch.setenv("IBKR_AUDIT_CORRELATION_SECRET", TEST_CORRELATION_KEY)
    example = REPO_ROOT / "config" / "example.toml"
    runtime_config.set_runtime_config(runtime_config.load_runtime_config(example))


def test_configured_gateway_refuses_development_rows(gateway_db, monkeypatch):
    append_events(2)
    configure(monkeypatch)

    (error,) = check_no_development_rows(None)

    assert error.id == "ibkr_gateway.E002"
    assert "seq 1" in error.msg


def test_configured_gateway_accepts_its_own_rows(gateway_db, monkeypatch):
    configure(monkeypatch)
    append_events(2)

    assert check_no_development_rows(None) == []


def test_development_mode_skips_the_check(gateway_db):
    append_events(1)

    assert check_no_development_rows(None) == []
