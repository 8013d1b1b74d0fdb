"""The broker backend of each trading mode.

Live orders go to the ``[broker]`` backend; paper orders to the paper
backend of ``[paper_trading]`` (simulated by default, or a Client Portal
login with its own base URL). Tests replace ``open_backend``.
"""

from ibkr_gateway.broker.factory import get_backend
from ibkr_gateway.runtime_config import get_runtime_config
from orders.models.choices import Mode
from orders.trading_config import paper_broker_settings


def open_backend(mode):
    """Return a new backend for ``mode`` ("paper" or "live"); close it after use."""
    config = get_runtime_config()
    if mode == Mode.PAPER:
        return get_backend(paper_broker_settings(config.broker, config.trading.paper))
    return get_backend(config.broker)
