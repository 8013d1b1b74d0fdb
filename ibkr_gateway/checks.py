"""Django system check: the runtime config and its keys are usable.

``manage.py check`` (run by ``make run`` before serving) and every command
that runs system checks report a bad config here, with the key and the fix,
instead of failing later on the first request.
"""

from django.core import checks

from audit.keys import check_keys
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
