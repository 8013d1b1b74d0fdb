"""parse_broker_section: defaults, each validation rule and the loopback TLS rule."""

import tomllib
from pathlib import Path

import pytest

from ibkr_gateway.broker.config import BrokerSettings, parse_broker_section
from ibkr_gateway.runtime_config import ConfigError

SOURCE = Path("/etc/gateway/gateway.toml")


def parse(table):
    return parse_broker_section(SOURCE, table)


def parse_error(table):
    with pytest.raises(ConfigError) as caught:
        parse(table)
    return caught.value


def test_empty_table_gives_defaults():
    settings = parse({})

    assert settings == BrokerSettings()
    assert settings.backend == "simulated"
    assert settings.base_url == "https://localhost:5000/v1/api"
    assert settings.verify_tls is True
    assert settings.timeout_seconds == 10.0
    assert settings.max_response_bytes == 2 * 1024 * 1024
    assert settings.max_requests_per_second == 5.0


def test_full_toml_section_parsed():
    data = tomllib.loads(
        "[broker]\n"
        'backend = "client_portal"\n'
        'base_url = "https://127.0.0.1:5000/v1/api/"\n'
        "verify_tls = false\n"
        "timeout_seconds = 2.5\n"
        "max_response_bytes = 65536\n"
        "max_requests_per_second = 2\n"
    )

    settings = parse(data["broker"])

    assert settings.backend == "client_portal"
    assert settings.base_url == "https://127.0.0.1:5000/v1/api"
    assert settings.verify_tls is False
    assert settings.timeout_seconds == 2.5
    assert settings.max_response_bytes == 65536
    assert settings.max_requests_per_second == 2.0
    assert isinstance(settings.max_requests_per_second, float)


def test_settings_frozen():
    with pytest.raises(AttributeError):
        BrokerSettings().verify_tls = False


def test_error_names_key_and_source():
    error = parse_error({"backend": "paper"})

    assert error.key == "broker.backend"
    assert error.source == SOURCE
    assert str(error).startswith(f"{SOURCE}: broker.backend: ")
    assert "simulated, client_portal" in error.fix


def test_table_must_be_table():
    error = parse_error(["backend"])

    assert error.key == "broker"


def test_unknown_key_rejected():
    error = parse_error({"verify_ssl": False})

    assert error.key == "broker.verify_ssl"
    assert error.problem == "unknown key"
    assert "verify_tls" in error.fix


def test_sidecar_not_available_yet():
    error = parse_error({"backend": "sidecar"})

    assert error.key == "broker.backend"
    assert "not available yet" in error.problem


@pytest.mark.parametrize("backend", ["", "live", 1, None])
def test_unknown_backend_rejected(backend):
    error = parse_error({"backend": backend})

    assert error.key == "broker.backend"


# verify_tls: certificate checks may be off only for loopback hosts


@pytest.mark.parametrize(
    "base_url",
    [
        "https://gateway.example.com:5000/v1/api",
        "https://10.0.0.5:5000/v1/api",
        "https://127.0.0.2:5000/v1/api",
        "https://localhost.example.com/v1/api",
        "https://[::2]:5000/v1/api",
    ],
)
def test_unverified_tls_non_loopback_rejected(base_url):
    error = parse_error({"base_url": base_url, "verify_tls": False})

    assert error.key == "broker.verify_tls"
    assert "cannot be turned off" in error.problem
    assert "verify_tls = true" in error.fix


@pytest.mark.parametrize(
    "base_url",
    [
        "https://localhost:5000/v1/api",
        "https://LOCALHOST:5000/v1/api",
        "https://127.0.0.1:5000/v1/api",
        "https://[::1]:5000/v1/api",
    ],
)
def test_unverified_tls_loopback_allowed(base_url):
    settings = parse({"base_url": base_url, "verify_tls": False})

    assert settings.verify_tls is False


def test_unverified_tls_default_url_allowed():
    assert parse({"verify_tls": False}).verify_tls is False


def test_verified_tls_remote_allowed():
    settings = parse({"base_url": "https://gateway.example.com/v1/api"})

    assert settings.host == "gateway.example.com"
    assert settings.verify_tls is True


@pytest.mark.parametrize("value", ["false", 0, None])
def test_verify_tls_must_be_bool(value):
    error = parse_error({"verify_tls": value})

    assert error.key == "broker.verify_tls"


def test_settings_constructor_enforces_loopback_rule():
    with pytest.raises(ValueError, match="loopback"):
        BrokerSettings(base_url="https://gateway.example.com/v1/api", verify_tls=False)


# base_url


def test_plain_http_loopback_allowed():
    settings = parse({"base_url": "http://127.0.0.1:5000/v1/api"})

    assert settings.base_url == "http://127.0.0.1:5000/v1/api"


