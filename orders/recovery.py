"""Resolve order requests whose broker outcome is not known.

A submit whose broker response was lost is found again by its cOID, never by
sending it again. ``recover_outcomes`` looks up every unknown-outcome
submit and every pending one older than ``PENDING_GRACE_SECONDS`` (a crash
between the broker call and the commit). What the broker cannot find stays
``unknown_outcome`` until an operator runs ``resolve`` with what they
learned from the broker.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction

from ibkr_gateway import market
from ibkr_gateway.broker.errors import BrokerError
from orders import events, gates, intent
from orders.backends import open_backend
from orders.errors import InvalidOrder, NotFound
from orders.models import IdempotencyRecord
from orders.models.choices import Kind
from orders.observe import tracked_model
from orders.placement import PlacementRequest, fail, mark_unknown
from orders.principal import Principal
from orders.submit import _find_placed, complete_submit, tickets_for

logger = logging.getLogger(__name__)

# Longer than any broker call with its reply rounds can take, so a request
# still in flight in another process is never touched.
PENDING_GRACE_SECONDS = 120
RECONCILER = Principal(kind="reconciler", id="reconciler", person="reconciler")


@dataclass
class Recovery:
    """Result of one record's recovery: ``completed``, ``unknown`` or ``skipped``."""

    record_id: int
    coid: str
    result: str


def _request_for(record, principal):
    return PlacementRequest(
        principal=principal,
        mode=record.mode,
        action=record.action,
        operation=record.operation,
        required=[],
        key=record.key,
        fields={},
        request_hash=record.request_hash,
        account_id=record.account_id,
        account_hash=record.account_hash,
        now=record.created_at,
        session=record.session_date,
        coid=record.coid,
        broker_order_id=record.broker_order_id or None,
        symbol=record.symbol,
    )


def _submitted_order(record):
    """Return the ``OrderIntent`` of a submit record, from its preview."""
    from orders.models import OrderPreview

    preview = OrderPreview.objects.get(preview_id=record.preview_id)
    data = {"account_id": record.account_id, **preview.intent}
    return intent.order_intent(data, bracket=preview.kind == Kind.BRACKET)


def _tickets(record, order, conid):
    return tickets_for(order, record.coid, conid)


def unresolved(now=None, grace_seconds=PENDING_GRACE_SECONDS):
    """Return submit records with an unknown outcome or a stale pending one."""
    if now is None:
        now = market.now()
    cutoff = now - timedelta(seconds=grace_seconds)
    unknown = IdempotencyRecord.objects.filter(status=IdempotencyRecord.UNKNOWN_OUTCOME)
    stale = IdempotencyRecord.objects.filter(
        status=IdempotencyRecord.PENDING, created_at__lt=cutoff
    )
    return list((unknown | stale).order_by("created_at"))


def recover_outcomes(principal=RECONCILER, now=None):
    """Look every unresolved submit up by cOID; return one ``Recovery`` each.

    Running it twice changes nothing the first run did not.
    """
    results = []
    for record in unresolved(now):
        if record.action != IdempotencyRecord.SUBMIT:
            results.append(Recovery(record.pk, record.coid, "skipped"))
            continue
        results.append(_recover(record, principal))
    return results


def _recover(record, principal):
    order = _submitted_order(record)
    request = _request_for(record, principal)
    with open_backend(record.mode) as backend:
        probe = backend.find_order_by_coid(record.account_id, record.coid)
        if probe is None:
            if record.status == IdempotencyRecord.PENDING:
                mark_unknown(request, record, "pending_after_restart")
            return Recovery(record.pk, record.coid, "unknown")
        tickets = _tickets(record, order, probe["conid"])
        placed = _find_placed(backend, record.account_id, tickets)
    if placed is None:
        return Recovery(record.pk, record.coid, "unknown")
    answer = {"orders": placed, "confirmed_prompts": [], "recovered_by": "coid_lookup"}
    complete_submit(request, record, tickets, order, answer)
    logger.info("Order request %s (cOID %s) recovered by cOID", record.pk, record.coid)
    return Recovery(record.pk, record.coid, "completed")


def find_unresolved(coid, record_id=None):
    """Return the one unresolved record with ``coid`` (and ``record_id``), or raise."""
    candidates = [record for record in unresolved() if record.coid == coid]
    if record_id is not None:
        candidates = [record for record in candidates if record.pk == record_id]
    if not candidates:
        raise NotFound(
            f"No unresolved order request has cOID {coid}"
            + (f" and record id {record_id}" if record_id is not None else "")
            + ". List them with 'manage.py orders unresolved'.",
            code="record_not_found",
        )
    if len(candidates) > 1:
        ids = ", ".join(str(record.pk) for record in candidates)
        raise InvalidOrder(
            f"Several unresolved requests have cOID {coid} (records {ids}). "
            "Name one with --record ID; 'manage.py orders unresolved' shows "
            "what each one was.",
            code="ambiguous_coid",
        )
    return candidates[0]


