"""Broker error table and format_decimal, the shared parts of the backend contract."""

from decimal import Decimal

import pytest

from ibkr_gateway.broker import base
from ibkr_gateway.broker.base import format_decimal

ERROR_TABLE = [
    ("BrokerError", "broker_error", 502),
    ("BrokerLoginRequired", "broker_login_required", 503),
    ("BrokerUnavailable", "broker_unavailable", 503),
    ("BrokerTlsError", "broker_tls_error", 502),
    ("BrokerTimeout", "broker_timeout", 504),
    ("BrokerResponseTooLarge", "broker_response_too_large", 502),
    ("BrokerResponseInvalid", "broker_response_invalid", 502),
    ("BrokerRequestRejected", "broker_request_rejected", 502),
    ("BrokerRateLimited", "broker_rate_limited", 429),
    ("MarketDataNotReady", "market_data_not_ready", 503),
    ("InvalidBrokerRequest", "invalid_broker_request", 400),
    ("BrokerAccountNotFound", "broker_account_not_found", 404),
    ("BrokerContractNotFound", "broker_contract_not_found", 404),
]


@pytest.mark.parametrize(("name", "code", "status"), ERROR_TABLE)
def test_error_code_and_status(name, code, status):
    error = getattr(base, name)()

    assert isinstance(error, base.BrokerError)
    assert error.code == code
    assert error.status == status
    assert error.to_dict()["code"] == code


@pytest.mark.parametrize(("name", "code", "status"), ERROR_TABLE)
def test_error_default_message_sentence(name, code, status):
    message = getattr(base, name)().message

    assert message[0].isupper()
    assert message.endswith(".")
    assert str(getattr(base, name)()) == message


def test_error_status_override():
    assert base.BrokerUnavailable(status=502).status == 502
    assert base.BrokerUnavailable().status == 503


def test_rate_limited_carries_retry_after():
    error = base.BrokerRateLimited(retry_after=5)

    assert error.to_dict() == {
        "code": "broker_rate_limited",
        "message": error.message,
        "retry_after": 5,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("193.180"), "193.18"),
        (Decimal("100.0"), "100"),
        (Decimal("1E+2"), "100"),
        (Decimal("0.0"), "0"),
        (Decimal("-0"), "0"),
        (Decimal("-12.50"), "-12.5"),
        (Decimal("0.00000001"), "0.00000001"),
        (7, "7"),
        ("221.67142855", "221.67142855"),
        (None, None),
    ],
)
def test_format_decimal_plain(value, expected):
    assert format_decimal(value) == expected


def test_format_decimal_rejects_float():
    with pytest.raises(TypeError):
        format_decimal(1.5)


@pytest.mark.parametrize("value", [Decimal("NaN"), "Infinity", "1.2.3", ""])
def test_format_decimal_rejects_non_numbers(value):
    with pytest.raises(ValueError):
        format_decimal(value)
