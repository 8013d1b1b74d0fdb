"""Preview workflow: validate an order against the risk policy and store it.

``create_preview`` writes ``order_preview_created`` with the preview, or
``order_preview_refused`` with the refusal code before raising. The
preview's expiry comes from the risk policy of the account's mode.
"""

import logging
from datetime import timedelta

from django.db import transaction

from ibkr_gateway import market, scopes
from ibkr_gateway.broker.errors import BrokerError
from orders import events, gates, intent, risk
from orders.backends import open_backend
from orders.errors import OrderError
from orders.models import OrderPreview
from orders.models.choices import Kind
from orders.submit import tickets_for

logger = logging.getLogger(__name__)

OPERATION = "orders.preview"
# A what-if places nothing, so its ticket needs no real cOID.
WHATIF_COID = "gw-whatif"
BRACKET_OPERATION = "orders.preview.bracket"


def preview_view(preview):
    """Return the JSON-ready description of ``preview``."""
    return {
        "preview_id": str(preview.preview_id),
        "mode": preview.mode,
        "kind": preview.kind,
        "order": preview.intent,
        "policy_id": preview.policy_id,
        "notional": intent.decimal_text(preview.notional),
        "checks": preview.checks,
        "whatif": preview.checks.get("whatif"),
        "created_at": _iso(preview.created_at),
        "expires_at": _iso(preview.expires_at),
    }


def _iso(value):
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def create_preview(principal, data, *, bracket=False):
    """Return the new ``OrderPreview`` for the request ``data``, or raise.

    Raises ``OrderError`` (audited) for an invalid or refused order, and
    ``BrokerError`` (audited as failed) when the broker cannot be asked.
    """
    operation = BRACKET_OPERATION if bracket else OPERATION
    required = [scopes.ORDERS_PREVIEW]
    account_id = intent.safe_account_id(data)
    try:
        return _create(principal, data, bracket, operation, required)
    except OrderError as error:
        events.refused(
            events.PREVIEW_REFUSED,
            principal,
            operation,
            error,
            account_id=account_id,
            required=required,
            input=data,
        )
        raise
    except BrokerError as error:
        events.failed(
            events.PREVIEW_REFUSED,
            principal,
            operation,
            error.code,
            account_id=account_id,
            required=required,
            input=data,
        )
        raise


def _whatif(backend, order, conid):
    """Return the broker's what-if estimate of the (parent) order, or its error.

    The estimate informs the approver; it is not a gate, so a broker that
    cannot give one does not stop the preview.
    """
    ticket = tickets_for(order, WHATIF_COID, conid)[0]
    try:
        return backend.whatif(order.account_id, ticket)
    except BrokerError as error:
        logger.warning("What-if estimate failed: %s", error.code)
        return {"error": error.code}


def _create(principal, data, bracket, operation, required):
    optional = ("limit_price", "client_context")
    fields = ("account_id", *intent.ORDER_FIELDS)
    if bracket:
        fields = (*fields, *intent.BRACKET_FIELDS)
    intent.check_fields(data, fields, optional)
    order = intent.order_intent(data, bracket=bracket)
    context = intent.client_context(data.get("client_context"))

    mode = gates.mode_of_account(order.account_id)
    gates.require_enabled(mode)
    policy = gates.trading().policy_for(mode)
    now = market.now()
    with open_backend(mode) as backend:
        result = risk.evaluate(order, policy, backend, now)
        estimate = _whatif(backend, order, result.conid)

    # The preview and its event commit together, so no preview exists that
    # the audit log does not show.
    with transaction.atomic():
        fields_json = order.fields()
        preview = OrderPreview.objects.create(
            mode=mode,
            kind=Kind.BRACKET if bracket else Kind.SINGLE,
            account_hash=gates.account_hash(order.account_id),
            intent=fields_json,
            request_hash=intent.request_hash(fields_json),
            policy_id=policy.policy_id,
            notional=result.notional,
            checks={**result.as_dict(), "whatif": estimate},
            created_by=principal.id,
            created_by_person=principal.person,
            created_at=now,
            expires_at=now + timedelta(seconds=policy.preview_ttl_seconds),
        )
        events.allowed(
            events.PREVIEW_CREATED,
            principal,
            operation,
            account_id=order.account_id,
            required=required,
            input=data,
            metadata={
                "preview_id": str(preview.preview_id),
                "mode": mode,
                "kind": preview.kind,
                "order": fields_json,
                "policy_id": policy.policy_id,
                "checks": preview.checks,
                "expires_at": _iso(preview.expires_at),
                "client_context": context,
            },
        )
    return preview