def test_plain_http_remote_rejected():
    error = parse_error({"base_url": "http://gateway.example.com/v1/api"})

    assert error.key == "broker.base_url"
    assert "loopback" in error.problem


@pytest.mark.parametrize(
    "base_url", ["ftp://localhost/v1/api", "file:///v1/api", "localhost:5000"]
)
def test_other_schemes_rejected(base_url):
    error = parse_error({"base_url": base_url})

    assert error.key == "broker.base_url"


def test_credentials_in_url_rejected_unechoed():
    error = parse_error({"base_url": "https://user:hunter2@localhost:5000/v1/api"})

    assert error.key == "broker.base_url"
    assert "hunter2" not in str(error)


@pytest.mark.parametrize(
    "base_url",
    [
        "https://localhost:5000/v1/api?x=1",
        "https://localhost:5000/v1/api#part",
        "https:///v1/api",
    ],
)
def test_query_fragment_or_missing_host_rejected(base_url):
    error = parse_error({"base_url": base_url})

    assert error.key == "broker.base_url"


def test_bad_port_rejected():
    error = parse_error({"base_url": "https://localhost:99999/v1/api"})

    assert error.key == "broker.base_url"
    assert "invalid" in error.problem


def test_base_url_must_be_string():
    error = parse_error({"base_url": 5000})

    assert error.key == "broker.base_url"
    assert "expected a URL string" in error.problem


# Numbers


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("timeout_seconds", 0),
        ("timeout_seconds", 301),
        ("timeout_seconds", -1),
        ("max_response_bytes", 1023),
        ("max_response_bytes", 64 * 1024 * 1024 + 1),
        ("max_requests_per_second", 0),
        ("max_requests_per_second", 11),
    ],
)
def test_number_out_of_range(key, value):
    error = parse_error({key: value})

    assert error.key == f"broker.{key}"
    assert "out of range" in error.problem
    assert "from" in error.fix


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("timeout_seconds", "10"),
        ("timeout_seconds", True),
        ("max_response_bytes", 2048.0),
        ("max_response_bytes", "2MiB"),
        ("max_requests_per_second", False),
    ],
)
def test_number_wrong_type(key, value):
    error = parse_error({key: value})

    assert error.key == f"broker.{key}"
    assert "expected" in error.problem


def test_fractional_rate_and_timeout_accepted():
    settings = parse({"timeout_seconds": 0.5, "max_requests_per_second": 0.5})

    assert settings.timeout_seconds == 0.5
    assert settings.max_requests_per_second == 0.5


# Order confirmation prompts


def test_prompt_defaults_confirm_nothing():
    settings = parse({})

    assert settings.confirm_message_ids == ()
    assert settings.max_reply_rounds == 3


def test_prompt_settings_from_toml():
    data = tomllib.loads(
        "[broker]\n"
        'confirm_message_ids = ["o163", "o354", "o163"]\n'
        "max_reply_rounds = 5\n"
    )

    settings = parse(data["broker"])

    assert settings.confirm_message_ids == ("o163", "o354")
    assert settings.max_reply_rounds == 5


@pytest.mark.parametrize("value", ["o163", "o163,o354", {"o163": True}, 163])
def test_message_ids_must_be_list(value):
    error = parse_error({"confirm_message_ids": value})

    assert error.key == "broker.confirm_message_ids"
    assert "expected a list" in error.problem
    assert '["o163", "o354"]' in error.fix


@pytest.mark.parametrize("item", ["O163", "o", "163", "o163 ", "o-163", "", 163, None])
def test_message_id_format_checked(item):
    error = parse_error({"confirm_message_ids": ["o354", item]})

    assert error.key == "broker.confirm_message_ids"
    assert "is not an IBKR message id" in error.problem
    assert "confirm_message_ids" in error.fix


@pytest.mark.parametrize("value", [0, 11, -1])
def test_reply_rounds_out_of_range(value):
    error = parse_error({"max_reply_rounds": value})

    assert error.key == "broker.max_reply_rounds"
    assert "out of range" in error.problem
    assert "from 1 to 10" in error.fix


@pytest.mark.parametrize("value", [2.0, "3", True])
def test_reply_rounds_must_be_integer(value):
    error = parse_error({"max_reply_rounds": value})

    assert error.key == "broker.max_reply_rounds"
    assert "expected an integer" in error.problem


def test_settings_message_ids_list_becomes_tuple():
    settings = BrokerSettings(confirm_message_ids=["o163"])

    assert settings.confirm_message_ids == ("o163",)
    assert hash(settings)


def test_settings_message_ids_string_rejected():
    with pytest.raises(ValueError, match="is a string"):
        BrokerSettings(confirm_message_ids="o163")
