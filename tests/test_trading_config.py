"""Trading sections of the runtime config: modes, risk policies and their rules."""

import tomllib
from dataclasses import fields
from datetime import time
from decimal import Decimal

import pytest

from audit.keys import check_keys
from ibkr_gateway import runtime_config
from ibkr_gateway.broker.config import BrokerSettings
from ibkr_gateway.runtime_config import (
    ConfigError,
    RuntimeConfig,
    load_runtime_config,
)
from ibkr_gateway.scopes import ALL_SCOPES
from orders.trading_config import (
    _POLICY_PARSERS,
    RiskPolicy,
    TradingModeDisabled,
    TradingSettings,
    paper_broker_settings,
    parse_trading_sections,
)
from tests.conftest import REPO_ROOT

SOURCE = "gateway.toml"
PAPER_ACCOUNT = "DU1234567"
LIVE_ACCOUNT = "U7654321"

POLICY = """
[risk_policies.small]
allowed_symbols = ["AAPL"]
max_quantity = 100
max_notional = "25000"
max_orders_per_window = 5
max_orders_per_session = 20
max_notional_per_session = "100000"
"""

PAPER = f"""
[paper_trading]
enabled = true
allowed_accounts = ["{PAPER_ACCOUNT}"]
risk_policy_id = "small"
"""

LIVE = f"""
[live_trading]
enabled = true
allowed_accounts = ["{LIVE_ACCOUNT}"]
risk_policy_id = "small"
paper_to_live_checklist_acknowledged = true
"""

REQUIRED_POLICY_KEYS = (
    "allowed_symbols",
    "max_quantity",
    "max_notional",
    "max_orders_per_window",
    "max_orders_per_session",
    "max_notional_per_session",
)


def parse(text):
    return parse_trading_sections(SOURCE, tomllib.loads(text))


def parse_error(text):
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return caught.value


def policy_with(**changes):
    """Return POLICY with keys replaced, added, or removed where the value is None."""
    table = tomllib.loads(POLICY)["risk_policies"]["small"]
    table.update(changes)
    table = {name: value for name, value in table.items() if value is not None}
    return {"risk_policies": {"small": table}}


def parse_policy(**changes):
    return parse_trading_sections(SOURCE, policy_with(**changes)).risk_policies["small"]


def policy_error(**changes):
    with pytest.raises(ConfigError) as caught:
        parse_policy(**changes)
    return caught.value


# Defaults


def test_absent_sections_disable_both_modes():
    settings = parse("")

    assert settings.paper.enabled is False
    assert settings.live.enabled is False
    assert settings.risk_policies == {}


def test_policy_defaults_fill_optional_keys():
    policy = parse_policy()

    assert policy.asset_classes == {"STK"}
    assert policy.order_types == {"LMT"}
    assert policy.time_in_force == {"DAY"}
    assert policy.price_collar_percent == Decimal("5")
    assert policy.quote_max_age_seconds == 15
    assert policy.frequency_window_seconds == 60
    assert policy.preview_ttl_seconds == 300
    assert policy.approval_ttl_seconds == 900


def test_policy_required_keys_parsed():
    policy = parse_policy()

    assert policy.policy_id == "small"
    assert policy.allowed_symbols == {"AAPL"}
    assert policy.max_quantity == Decimal(100)
    assert policy.max_notional == Decimal("25000")
    assert policy.max_orders_per_window == 5
    assert policy.max_orders_per_session == 20
    assert policy.max_notional_per_session == Decimal("100000")


def test_paper_defaults():
    paper = parse(POLICY + PAPER).paper

    assert paper.backend == "simulated"
    assert paper.base_url is None
    assert paper.four_eyes is True


def test_live_defaults():
    live = parse(POLICY + LIVE).live

    assert live.reconciler_interval_seconds == 5
    assert live.session_timezone == "America/New_York"
    assert live.session_start == time(4, 0)
    assert live.four_eyes is True


def test_disabled_mode_needs_no_accounts():
    settings = parse(
        "[paper_trading]\nenabled = false\n[live_trading]\nenabled = false\n"
    )

    assert settings.paper.enabled is False
    assert settings.live.enabled is False


