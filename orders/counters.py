"""Server-side order counters: frequency per window and totals per session.

The counts come from the durable idempotency records, pending ones
included, and run inside the write-ahead transaction, which holds SQLite's
write lock from its first statement, so two concurrent submits cannot both
pass a limit. A caller never supplies a count.
"""

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.db.models import Sum

from orders.errors import RiskRefused
from orders.intent import decimal_text
from orders.models import IdempotencyRecord


def session_date(now, live_settings):
    """Return the trading session of ``now``: the local day from session_start."""
    local = now.astimezone(ZoneInfo(live_settings.session_timezone))
    start = live_settings.session_start
    shifted = local - timedelta(hours=start.hour, minutes=start.minute)
    return shifted.date()


def _submits(mode):
    return IdempotencyRecord.objects.filter(mode=mode, action=IdempotencyRecord.SUBMIT)


def _total(queryset, field):
    return queryset.aggregate(total=Sum(field))["total"] or 0


def current_counts(mode, policy, now, session):
    """Return the counters of ``mode`` at ``now`` as a dict, for events and checks.

    Order counts come from submits only. The session notional adds the
    notional increase of modifies, so that growing an order cannot pass the
    session limit.
    """
    window_start = now - timedelta(seconds=policy.frequency_window_seconds)
    in_window = _submits(mode).filter(created_at__gte=window_start)
    in_session = _submits(mode).filter(session_date=session)
    changes = IdempotencyRecord.objects.filter(
        mode=mode,
        action__in=(IdempotencyRecord.SUBMIT, IdempotencyRecord.MODIFY),
        session_date=session,
    )
    return {
        "window_order_count": _total(in_window, "order_count"),
        "session_order_count": _total(in_session, "order_count"),
        "session_notional": _total(changes, "notional"),
    }


def check(mode, policy, now, session, order_count, notional):
    """Refuse when this request would pass a limit; return the counts it saw.

    Must run inside the transaction that writes the idempotency record.
    """
    counts = current_counts(mode, policy, now, session)
    if counts["window_order_count"] + order_count > policy.max_orders_per_window:
        raise RiskRefused(
            f"The frequency limit of {policy.max_orders_per_window} orders per "
            f"{policy.frequency_window_seconds} s is reached "
            f"({counts['window_order_count']} in the window). Wait and retry.",
            code="frequency_limit",
            status=429,
            headers={"Retry-After": str(policy.frequency_window_seconds)},
        )
    if counts["session_order_count"] + order_count > policy.max_orders_per_session:
        raise RiskRefused(
            f"The session limit of {policy.max_orders_per_session} orders is "
            f"reached ({counts['session_order_count']} so far). No more orders in "
            "this trading session.",
            code="session_order_limit",
        )
    if counts["session_notional"] + notional > policy.max_notional_per_session:
        raise RiskRefused(
            f"This order would take the session notional to "
            f"{decimal_text(counts['session_notional'] + notional)}, over the limit "
            f"of {decimal_text(policy.max_notional_per_session)}.",
            code="session_notional_limit",
        )
    return {key: str(value) for key, value in counts.items()}


__all__ = ["check", "current_counts", "session_date"]
