"""Argument types of ``manage.py audit``, each with a message that names the fix.

argparse turns the ``ArgumentTypeError`` they raise into a usage error,
which the audit command exits with as 64.
"""

from argparse import ArgumentTypeError
from datetime import UTC, datetime

MAX_TAIL_LIMIT = 10_000
# Values end up in audit events, whose canonical JSON (RFC 8785) represents
# integers only up to 2**53 - 1. Real seq values never come near it.
MAX_WHOLE_NUMBER = 2**53 - 1


def whole_number(text):
    try:
        value = int(text)
    except ValueError:
        raise ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= MAX_WHOLE_NUMBER:
        raise ArgumentTypeError(f"{text!r} is out of range; use 0 to 2**53 - 1")
    return value


def tail_limit(text):
    try:
        value = int(text)
    except ValueError:
        raise ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_TAIL_LIMIT:
        raise ArgumentTypeError(f"{text!r} is out of range; use 1 to {MAX_TAIL_LIMIT}")
    return value


def aware_datetime(text):
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ArgumentTypeError(
            f"{text!r} is not an RFC 3339 time; use a form such as 2026-12-04T15:00:00Z"
        ) from None
    if value.tzinfo is None:
        raise ArgumentTypeError(
            f"{text!r} has no time zone; add Z for UTC or an offset such as +01:00"
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ArgumentTypeError(
            f"{text!r} is out of range once converted to UTC"
        ) from None


def key_mapping(text):
    key_id, separator, env_name = text.partition("=")
    if not separator or not key_id or not env_name:
        raise ArgumentTypeError(f"{text!r} is not of the form KEY_ID=ENV_NAME")
    return key_id, env_name


def non_empty(text):
    if not text:
        raise ArgumentTypeError("an empty value is not allowed")
    return text