def test_four_eyes_can_be_turned_off():
    settings = parse(POLICY + PAPER + "four_eyes = false\n")

    assert settings.paper.four_eyes is False


def test_policy_parsers_cover_every_field():
    names = {item.name for item in fields(RiskPolicy)} - {"policy_id"}

    assert set(_POLICY_PARSERS) == names


# Unknown keys and types


def test_unknown_policy_key_rejected():
    error = policy_error(max_qty=5)

    assert error.key == "risk_policies.small.max_qty"


def test_unknown_paper_key_rejected():
    error = parse_error(POLICY + PAPER + "accounts = []\n")

    assert error.key == "paper_trading.accounts"


def test_unknown_live_key_rejected():
    error = parse_error(POLICY + LIVE + 'timezone = "UTC"\n')

    assert error.key == "live_trading.timezone"


def test_section_that_is_not_table_rejected():
    error = parse_error("paper_trading = 1\n")

    assert error.key == "paper_trading"


def test_risk_policies_that_is_not_table_rejected():
    error = parse_error('risk_policies = "small"\n')

    assert error.key == "risk_policies"


def test_policy_that_is_not_table_rejected():
    error = parse_error("[risk_policies]\nsmall = 5\n")

    assert error.key == "risk_policies.small"


def test_integer_key_rejects_bool():
    error = policy_error(max_orders_per_window=True)

    assert error.key == "risk_policies.small.max_orders_per_window"
    assert "expected an integer" in error.problem


def test_integer_key_rejects_float():
    error = policy_error(quote_max_age_seconds=15.0)

    assert error.key == "risk_policies.small.quote_max_age_seconds"


def test_boolean_key_rejects_string():
    error = parse_error(POLICY + PAPER + 'four_eyes = "yes"\n')

    assert error.key == "paper_trading.four_eyes"


def test_enabled_rejects_integer():
    error = parse_error("[paper_trading]\nenabled = 1\n")

    assert error.key == "paper_trading.enabled"


@pytest.mark.parametrize("name", REQUIRED_POLICY_KEYS)
def test_missing_required_policy_key_rejected(name):
    error = policy_error(**{name: None})

    assert error.key == f"risk_policies.small.{name}"
    assert error.problem == "missing"


# Decimals


def test_decimal_accepts_string():
    policy = parse_policy(price_collar_percent="0.5")

    assert policy.price_collar_percent == Decimal("0.5")


def test_decimal_accepts_integer():
    policy = parse_policy(max_notional=25000)

    assert policy.max_notional == Decimal(25000)


def test_decimal_result_is_decimal_type():
    policy = parse_policy(max_notional=25000)

    assert type(policy.max_notional) is Decimal


def test_decimal_float_rejected_with_quote_fix():
    error = parse_error(POLICY.replace('"25000"', "25000.5"))

    assert error.key == "risk_policies.small.max_notional"
    assert 'max_notional = "25000.5"' in error.fix


def test_decimal_rejects_nan_float():
    error = parse_error(POLICY.replace('"25000"', "nan"))

    assert error.key == "risk_policies.small.max_notional"


@pytest.mark.parametrize("text", ["1e3", "NaN", "Infinity", " 5", "1_000", "", "0x10"])
def test_decimal_rejects_other_notations(text):
    error = policy_error(max_notional=text)

    assert error.key == "risk_policies.small.max_notional"
    assert "not a decimal number" in error.problem


def test_decimal_rejects_bool():
    error = policy_error(max_notional=True)

    assert error.key == "risk_policies.small.max_notional"


@pytest.mark.parametrize("value", ["0", "-1", 0, -5, "0.000"])
def test_decimal_rejects_zero_and_negative(value):
    error = policy_error(max_notional_per_session=value)

    assert error.key == "risk_policies.small.max_notional_per_session"
    assert "not greater than 0" in error.problem


def test_collar_above_50_rejected():
    error = policy_error(price_collar_percent="50.01")

    assert error.key == "risk_policies.small.price_collar_percent"


def test_collar_of_50_accepted():
    assert parse_policy(price_collar_percent=50).price_collar_percent == 50


def test_max_quantity_must_be_whole():
    error = policy_error(max_quantity="1.5")

    assert error.key == "risk_policies.small.max_quantity"
    assert "whole number" in error.problem


