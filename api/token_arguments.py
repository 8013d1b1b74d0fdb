"""Argument types of ``manage.py tokens``, each with a message that names the fix.

argparse turns the ``ArgumentTypeError`` they raise into a usage error,
which the command exits with as 64.
"""

from argparse import ArgumentTypeError

from api.models import ApiToken
from ibkr_gateway.scopes import ALL_SCOPES

MAX_EXPIRY_DAYS = 3650
DEFAULT_EXPIRY_DAYS = 90
MAX_NAME_LENGTH = ApiToken._meta.get_field("name").max_length


def scope_name(text):
    if text not in ALL_SCOPES:
        raise ArgumentTypeError(
            f"unknown scope {text!r}; use one of {', '.join(sorted(ALL_SCOPES))}"
        )
    return text


def expiry_days(text):
    try:
        days = int(text)
    except ValueError:
        raise ArgumentTypeError(f"{text!r} is not a whole number of days") from None
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        raise ArgumentTypeError(
            f"{days} days is out of range; use 1 to {MAX_EXPIRY_DAYS}"
        )
    return days


def token_name(text):
    if not text or len(text) > MAX_NAME_LENGTH or not text.isprintable():
        raise ArgumentTypeError(
            f"the name must be 1 to {MAX_NAME_LENGTH} printable characters"
        )
    return text


def token_id(text):
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise ArgumentTypeError(
            f"{text!r} is not a token id; ids are whole numbers from 1"
        )
    return int(text)
