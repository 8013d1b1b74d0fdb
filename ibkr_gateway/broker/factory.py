"""Construction of the broker backend that ``BrokerSettings.backend`` names."""

from ibkr_gateway.broker.client_portal import ClientPortalBackend
from ibkr_gateway.broker.simulated import SimulatedBackend


def get_backend(settings=None):
    """Return a new backend for ``settings``, by default the ``[broker]``
    section of the runtime config (the simulated broker in development mode).

    Raises ValueError for a backend name that ``parse_broker_section`` would
    have rejected.
    """
    if settings is None:
        from ibkr_gateway.runtime_config import get_runtime_config

        settings = get_runtime_config().broker
    if settings.backend == "simulated":
        return SimulatedBackend()
    if settings.backend == "client_portal":
        return ClientPortalBackend(settings)
    raise ValueError(
        f"Broker backend {settings.backend!r} is not available. Set "
        "broker.backend to simulated or client_portal."
    )