def test_max_quantity_rejects_zero():
    error = policy_error(max_quantity=0)

    assert error.key == "risk_policies.small.max_quantity"


def test_max_quantity_whole_string_accepted():
    assert parse_policy(max_quantity="100.0").max_quantity == 100


# Integer ranges


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("quote_max_age_seconds", 0),
        ("quote_max_age_seconds", 3601),
        ("frequency_window_seconds", 0),
        ("frequency_window_seconds", 86401),
        ("max_orders_per_window", 0),
        ("max_orders_per_session", 0),
        ("preview_ttl_seconds", 9),
        ("preview_ttl_seconds", 3601),
        ("approval_ttl_seconds", 9),
        ("approval_ttl_seconds", 86401),
    ],
)
def test_policy_integer_out_of_range_rejected(name, value):
    error = policy_error(**{name: value})

    assert error.key == f"risk_policies.small.{name}"
    assert "out of range" in error.problem


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("quote_max_age_seconds", 1),
        ("quote_max_age_seconds", 3600),
        ("frequency_window_seconds", 86400),
        ("max_orders_per_window", 1),
        ("max_orders_per_session", 1_000_000),
        ("preview_ttl_seconds", 10),
        ("approval_ttl_seconds", 86400),
    ],
)
def test_policy_integer_at_bound_accepted(name, value):
    assert getattr(parse_policy(**{name: value}), name) == value


@pytest.mark.parametrize("value", [0, 61])
def test_reconciler_interval_out_of_range_rejected(value):
    error = parse_error(POLICY + LIVE + f"reconciler_interval_seconds = {value}\n")

    assert error.key == "live_trading.reconciler_interval_seconds"


@pytest.mark.parametrize("value", [1, 60])
def test_reconciler_interval_at_bound_accepted(value):
    settings = parse(POLICY + LIVE + f"reconciler_interval_seconds = {value}\n")

    assert settings.live.reconciler_interval_seconds == value


# Symbols, asset classes, order types and time in force


@pytest.mark.parametrize(
    "symbols", [["aapl"], ["AAPL US"], ["ABCDEFGHIJKLM"], ["AAPL", 7]]
)
def test_invalid_symbol_rejected(symbols):
    error = policy_error(allowed_symbols=symbols)

    assert error.key == "risk_policies.small.allowed_symbols"


def test_empty_symbol_list_rejected():
    error = policy_error(allowed_symbols=[])

    assert error.key == "risk_policies.small.allowed_symbols"
    assert "empty" in error.problem


def test_repeated_symbol_rejected():
    error = policy_error(allowed_symbols=["AAPL", "AAPL"])

    assert error.key == "risk_policies.small.allowed_symbols"
    assert "repeats" in error.problem


def test_symbols_must_be_list():
    error = policy_error(allowed_symbols="AAPL")

    assert error.key == "risk_policies.small.allowed_symbols"


def test_symbol_with_dot_and_digits_accepted():
    assert parse_policy(allowed_symbols=["BRK.B", "7203"]).allowed_symbols == {
        "BRK.B",
        "7203",
    }


def test_known_unsupported_asset_class_rejected():
    error = policy_error(asset_classes=["STK", "OPT"])

    assert error.key == "risk_policies.small.asset_classes"
    assert "not supported yet" in error.problem


def test_unknown_asset_class_rejected():
    error = policy_error(asset_classes=["ETF"])

    assert error.key == "risk_policies.small.asset_classes"
    assert "unknown" in error.problem


def test_all_order_types_accepted():
    policy = parse_policy(order_types=["LMT", "MKT", "STP"])

    assert policy.order_types == {"LMT", "MKT", "STP"}


@pytest.mark.parametrize("order_types", [["MOC"], ["lmt"], []])
def test_invalid_order_types_rejected(order_types):
    error = policy_error(order_types=order_types)

    assert error.key == "risk_policies.small.order_types"


def test_time_in_force_gtc_accepted():
    assert parse_policy(time_in_force=["DAY", "GTC"]).time_in_force == {"DAY", "GTC"}


