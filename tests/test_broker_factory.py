"""get_backend: the backend that BrokerSettings.backend names."""

import pytest

from ibkr_gateway.broker.client_portal import ClientPortalBackend
from ibkr_gateway.broker.config import BrokerSettings
from ibkr_gateway.broker.factory import get_backend
from ibkr_gateway.broker.simulated import SimulatedBackend


def test_default_backend_simulated():
    assert isinstance(get_backend(), SimulatedBackend)


def test_client_portal_backend_built():
    settings = BrokerSettings(
        backend="client_portal", base_url="https://gateway.invalid/v1/api"
    )

    # Construction opens no connection, so no network is touched here.
    with get_backend(settings) as backend:
        assert isinstance(backend, ClientPortalBackend)


def test_unavailable_backend_raises():
    with pytest.raises(ValueError, match="sidecar"):
        get_backend(BrokerSettings(backend="sidecar"))
