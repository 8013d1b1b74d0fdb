"""Per-connection SQLite pragmas that Django's OPTIONS cannot express."""

import logging

from ibkr_gateway.runtime_config import SYNCHRONOUS_MODES, get_runtime_config

logger = logging.getLogger(__name__)


def configure_connection(sender, connection, **kwargs):
    """Set ``PRAGMA synchronous`` from ``[audit] synchronous`` on a new connection.

    The value is checked against a fixed list before it reaches SQL, because a
    pragma value cannot be a bound parameter.
    """
    if connection.vendor != "sqlite":
        return

    mode = get_runtime_config().audit.synchronous
    if mode not in SYNCHRONOUS_MODES:
        raise ValueError(f"unsupported PRAGMA synchronous mode {mode!r}")

    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA synchronous={mode}")