@pytest.mark.parametrize("codes", [["IOC"], []])
def test_invalid_time_in_force_rejected(codes):
    error = policy_error(time_in_force=codes)

    assert error.key == "risk_policies.small.time_in_force"


# Policy ids


@pytest.mark.parametrize("policy_id", ["-small", "_x", "a.b", "a" * 33, "smäll"])
def test_invalid_policy_id_rejected(policy_id):
    data = policy_with()
    data["risk_policies"] = {policy_id: data["risk_policies"]["small"]}

    with pytest.raises(ConfigError) as caught:
        parse_trading_sections(SOURCE, data)

    assert caught.value.key == f"risk_policies.{policy_id}"


@pytest.mark.parametrize("policy_id", ["a", "Small_2", "x-y", "a" * 32])
def test_valid_policy_id_accepted(policy_id):
    data = policy_with()
    data["risk_policies"] = {policy_id: data["risk_policies"]["small"]}

    settings = parse_trading_sections(SOURCE, data)

    assert settings.risk_policies[policy_id].policy_id == policy_id


def test_invalid_risk_policy_id_reference_rejected():
    error = parse_error(POLICY + PAPER.replace('"small"', '"no good"'))

    assert error.key == "paper_trading.risk_policy_id"
    assert "not a valid policy id" in error.problem


# Enabling a mode


def test_paper_section_without_enabled_rejected():
    error = parse_error(f'[paper_trading]\nallowed_accounts = ["{PAPER_ACCOUNT}"]\n')

    assert error.key == "paper_trading.enabled"
    assert error.problem == "missing"


def test_live_section_without_enabled_rejected():
    error = parse_error("[live_trading]\n")

    assert error.key == "live_trading.enabled"


def test_enabled_paper_without_accounts_rejected():
    error = parse_error(
        POLICY + '[paper_trading]\nenabled = true\nrisk_policy_id = "small"\n'
    )

    assert error.key == "paper_trading.allowed_accounts"


def test_enabled_live_with_empty_accounts_rejected():
    error = parse_error(POLICY + LIVE.replace(f'"{LIVE_ACCOUNT}"', ""))

    assert error.key == "live_trading.allowed_accounts"


def test_enabled_mode_without_policy_id_rejected():
    error = parse_error(
        f'[paper_trading]\nenabled = true\nallowed_accounts = ["{PAPER_ACCOUNT}"]\n'
    )

    assert error.key == "paper_trading.risk_policy_id"


def test_policy_id_without_table_rejected():
    error = parse_error(POLICY + LIVE.replace('"small"', '"large"'))

    assert error.key == "live_trading.risk_policy_id"
    assert "small" in error.fix


def test_disabled_mode_unknown_policy_rejected():
    error = parse_error('[paper_trading]\nenabled = false\nrisk_policy_id = "large"\n')

    assert error.key == "paper_trading.risk_policy_id"


@pytest.mark.parametrize("account", ["X1234567", "U123", "du1234567", "DU12345678901"])
def test_invalid_account_id_rejected(account):
    error = parse_error(POLICY + PAPER.replace(PAPER_ACCOUNT, account))

    assert error.key == "paper_trading.allowed_accounts"


def test_invalid_account_error_omits_value():
    error = parse_error(POLICY + PAPER.replace(PAPER_ACCOUNT, "X1234567"))

    assert "X1234567" not in str(error)


def test_repeated_account_rejected():
    text = POLICY + PAPER.replace(
        f'"{PAPER_ACCOUNT}"', f'"{PAPER_ACCOUNT}", "{PAPER_ACCOUNT}"'
    )

    error = parse_error(text)

    assert error.key == "paper_trading.allowed_accounts"


def test_live_without_checklist_rejected():
    error = parse_error(
        POLICY + LIVE.replace("paper_to_live_checklist_acknowledged = true\n", "")
    )

    assert error.key == "live_trading.paper_to_live_checklist_acknowledged"


def test_live_with_checklist_false_rejected():
    error = parse_error(
        POLICY + LIVE.replace("acknowledged = true", "acknowledged = false")
    )

    assert error.key == "live_trading.paper_to_live_checklist_acknowledged"