def resolve(principal, coid, *, broker_order_id=None, reason="", record_id=None):
    """Resolve the record of ``coid`` as placed (with ``broker_order_id``) or not.

    Only an operator may call it; the caller checks. Returns the record.
    """
    record = find_unresolved(coid, record_id)
    request = _request_for(record, principal)
    if broker_order_id is None:
        _resolve_not_placed(request, record, reason)
    elif record.action == IdempotencyRecord.SUBMIT:
        _resolve_placed_submit(request, record, broker_order_id)
    else:
        _resolve_change_applied(request, record, broker_order_id)

    record.refresh_from_db()
    events.allowed(
        events.ORDER_OUTCOME_RESOLVED,
        principal,
        "orders.resolve",
        account_id=record.account_id,
        metadata={
            "idempotency_record": record.pk,
            "coid": coid,
            "as": "placed" if broker_order_id else "not_placed",
            "broker_order_id": broker_order_id,
            "status": record.status,
            "reason": reason,
        },
    )
    return record


def _resolve_not_placed(request, record, reason):
    error = BrokerError(
        "An operator confirmed that the broker did not act on this request. "
        "Send it again with a new idempotency key if it is still wanted."
    )
    error.code = "order_not_placed"
    error.status = 502
    fail(request, record, error)


def _resolve_placed_submit(request, record, broker_order_id):
    order = _submitted_order(record)
    with open_backend(record.mode) as backend:
        state = backend.order_status(record.account_id, broker_order_id)
        _check_placed_order(record, broker_order_id, state)
        tickets = _tickets(record, order, state["conid"])
        placed = [
            {
                "coid": record.coid,
                "broker_order_id": broker_order_id,
                "status": state["status"],
            }
        ]
        if len(tickets) > 1:
            children = _find_placed(backend, record.account_id, tickets[1:])
            if children is None:
                raise NotFound(
                    "The bracket's children were not found at the broker by "
                    "their cOIDs; check the broker, then resolve again.",
                    code="bracket_children_not_found",
                )
            placed.extend(children)
    answer = {"orders": placed, "confirmed_prompts": [], "recovered_by": "operator"}
    complete_submit(request, record, tickets, order, answer)


def _check_placed_order(record, broker_order_id, state):
    """Refuse a broker order that cannot be the one ``record`` sent."""
    # A Client Portal status response may carry no cOID, so None is accepted.
    if state.get("coid") not in (None, record.coid):
        raise InvalidOrder(
            f"Broker order {broker_order_id} has cOID {state['coid']}, not "
            f"{record.coid}. Check the order id at the broker, then resolve again.",
            code="coid_mismatch",
        )
    tracked = tracked_model(record.mode).objects.filter(
        account_id=record.account_id, broker_order_id=broker_order_id
    )
    if tracked.exists():
        raise InvalidOrder(
            f"Broker order {broker_order_id} is already tracked for another "
            "request. Check the order id at the broker, then resolve again.",
            code="order_already_tracked",
        )


def _resolve_change_applied(request, record, broker_order_id):
    """Complete a modify or cancel that an operator found applied at the broker.

    A modify's tracked order takes the fields of its preview; a cancel's
    new status is recorded by the next read of the order.
    """
    if broker_order_id != record.broker_order_id:
        raise InvalidOrder(
            f"Request {record.pk} changed broker order {record.broker_order_id}, "
            f"not {broker_order_id}. Pass that order id to --as-placed.",
            code="broker_order_mismatch",
        )
    body = {"mode": record.mode, "resolved_by_operator": True}
    now = market.now()
    with transaction.atomic():
        if record.action == IdempotencyRecord.MODIFY:
            _apply_modified_fields(record, broker_order_id, now)
        record.status = IdempotencyRecord.COMPLETED
        record.response_status = 200
        record.response_body = body
        record.completed_at = now
        record.save()
        if record.approval_id is not None:
            gates.consume_approval(record.approval_id, record.pk, now)


def _apply_modified_fields(record, broker_order_id, now):
    order = _submitted_order(record)
    tracked = (
        tracked_model(record.mode)
        .objects.filter(account_id=record.account_id, broker_order_id=broker_order_id)
        .first()
    )
    if tracked is None:
        raise NotFound(
            f"No {record.mode} order {broker_order_id} is tracked for this "
            "request's account. Check the order id, then resolve again.",
            code="order_not_found",
        )
    tracked.quantity = order.quantity
    tracked.price = order.limit_price
    tracked.order_type = order.order_type
    tracked.tif = order.tif
    tracked.updated_at = now
    tracked.save()
