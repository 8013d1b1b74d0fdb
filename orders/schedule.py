"""The django-q2 schedule that starts a reconcile sweep every minute.

``manage.py migrate`` registers it through ``register_after_migrate``, a
``post_migrate`` receiver, so every migrated database has the schedule and
a running cluster (``manage.py qcluster``) starts sweeps without further
set-up.
"""

import logging

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django_q.models import Schedule

logger = logging.getLogger(__name__)

SCHEDULE_NAME = "reconcile-live-orders"
SWEEP_FUNC = "orders.sweep.sweep"

# The code owns this schedule, so registration resets every field that
# decides what runs and when, including a pause set by hand (repeats = 0).
# django-q2 cannot run a schedule more often than once a minute.
SCHEDULE_FIELDS = {
    "func": SWEEP_FUNC,
    "args": None,
    "kwargs": None,
    "hook": None,
    "schedule_type": Schedule.MINUTES,
    "minutes": 1,
    "cron": None,
    "repeats": -1,
    "cluster": None,
    "intended_date_kwarg": None,
}


def register_schedule(using=DEFAULT_DB_ALIAS):
    """Create or update the ``reconcile-live-orders`` schedule and return it.

    Idempotent. django-q2 does not make schedule names unique, so extra rows
    with this name are deleted and the oldest one is updated in place. Its
    next run time is kept.
    """
    with transaction.atomic(using=using):
        schedules = Schedule.objects.using(using).filter(name=SCHEDULE_NAME)
        schedule = schedules.order_by("pk").first()
        if schedule is None:
            schedule = Schedule.objects.using(using).create(
                name=SCHEDULE_NAME, **SCHEDULE_FIELDS
            )
            logger.info(
                "Created schedule %s (id %s): %s every minute",
                SCHEDULE_NAME,
                schedule.pk,
                SWEEP_FUNC,
            )
            return schedule

        duplicates, _ = schedules.exclude(pk=schedule.pk).delete()
        if duplicates:
            logger.warning(
                "Deleted %d duplicate schedule(s) named %s", duplicates, SCHEDULE_NAME
            )

        changed = [
            field
            for field, value in SCHEDULE_FIELDS.items()
            if getattr(schedule, field) != value
        ]
        if changed:
            for field in changed:
                setattr(schedule, field, SCHEDULE_FIELDS[field])
            schedule.save(using=using, update_fields=changed)
            logger.info(
                "Updated schedule %s (id %s): reset %s",
                SCHEDULE_NAME,
                schedule.pk,
                ", ".join(changed),
            )
    return schedule


def register_after_migrate(sender, using=DEFAULT_DB_ALIAS, **kwargs):
    """Register the schedule after ``migrate``, once django-q2's table exists."""
    table = Schedule._meta.db_table
    if table not in connections[using].introspection.table_names():
        logger.warning(
            "Schedule %s not registered: table %s is missing; run "
            "'python manage.py migrate django_q'",
            SCHEDULE_NAME,
            table,
        )
        return

    register_schedule(using=using)
