"""Runtime config loading: defaults, validation messages, development mode."""

import logging

import pytest

from audit.keys import (
    DEVELOPMENT_KEY,
    DEVELOPMENT_KEY_ID,
    check_keys,
    correlation_key,
    signing_key,
)
from ibkr_gateway import runtime_config
from ibkr_gateway.runtime_config import (
    ConfigError,
    RuntimeConfig,
    load_runtime_config,
)
from ibkr_gateway.scopes import ALL_SCOPES

MINIMAL = '[audit]\ncorrelation_secret_env = "CORR_KEY"\n'


def write(tmp_path, text):
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def load_error(tmp_path, text):
    with pytest.raises(ConfigError) as caught:
        load_runtime_config(write(tmp_path, text))
    return caught.value


def test_minimal_file_fills_defaults(tmp_path):
    config = load_runtime_config(write(tmp_path, MINIMAL))

    assert config.audit.hmac_secret_env == "IBKR_AUDIT_HMAC_SECRET"
    assert config.audit.key_id == "k1"
    assert config.audit.synchronous == "FULL"
    assert not config.development_mode


def test_file_without_cli_section_grants_no_scope(tmp_path):
    config = load_runtime_config(write(tmp_path, MINIMAL))

    assert config.cli.scopes == frozenset()
    assert config.cli.operator is False


def test_cli_section_parsed(tmp_path):
    config = load_runtime_config(
        write(
            tmp_path,
            MINIMAL + '[cli]\nprincipal = "ops"\nscopes = ["ibkr:audit:read"]\n'
            "operator = true\n",
        )
    )

    assert config.cli.actor_id == "cli:ops"
    assert config.cli.scopes == {"ibkr:audit:read"}
    assert config.cli.operator is True


def test_unknown_section_named_with_fix(tmp_path):
    error = load_error(tmp_path, MINIMAL + "[brokr]\n")

    assert error.key == "brokr"
    assert "use one of" in str(error)


def test_unknown_key_named(tmp_path):
    error = load_error(tmp_path, MINIMAL + 'hmac_secret = "x"\n')

    assert error.key == "audit.hmac_secret"


def test_missing_correlation_secret_env_named(tmp_path):
    error = load_error(tmp_path, "[audit]\n")

    assert error.key == "audit.correlation_secret_env"
    assert "IBKR_AUDIT_CORRELATION_SECRET" in error.fix


def test_synchronous_off_rejected(tmp_path):
    error = load_error(tmp_path, MINIMAL + 'synchronous = "OFF"\n')

    assert error.key == "audit.synchronous"


def test_unknown_scope_rejected(tmp_path):
    error = load_error(
        tmp_path, MINIMAL + '[cli]\nprincipal = "ops"\nscopes = ["ibkr:everything"]\n'
    )

    assert error.key == "cli.scopes"
    assert "ibkr:everything" in str(error)


def test_wrong_type_named_with_expected_type(tmp_path):
    error = load_error(tmp_path, MINIMAL + "[cli]\nprincipal = 7\n")

    assert error.key == "cli.principal"
    assert "expected a string" in str(error)


def test_fallback_key_equal_to_current_rejected(tmp_path):
    error = load_error(tmp_path, MINIMAL + '[audit.fallback_keys]\nk1 = "OLD"\n')

    assert error.key == "audit.fallback_keys.k1"


def test_invalid_toml_reports_position(tmp_path):
    error = load_error(tmp_path, "[audit\n")

    assert "not valid TOML" in str(error)
    assert "line 1" in str(error)


