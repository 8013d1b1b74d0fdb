"""The market clock and market hours, injectable through Django settings.

``IBKR_MARKET_CLOCK`` names a callable that returns the current time as an
aware datetime, and ``IBKR_MARKET_HOURS`` one that takes such a datetime and
says whether the market is open. Tests and the simulated broker swap them,
so nothing that prices or gates an order depends on the wall clock or the
day of the week.
"""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.module_loading import import_string

EXCHANGE_TIMEZONE = ZoneInfo("America/New_York")
REGULAR_OPEN = time(9, 30)
REGULAR_CLOSE = time(16, 0)


def wall_clock():
    """Return the current UTC time."""
    return datetime.now(UTC)


def always_open(at):
    """Market hours of the simulated broker, whose market never closes."""
    return True


def us_equity_regular_hours(at):
    """Return whether ``at`` is within 09:30 to 16:00 New York time, Monday to Friday.

    NOTE: exchange holidays and early closes are not known here; a quote from
    a closed market is still refused by its previous-close flag.
    """
    local = at.astimezone(EXCHANGE_TIMEZONE)
    if local.weekday() >= 5:
        return False
    return REGULAR_OPEN <= local.time() < REGULAR_CLOSE


def hours_of_configured_broker(at):
    """Default market hours: always open for the simulated broker, else US hours."""
    from ibkr_gateway.runtime_config import get_runtime_config

    if get_runtime_config().broker.backend == "simulated":
        return always_open(at)
    return us_equity_regular_hours(at)


def now():
    """Return the market clock's current time (aware, UTC)."""
    clock = import_string(settings.IBKR_MARKET_CLOCK)
    value = clock()
    if value.tzinfo is None:
        raise ValueError(
            f"IBKR_MARKET_CLOCK {settings.IBKR_MARKET_CLOCK} returned a naive "
            "datetime; it must return an aware one."
        )
    return value.astimezone(UTC)


def is_open(at=None):
    """Return whether the market is open at ``at`` (default: the clock's now)."""
    hours = import_string(settings.IBKR_MARKET_HOURS)
    return bool(hours(now() if at is None else at))