def test_disabled_live_needs_no_checklist():
    settings = parse(POLICY + LIVE.replace("enabled = true", "enabled = false"))

    assert settings.live.paper_to_live_checklist_acknowledged is True
    assert settings.live.enabled is False


def test_both_modes_enabled_parsed():
    settings = parse(POLICY + PAPER + LIVE)

    assert settings.paper.allowed_accounts == {PAPER_ACCOUNT}
    assert settings.live.allowed_accounts == {LIVE_ACCOUNT}
    assert settings.paper.risk_policy_id == "small"
    assert settings.live.risk_policy_id == "small"


# Overlap of the allow-lists


def test_account_in_both_allow_lists_rejected():
    error = parse_error(POLICY + PAPER + LIVE.replace(LIVE_ACCOUNT, PAPER_ACCOUNT))

    assert error.key == "live_trading.allowed_accounts"
    assert "paper_trading.allowed_accounts" in error.problem


def test_overlap_rejected_in_disabled_mode():
    text = POLICY + PAPER.replace("enabled = true", "enabled = false")
    text += LIVE.replace(LIVE_ACCOUNT, PAPER_ACCOUNT)

    error = parse_error(text)

    assert error.key == "live_trading.allowed_accounts"


def test_overlap_error_omits_account():
    error = parse_error(POLICY + PAPER + LIVE.replace(LIVE_ACCOUNT, PAPER_ACCOUNT))

    assert PAPER_ACCOUNT not in str(error)


# Paper backend and base_url


CLIENT_PORTAL = (
    'backend = "client_portal"\nbase_url = "https://localhost:5001/v1/api/"\n'
)


def test_paper_client_portal_parsed():
    paper = parse(POLICY + PAPER + CLIENT_PORTAL).paper

    assert paper.backend == "client_portal"
    assert paper.base_url == "https://localhost:5001/v1/api"


def test_client_portal_without_base_url_rejected():
    error = parse_error(POLICY + PAPER + 'backend = "client_portal"\n')

    assert error.key == "paper_trading.base_url"
    assert "missing" in error.problem


def test_paper_simulated_with_base_url_rejected():
    error = parse_error(POLICY + PAPER + 'base_url = "https://localhost:5001"\n')

    assert error.key == "paper_trading.base_url"


def test_paper_unknown_backend_rejected():
    error = parse_error(POLICY + PAPER + 'backend = "sidecar"\n')

    assert error.key == "paper_trading.backend"


@pytest.mark.parametrize(
    "url",
    [
        "http://paper.example.com/v1/api",
        "https://user:secret@localhost:5001/v1/api",
        "ftp://localhost/v1/api",
        "https://localhost:99999/v1/api",
        "https://localhost:5001/v1/api?x=1",
        "not a url",
    ],
)
def test_paper_base_url_follows_broker_rules(url):
    text = POLICY + PAPER + f'backend = "client_portal"\nbase_url = "{url}"\n'

    error = parse_error(text)

    assert error.key == "paper_trading.base_url"


def test_paper_base_url_rejects_non_string():
    error = parse_error(POLICY + PAPER + 'backend = "client_portal"\nbase_url = 5\n')

    assert error.key == "paper_trading.base_url"


def test_paper_plain_http_on_loopback_accepted():
    text = POLICY + PAPER + 'backend = "client_portal"\n'
    text += 'base_url = "http://127.0.0.1:5001/v1/api"\n'

    assert parse(text).paper.base_url == "http://127.0.0.1:5001/v1/api"


def test_tls_off_remote_paper_rejected():
    text = '[broker]\nbase_url = "https://127.0.0.1:5000/v1/api"\nverify_tls = false\n'
    text += POLICY + PAPER + 'backend = "client_portal"\n'
    text += 'base_url = "https://paper.example.com/v1/api"\n'

    error = parse_error(text)

    assert error.key == "paper_trading.base_url"
    assert "broker.verify_tls" in error.problem


def test_tls_off_loopback_paper_accepted():
    text = '[broker]\nbase_url = "https://127.0.0.1:5000/v1/api"\nverify_tls = false\n'
    text += POLICY + PAPER + CLIENT_PORTAL

    assert parse(text).paper.base_url == "https://localhost:5001/v1/api"