def test_missing_file_is_error_not_development_mode(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_runtime_config(tmp_path / "absent.toml")


def test_environment_variable_names_file(tmp_path, monkeypatch):
    path = write(tmp_path, MINIMAL)
    monkeypatch.setenv("IBKR_GATEWAY_CONFIG", str(path))

    assert load_runtime_config().source == path


def test_development_mode_without_file(monkeypatch):
    monkeypatch.delenv("IBKR_GATEWAY_CONFIG", raising=False)

    config = load_runtime_config()

    assert config.development_mode
    assert config.cli.scopes == ALL_SCOPES
    assert config.cli.actor_id == "cli:dev"


def test_development_mode_logs_warning(monkeypatch, caplog):
    monkeypatch.setattr(runtime_config, "_warned_development_mode", False)
    monkeypatch.setattr(runtime_config, "_current", None)
    monkeypatch.delenv("IBKR_GATEWAY_CONFIG", raising=False)

    with caplog.at_level(logging.WARNING):
        runtime_config.get_runtime_config()

    assert "DEVELOPMENT MODE" in caplog.text


def test_development_key_used_without_variable(monkeypatch):
    monkeypatch.delenv("IBKR_AUDIT_HMAC_SECRET", raising=False)

    key = signing_key(RuntimeConfig())

    assert (key.key_id, key.key) == (DEVELOPMENT_KEY_ID, DEVELOPMENT_KEY)


def test_development_mode_uses_variable_when_set(monkeypatch):
    monkeypatch.setenv("IBKR_AUDIT_HMAC_SECRET", "s" * 32)

    key = signing_key(RuntimeConfig())

    assert (key.key_id, key.key) == ("k1", b"s" * 32)


def test_development_mode_short_variable_rejected(monkeypatch):
    monkeypatch.setenv("IBKR_AUDIT_HMAC_SECRET", "short")

    with pytest.raises(ConfigError, match="5 bytes"):
        signing_key(RuntimeConfig())


def test_config_mode_has_no_key_fallback(tmp_path, monkeypatch):
    monkeypatch.delenv("IBKR_AUDIT_HMAC_SECRET", raising=False)
    monkeypatch.setenv("CORR_KEY", "c" * 32)
    config = load_runtime_config(write(tmp_path, MINIMAL))

    with pytest.raises(ConfigError, match="IBKR_AUDIT_HMAC_SECRET is not set"):
        check_keys(config)


def test_correlation_key_independent_of_chain_key(tmp_path, monkeypatch):
    monkeypatch.setenv("CORR_KEY", "c" * 32)
    monkeypatch.setenv("IBKR_AUDIT_HMAC_SECRET", "a" * 32)
    config = load_runtime_config(write(tmp_path, MINIMAL))
    before = correlation_key(config)

    monkeypatch.setenv("IBKR_AUDIT_HMAC_SECRET", "b" * 32)

    assert correlation_key(config) == before


def test_development_key_refused_once_real_key_set(monkeypatch):
    from audit.keys import verification_keys

    monkeypatch.setenv("IBKR_AUDIT_HMAC_SECRET", "r" * 32)

    keys = verification_keys(RuntimeConfig(), current_key_id="k1")

    assert DEVELOPMENT_KEY_ID not in keys
    assert keys["k1"] == b"r" * 32


def test_development_key_refused_with_named_key(monkeypatch):
    from audit.keys import verification_keys

    monkeypatch.delenv("IBKR_AUDIT_HMAC_SECRET", raising=False)
    monkeypatch.setenv("REVIEW_KEY", "r" * 32)

    keys = verification_keys(
        RuntimeConfig(), current_key_id="k1", extra={"k1": "REVIEW_KEY"}
    )

    assert DEVELOPMENT_KEY_ID not in keys


def test_broker_section_parsed_into_settings(tmp_path):
    config = load_runtime_config(
        write(
            tmp_path,
            MINIMAL + '[broker]\nbackend = "client_portal"\n'
            'base_url = "https://127.0.0.1:5000/v1/api"\nverify_tls = false\n',
        )
    )

    assert config.broker.backend == "client_portal"
    assert config.broker.verify_tls is False


def test_broker_tls_off_for_remote_host_rejected(tmp_path):
    error = load_error(
        tmp_path,
        MINIMAL + '[broker]\nbase_url = "https://broker.example.com/v1/api"\n'
        "verify_tls = false\n",
    )

    assert error.key.startswith("broker.")


def test_development_mode_uses_simulated_broker(monkeypatch):
    monkeypatch.delenv("IBKR_GATEWAY_CONFIG", raising=False)

    assert load_runtime_config().broker.backend == "simulated"
