"""List filters of the audit event admin, each served by an index.

The time filter looks up the first ``seq`` at or after each bound on the
``occurred_at`` index and then filters the list by ``seq``. ``occurred_at``
never decreases along ``seq`` (the writer takes it under the write lock), so
the two give the same rows, and a range of the primary key keeps the list in
``seq`` order without sorting the matching rows.

NOTE: on a tampered log whose ``occurred_at`` goes backwards the seq range
can differ from an ``occurred_at`` comparison; ``audit verify`` does not
check that order.
"""

import re
from datetime import UTC, datetime, time, timedelta

from django.contrib import admin, messages
from django.db import connections
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from audit.models import AuditEvent

ACCOUNT_HASH = re.compile(r"[0-9a-f]{64}")

# Walks the (event_type, seq) index one distinct value at a time, so the
# cost grows with the number of event types and not with the number of rows
# (a SELECT DISTINCT would read the whole index).
DISTINCT_EVENT_TYPES_SQL = """
WITH RECURSIVE types(event_type) AS (
    SELECT min(event_type) FROM audit_events
    UNION ALL
    SELECT (
        SELECT min(event_type) FROM audit_events
        WHERE event_type > types.event_type
    )
    FROM types WHERE types.event_type IS NOT NULL
)
SELECT event_type FROM types WHERE event_type IS NOT NULL
"""

PRESETS = {
    "hour": ("Last hour", timedelta(hours=1)),
    "day": ("Last day", timedelta(days=1)),
    "week": ("Last week", timedelta(days=7)),
}


def distinct_event_types(using="default"):
    """Return the event types present in the log, in ascending order."""
    with connections[using].cursor() as cursor:
        cursor.execute(DISTINCT_EVENT_TYPES_SQL)
        return [row[0] for row in cursor.fetchall()]


def first_seq_at_or_after(moment):
    """Return the smallest ``seq`` with ``occurred_at >= moment``, or None."""
    return (
        AuditEvent.objects.filter(occurred_at__gte=moment)
        .order_by("occurred_at", "seq")
        .values_list("seq", flat=True)
        .first()
    )


def parse_bound(text, *, end):
    """Return the aware UTC datetime of a from/to field, or None when invalid.

    A date alone means its start, or for ``end`` the start of the next day,
    so that "to 2026-01-31" includes that whole day. A time without a zone
    is UTC.
    """
    text = text.strip()
    try:
        # A date alone is read as a date first: parse_datetime also accepts
        # it, as midnight, which would drop the named day from "to".
        day = parse_date(text)
        if day is not None:
            if end:
                day += timedelta(days=1)
            moment = datetime.combine(day, time.min)
        else:
            moment = parse_datetime(text)
        if moment is None:
            return None
        if timezone.is_naive(moment):
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        # Well-formed but impossible values (2026-02-30), and offsets that
        # move a time past year 1 or 9999, are invalid input.
        return None


class EventTypeFilter(admin.SimpleListFilter):
    """Filter by event type, with the choices read from the index."""

    title = "event type"
    parameter_name = "event_type"

    def lookups(self, request, model_admin):
        return [(name, name) for name in distinct_event_types()]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(event_type=self.value())


class AccountHashFilter(admin.SimpleListFilter):
    """Filter by account correlation hash, set by the "Find by account" form.

    It offers no choices of its own: listing every account hash would read
    the whole index. The active hash is shown so that it can be cleared.
    """

    title = "account"
    parameter_name = "account_hash"

    def lookups(self, request, model_admin):
        value = self.value()
        if value is None:
            return []
        return [(value, f"hash {value[:12]}…")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if not ACCOUNT_HASH.fullmatch(value):
            messages.error(
                request,
                "The account hash in the address is invalid: expected 64 "
                "lowercase hex digits. Use the Find by account form instead.",
            )
            return queryset.none()
        return queryset.filter(account_hash=value)


class OccurredAtFilter(admin.SimpleListFilter):
    """Filter by time: the last hour, day or week, and a from/to range (UTC)."""

    title = "time"
    parameter_name = "occurred"
    from_parameter = "occurred_from"
    to_parameter = "occurred_to"
    template = "admin/audit/occurred_filter.html"

    def __init__(self, request, params, model, model_admin):
        self.range_values = {}
        for name in (self.from_parameter, self.to_parameter):
            if name in params:
                self.range_values[name] = params.pop(name)[-1]
        super().__init__(request, params, model, model_admin)
        # The admin counts popped parameters to mark the filters as active.
        self.used_parameters.update(self.range_values)
        self.hidden_parameters = [
            (name, value)
            for name, value in request.GET.items()
            if name
            not in (self.from_parameter, self.to_parameter, "before", "after", "p")
        ]

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _span) in PRESETS.items()]

    def expected_parameters(self):
        return [self.parameter_name, self.from_parameter, self.to_parameter]

    @property
    def from_value(self):
        return self.range_values.get(self.from_parameter, "")

    @property
    def to_value(self):
        return self.range_values.get(self.to_parameter, "")

    def bounds(self, request):
        """Return ``(since, until)`` as aware datetimes, or None for an invalid field.

        Either bound may be None when it is not set.
        """
        since = until = None
        preset = self.value()
        if preset is not None:
            if preset not in PRESETS:
                messages.error(
                    request,
                    f"The time filter {preset!r} is invalid; use hour, day or week.",
                )
                return None
            since = timezone.now() - PRESETS[preset][1]
        if self.from_value:
            start = parse_bound(self.from_value, end=False)
            if start is None:
                messages.error(
                    request,
                    f"The 'from' time {self.from_value!r} is invalid; enter a date "
                    "such as 2026-01-31 or a UTC time such as 2026-01-31T14:30.",
                )
                return None
            since = start if since is None else max(since, start)
        if self.to_value:
            until = parse_bound(self.to_value, end=True)
            if until is None:
                messages.error(
                    request,
                    f"The 'to' time {self.to_value!r} is invalid; enter a date "
                    "such as 2026-01-31 or a UTC time such as 2026-01-31T14:30.",
                )
                return None
        return since, until

    def queryset(self, request, queryset):
        if not self.used_parameters:
            return queryset
        bounds = self.bounds(request)
        if bounds is None:
            return queryset.none()
        since, until = bounds
        if since is not None:
            first = first_seq_at_or_after(since)
            if first is None:
                return queryset.none()
            queryset = queryset.filter(seq__gte=first)
        if until is not None:
            end = first_seq_at_or_after(until)
            if end is not None:
                queryset = queryset.filter(seq__lt=end)
        return queryset
