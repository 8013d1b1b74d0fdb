"""Broker read endpoints: health, accounts, positions, quotes and contract search.

Each request opens the backend that the runtime config's ``[broker]``
section names (the simulated backend when there is none) and closes it
before responding. Broker errors propagate to the exception handler, which
responds with their own code and status.
"""

import logging

from django.db import connection
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from api import params, serializers
from api.errors import BrokerConfigInvalid, InvalidParameter
from api.openapi import BROKER_STATUSES, error_responses
from api.views.base import ApiView
from ibkr_gateway import scopes
from ibkr_gateway.broker.config import BrokerSettings, parse_broker_section
from ibkr_gateway.broker.errors import InvalidBrokerRequest
from ibkr_gateway.broker.factory import get_backend
from ibkr_gateway.broker.validation import validate_account_id
from ibkr_gateway.runtime_config import ConfigError, get_runtime_config

logger = logging.getLogger(__name__)


def broker_settings():
    """Return the ``BrokerSettings`` of the runtime config's ``[broker]`` section."""
    config = get_runtime_config()
    table = config.sections.get("broker")
    if table is None:
        return BrokerSettings()
    try:
        return parse_broker_section(config.source, table)
    except ConfigError as exc:
        logger.error("The [broker] section is invalid: %s", exc)
        raise BrokerConfigInvalid() from None


def open_backend():
    return get_backend(broker_settings())


def _audit_head_seq():
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq FROM audit_chain_head WHERE id = 1")
        row = cursor.fetchone()
    return row[0] if row else None


class HealthView(ApiView):
    """Report the broker session state and the audit log's head seq."""

    operation = "api.health.read"
    required_scopes = (scopes.HEALTH_READ,)

    @extend_schema(
        responses={
            200: serializers.HealthSerializer,
            **error_responses(*BROKER_STATUSES),
        }
    )
    def get(self, request):
        params.check_known(request, ())
        with open_backend() as backend:
            session = backend.session_status()
        body = {
            "status": "ok" if session["authenticated"] else "degraded",
            "broker": session,
            "audit_head_seq": _audit_head_seq(),
        }
        return Response(body)


class AccountsView(ApiView):
    """List the broker accounts of the session."""

    operation = "api.accounts.list"
    required_scopes = (scopes.ACCOUNTS_READ,)

    @extend_schema(
        responses={
            200: serializers.AccountsSerializer,
            **error_responses(*BROKER_STATUSES),
        }
    )
    def get(self, request):
        params.check_known(request, ())
        with open_backend() as backend:
            accounts = backend.accounts()
        return Response({"accounts": accounts})


class PositionsView(ApiView):
    """List the open positions of one account."""

    operation = "api.positions.list"
    required_scopes = (scopes.POSITIONS_READ,)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "account_id",
                str,
                OpenApiParameter.PATH,
                description="IBKR account id, such as U1234567 or DU1234567.",
            )
        ],
        responses={
            200: serializers.PositionsSerializer,
            **error_responses(400, 404, *BROKER_STATUSES),
        },
    )
    def get(self, request, account_id):
        params.check_known(request, ())
        try:
            validate_account_id(account_id)
        except InvalidBrokerRequest as exc:
            raise InvalidParameter(
                f"Path parameter account_id: {exc.message}"
            ) from None
        with open_backend() as backend:
            positions = backend.positions(account_id)
        return Response({"account_id": account_id, "positions": positions})


class SnapshotView(ApiView):
    """Return one quote (last, bid, ask) per requested conid, in request order."""

    operation = "api.marketdata.snapshot"
    required_scopes = (scopes.MARKETDATA_READ,)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "conids",
                str,
                required=True,
                description="Comma-separated contract ids, 1 to 100, such as "
                "265598,272093.",
            )
        ],
        responses={
            200: serializers.SnapshotSerializer,
            **error_responses(400, 404, *BROKER_STATUSES),
        },
    )
    def get(self, request):
        params.check_known(request, ("conids",))
        conids = params.conids(request)
        with open_backend() as backend:
            quotes = backend.market_snapshot(conids)
        return Response({"quotes": quotes})


class ContractSearchView(ApiView):
    """List the contracts listed under a symbol; empty when none match."""

    operation = "api.contracts.search"
    required_scopes = (scopes.MARKETDATA_READ,)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "symbol",
                str,
                required=True,
                description="1 to 12 letters, digits or dots, such as AAPL or BRK.B.",
            )
        ],
        responses={
            200: serializers.ContractSearchSerializer,
            **error_responses(400, *BROKER_STATUSES),
        },
    )
    def get(self, request):
        params.check_known(request, ("symbol",))
        symbol = params.symbol(request)
        with open_backend() as backend:
            contracts = backend.search_contracts(symbol)
        return Response({"symbol": symbol, "contracts": contracts})