def test_remote_paper_with_tls_accepted():
    text = POLICY + PAPER + 'backend = "client_portal"\n'
    text += 'base_url = "https://paper.example.com/v1/api"\n'

    assert parse(text).paper.base_url == "https://paper.example.com/v1/api"


# Live session time and zone


@pytest.mark.parametrize(
    ("value", "expected"),
    [('"09:30"', time(9, 30)), ('"00:00"', time(0, 0)), ('"23:59"', time(23, 59))],
)
def test_session_start_string_parsed(value, expected):
    settings = parse(POLICY + LIVE + f"session_start = {value}\n")

    assert settings.live.session_start == expected


def test_session_start_toml_local_time_parsed():
    settings = parse(POLICY + LIVE + "session_start = 09:30:00\n")

    assert settings.live.session_start == time(9, 30)


@pytest.mark.parametrize(
    "value", ['"9:30"', '"24:00"', '"09:60"', '"09:30:00"', '"4am"', "930"]
)
def test_invalid_session_start_rejected(value):
    error = parse_error(POLICY + LIVE + f"session_start = {value}\n")

    assert error.key == "live_trading.session_start"


def test_session_start_date_time_rejected():
    error = parse_error(POLICY + LIVE + "session_start = 2024-01-02T09:30:00\n")

    assert error.key == "live_trading.session_start"


def test_session_timezone_accepted():
    settings = parse(POLICY + LIVE + 'session_timezone = "Europe/Zurich"\n')

    assert settings.live.session_timezone == "Europe/Zurich"


@pytest.mark.parametrize(
    "zone",
    ['"Mars/Olympus"', '"America"', '"../etc/passwd"', '"/etc/localtime"', '""', "5"],
)
def test_invalid_session_timezone_rejected(zone):
    error = parse_error(POLICY + LIVE + f"session_timezone = {zone}\n")

    assert error.key == "live_trading.session_timezone"


# Lookups on the parsed settings


def test_mode_of_paper_account():
    assert parse(POLICY + PAPER + LIVE).mode_of_account(PAPER_ACCOUNT) == "paper"


def test_mode_of_live_account():
    assert parse(POLICY + PAPER + LIVE).mode_of_account(LIVE_ACCOUNT) == "live"


def test_mode_of_unlisted_account_is_none():
    assert parse(POLICY + PAPER + LIVE).mode_of_account("U1111111") is None


def test_mode_of_disabled_mode_account():
    settings = parse(POLICY + LIVE.replace("enabled = true", "enabled = false"))

    assert settings.mode_of_account(LIVE_ACCOUNT) == "live"


def test_policy_for_enabled_mode():
    settings = parse(POLICY + PAPER + LIVE)

    assert settings.policy_for("paper") is settings.risk_policies["small"]
    assert settings.policy_for("live") is settings.risk_policies["small"]


def test_policy_for_picks_each_mode_policy():
    text = POLICY + POLICY.replace("small", "tiny") + PAPER
    text += LIVE.replace('"small"', '"tiny"')

    settings = parse(text)

    assert settings.policy_for("paper").policy_id == "small"
    assert settings.policy_for("live").policy_id == "tiny"


def test_policy_for_disabled_mode_raises():
    settings = parse(POLICY + PAPER)

    with pytest.raises(TradingModeDisabled, match="live_trading.enabled"):
        settings.policy_for("live")


def test_policy_for_unknown_mode_raises():
    settings = parse(POLICY + PAPER)

    with pytest.raises(ValueError, match="'demo'"):
        settings.policy_for("demo")


# Broker settings of the paper backend


def test_paper_broker_settings_simulated():
    paper = parse(POLICY + PAPER).paper
    broker = BrokerSettings(
        backend="client_portal", base_url="https://localhost:5000/v1/api"
    )

    assert paper_broker_settings(broker, paper) == BrokerSettings(backend="simulated")


def test_paper_broker_settings_client_portal():
    paper = parse(POLICY + PAPER + CLIENT_PORTAL).paper
    broker = BrokerSettings(
        backend="simulated",
        base_url="https://127.0.0.1:5000/v1/api",
        verify_tls=False,
        timeout_seconds=3.0,
    )

    settings = paper_broker_settings(broker, paper)

    assert settings.backend == "client_portal"
    assert settings.base_url == "https://localhost:5001/v1/api"
    assert settings.verify_tls is False
    assert settings.timeout_seconds == 3.0


