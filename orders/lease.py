"""Database leases, so one process at a time runs a job shared by several.

Each function is one transaction with a conditional write. The project's
SQLite connections begin every transaction with BEGIN IMMEDIATE, so the
transaction holds the write lock from its first statement and two
processes cannot both see a lease as free and both take it. On a server
database, the primary key makes the losing insert fail instead.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from orders.models import ReconcileLease


def acquire(name, holder, ttl_seconds, now=None):
    """Take lease ``name`` for ``holder`` until ``ttl_seconds`` from ``now``.

    Returns True when ``holder`` now holds the lease: the lease was free,
    had expired, or was already held by ``holder``, whose lease is then
    extended. Returns False while another holder's lease is current.
    """
    now = now or timezone.now()
    expires_at = now + timedelta(seconds=ttl_seconds)

    with transaction.atomic():
        leases = ReconcileLease.objects.filter(name=name)

        taken_over = leases.filter(expires_at__lte=now).update(
            holder=holder, acquired_at=now, expires_at=expires_at
        )
        if taken_over:
            return True

        extended = leases.filter(holder=holder).update(expires_at=expires_at)
        if extended:
            return True

        _, created = ReconcileLease.objects.get_or_create(
            name=name,
            defaults={
                "holder": holder,
                "acquired_at": now,
                "expires_at": expires_at,
            },
        )
        return created


def renew(name, holder, ttl_seconds, now=None):
    """Extend ``holder``'s current lease ``name`` to ``ttl_seconds`` from ``now``.

    Returns False when ``holder`` does not hold the lease or it has expired,
    because another process may have taken it since. The caller must then
    stop the guarded work or ``acquire`` the lease again.
    """
    now = now or timezone.now()

    with transaction.atomic():
        renewed = ReconcileLease.objects.filter(
            name=name, holder=holder, expires_at__gt=now
        ).update(expires_at=now + timedelta(seconds=ttl_seconds))
    return renewed == 1


def release(name, holder):
    """Delete lease ``name`` if ``holder`` holds it, and return whether it did.

    A lease taken over by another holder is left alone.
    """
    with transaction.atomic():
        deleted, _ = ReconcileLease.objects.filter(name=name, holder=holder).delete()
    return deleted > 0


def current_holder(name, now=None):
    """Return the holder of the current lease ``name``, or None if it is free."""
    now = now or timezone.now()
    leases = ReconcileLease.objects.filter(name=name, expires_at__gt=now)
    return leases.values_list("holder", flat=True).first()
