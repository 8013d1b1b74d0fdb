"""Construction of the broker backend that ``BrokerSettings.backend`` names."""

from ibkr_gateway.broker.client_portal import ClientPortalBackend
from ibkr_gateway.broker.config import BrokerSettings
from ibkr_gateway.broker.simulated import SimulatedBackend


def get_backend(settings=None):
    """Return a new backend for ``settings``, or the simulated one by default.

    Raises ValueError for a backend name that ``parse_broker_section`` would
    have rejected.
    """
    settings = settings or BrokerSettings()
    if settings.backend == "simulated":
        return SimulatedBackend()
    if settings.backend == "client_portal":
        return ClientPortalBackend(settings)
    raise ValueError(
        f"Broker backend {settings.backend!r} is not available. Set "
        "broker.backend to simulated or client_portal."
    )