def test_paper_broker_settings_keeps_loopback_rule():
    paper = parse(
        POLICY + PAPER + 'backend = "client_portal"\n'
        'base_url = "https://paper.example.com/v1/api"\n'
    ).paper
    broker = BrokerSettings(base_url="https://127.0.0.1:5000/v1/api", verify_tls=False)

    with pytest.raises(ValueError, match="loopback"):
        paper_broker_settings(broker, paper)


def test_paper_broker_settings_default_paper(development_config, tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text(
        '[audit]\ncorrelation_secret_env = "CORR_KEY"\n'
        + POLICY
        + PAPER
        + CLIENT_PORTAL
    )
    config = load_runtime_config(path)
    runtime_config.set_runtime_config(config)

    settings = paper_broker_settings(config.broker)

    assert settings.base_url == "https://localhost:5001/v1/api"


# Runtime config


def test_development_mode_disables_trading(monkeypatch):
    monkeypatch.delenv("IBKR_GATEWAY_CONFIG", raising=False)

    config = load_runtime_config()

    assert config.trading == TradingSettings()
    assert config.trading.paper.enabled is False
    assert config.trading.live.enabled is False


def test_default_runtime_config_disables_trading():
    trading = RuntimeConfig().trading

    assert trading.mode_of_account(PAPER_ACCOUNT) is None
    assert trading.risk_policies == {}


def test_file_without_trading_sections_disabled(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text('[audit]\ncorrelation_secret_env = "CORR_KEY"\n')

    config = load_runtime_config(path)

    assert config.trading == TradingSettings()


def test_file_trading_sections_parsed(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text('[audit]\ncorrelation_secret_env = "CORR_KEY"\n' + POLICY + PAPER)

    config = load_runtime_config(path)

    assert config.trading.mode_of_account(PAPER_ACCOUNT) == "paper"


def test_file_trading_error_names_key(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text('[audit]\ncorrelation_secret_env = "CORR_KEY"\n[live_trading]\n')

    with pytest.raises(ConfigError) as caught:
        load_runtime_config(path)

    assert caught.value.key == "live_trading.enabled"
    assert caught.value.source == path


# The example config


@pytest.fixture
def example_config(monkeypatch):
    monkeypatch.setenv("IBKR_AUDIT_HMAC_SECRET", "h" * 32)
    monkeypatch.setenv("IBKR_AUDIT_CORRELATION_SECRET", "c" * 32)
    return load_runtime_config(REPO_ROOT / "config" / "example.toml")


def test_example_config_keys_usable(example_config):
    check_keys(example_config)


def test_example_config_broker_and_cli(example_config):
    assert example_config.broker.backend == "simulated"
    assert example_config.audit.correlation_secret_env == (
        "IBKR_AUDIT_CORRELATION_SECRET"
    )
    assert example_config.cli.actor_id == "cli:desk-operator"
    assert example_config.cli.scopes == ALL_SCOPES
    assert example_config.cli.operator is True


def test_example_config_trading_modes(example_config):
    trading = example_config.trading

    assert trading.paper.enabled is True
    assert trading.paper.backend == "simulated"
    assert trading.live.enabled is True
    assert trading.mode_of_account("DU5550101") == "paper"
    assert trading.mode_of_account("U5550102") == "live"
    assert trading.live.session_start == time(4, 0)


def test_example_config_risk_policy(example_config):
    policy = example_config.trading.policy_for("live")

    assert policy.policy_id == "small"
    assert policy.allowed_symbols == {"AAPL", "MSFT", "SPY"}
    assert policy.order_types == {"LMT", "MKT"}
    assert policy.time_in_force == {"DAY", "GTC"}
    assert policy.max_quantity == Decimal(100)
    assert policy.max_notional == Decimal("25000")
    assert policy.price_collar_percent == Decimal(5)
    assert policy.frequency_window_seconds == 60
    assert policy.max_orders_per_window == 5
    assert policy.max_orders_per_session == 20
    assert policy.max_notional_per_session == Decimal("100000")
