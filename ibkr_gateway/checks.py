"""Django system check: the runtime config and its keys are usable.

``manage.py check`` (run by ``make run`` before serving) and every command
that runs system checks report a bad config here, with the key and the fix,
instead of failing later on the first request.
"""

from django.core import checks
from django.db import DatabaseError, connection

from audit.keys import DEVELOPMENT_KEY_ID, check_keys
from ibkr_gateway.runtime_config import ConfigError, get_runtime_config


@checks.register()
def check_runtime_config(app_configs, **kwargs):
    try:
        check_keys(get_runtime_config())
    except ConfigError as exc:
        where = f"{exc.source}: " if exc.source else ""
        return [
            checks.Error(
                f"{where}{exc.key}: {exc.problem}",
                hint=exc.fix,
                id="ibkr_gateway.E001",
            )
        ]
    return []


@checks.register()
def check_no_development_rows(app_configs, **kwargs):
    """Refuse a configured gateway on a log that development mode signed.

    The development key is public, so rows under key id ``dev`` prove
    nothing, and a configured installation that appends to them would later
    fail ``audit verify`` with ``unknown_key_id``.
    """
    config = get_runtime_config()
    if config.development_mode:
        return []
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT seq FROM audit_events WHERE key_id = %s LIMIT 1",
                [DEVELOPMENT_KEY_ID],
            )
            row = cursor.fetchone()
    except DatabaseError:
        # No database or no audit table yet: migrate creates a clean log.
        return []
    if row is None:
        return []
    return [
        checks.Error(
            f"the audit log in {connection.settings_dict['NAME']} holds rows "
            f"signed with the public development key (first at seq {row[0]}), "
            "and a configured gateway must not append to them",
            hint="Start the configured gateway on a new database: set "
            "DATABASE_URL to another file, or move the old one away.",
            id="ibkr_gateway.E002",
        )
    ]
