"""Write-ahead, broker call and completion shared by submit, modify and cancel.

A request that passed its gates is written as a pending
``IdempotencyRecord`` with its ``order_requested`` event in one
transaction, before the broker is called. The broker's response then ends the
record in one of three ways, each in its own transaction with its event:

- completed: the stored response is replayed for the same key;
- failed after the broker: the broker placed nothing, the approval is
  released and the error is replayed for the same key;
- unknown outcome: the response was lost and a lookup by cOID found nothing;
  the key stays blocked until an operator resolves it.

A crash between the broker call and the last transaction leaves the record
pending; ``orders.recovery`` resolves it by cOID later.
"""

import logging
from dataclasses import dataclass, field

from django.db import transaction

from ibkr_gateway import market
from ibkr_gateway.broker import errors as broker_errors
from orders import events, gates, idempotency
from orders.errors import OrderError
from orders.models import IdempotencyRecord

logger = logging.getLogger(__name__)

# Broker errors after which nothing was placed or changed at the broker.
NOT_PLACED = (
    broker_errors.BrokerPromptRefused,
    broker_errors.BrokerOrderRejected,
    broker_errors.BrokerReplyExpired,
    broker_errors.BrokerLoginRequired,
    broker_errors.BrokerRateLimited,
    broker_errors.BrokerTlsError,
    broker_errors.InvalidBrokerRequest,
    broker_errors.BrokerAccountNotFound,
    broker_errors.BrokerContractNotFound,
    broker_errors.BrokerOrderNotFound,
)


@dataclass
class Outcome:
    """Response to an order request: HTTP status, JSON body and headers."""

    status: int
    body: dict
    replayed: bool = False
    headers: dict = field(default_factory=dict)

    @property
    def ok(self):
        return self.status < 400


@dataclass
class PlacementRequest:
    """An order request that passed validation, on its way to the broker."""

    principal: object
    mode: str
    action: str
    operation: str
    required: list
    key: str
    fields: dict
    request_hash: str
    account_id: str
    account_hash: str
    now: object
    session: object
    coid: str | None = None
    broker_order_id: str | None = None
    symbol: str | None = None
    preview: object = None
    approval: object = None
    order_count: int = 0
    notional: object = 0
    client_context: dict | None = None
    metadata: dict = field(default_factory=dict)


class KeyReplayed(Exception):
    """Raised inside the write-ahead transaction when another request won the key."""

    def __init__(self, replay):
        super().__init__("replay")
        self.replay = replay


def error_body(code, message):
    return {"error": {"code": code, "message": message}}


def replay_outcome(principal, operation, replay, account_id):
    """Return the stored response of ``replay`` and audit that it was replayed."""
    events.allowed(
        "order_replayed",
        principal,
        operation,
        account_id=account_id,
        metadata={
            "idempotency_record": replay.record.pk,
            "status": replay.status,
            "coid": replay.record.coid,
        },
    )
    return Outcome(
        replay.status,
        replay.body,
        replayed=True,
        headers={"Idempotent-Replayed": "true"},
    )


def write_ahead(request, *, checks=()):
    """Write the pending record and its event, after ``checks`` pass, and return it.

    ``request`` is a ``PlacementRequest``. ``checks`` are callables run in
    the transaction before the insert (counters, halt). Raises
    ``KeyReplayed`` when a concurrent request completed the same key, the
    ``OrderError`` of a failed check, or ``AuditUnavailable``.
    """
    with transaction.atomic():
        replay = idempotency.lookup(
            request.principal.id, request.operation, request.key, request.request_hash
        )
        if replay is not None:
            raise KeyReplayed(replay)

        counts = {}
        for check in checks:
            counts.update(check() or {})

        record = IdempotencyRecord.objects.create(
            principal=request.principal.id,
            operation=request.operation,
            key=request.key,
            request_hash=request.request_hash,
            mode=request.mode,
            action=request.action,
            account_id=request.account_id,
            account_hash=request.account_hash,
            coid=request.coid or "",
            broker_order_id=request.broker_order_id or "",
            preview_id=getattr(request.preview, "preview_id", None),
            approval_id=getattr(request.approval, "approval_id", None),
            symbol=request.symbol or "",
            order_count=request.order_count,
            notional=request.notional,
            session_date=request.session,
            created_at=request.now,
        )
        if request.approval is not None:
            gates.reserve_approval(request.approval, record.pk)

        events.allowed(
            events.ORDER_REQUESTED,
            request.principal,
            request.operation,
            account_id=request.account_id,
            required=request.required,
            input=request.fields,
            metadata={
                **request.metadata,
                "idempotency_record": record.pk,
                "coid": request.coid,
                "broker_order_id": request.broker_order_id,
                "counters": counts,
                "client_context": request.client_context,
            },
        )
    return record


def after_write_ahead(record, step):
    """Return ``step()``, which calls the broker; a failure to record becomes 502.

    Once the pending record is written the broker may have acted, so no
    error after it may read as "nothing happened". The record stays pending
    for recovery, and its key gets 409 until then.
    """
    try:
        return step()
    except Exception:
        logger.exception(
            "Order request %s (cOID %s) may have reached the broker, but its "
            "outcome could not be recorded; it stays pending for recovery",
            record.pk,
            record.coid,
        )
    message = (
        "The request may have reached the broker, but the gateway could not "
        "record the outcome. Do not send the order again under a new key: "
        "retry later with the same Idempotency-Key, or ask an operator to run "
        f"'manage.py orders recover' (cOID {record.coid or '-'})."
    )
    return Outcome(502, error_body("outcome_unrecorded", message))


def fail(request, record, error):
    """End ``record`` as failed after the broker: nothing was placed or changed."""
    status = error.status if 400 <= error.status < 600 else 502
    body = error_body(error.code, error.message)
    metadata = {"idempotency_record": record.pk, "coid": record.coid}
    prompts = getattr(error, "prompts", None)
    if prompts:
        metadata["prompts"] = prompts
    detail = getattr(error, "detail", None)
    if detail:
        metadata["broker_detail"] = str(detail)[:500]

    with transaction.atomic():
        record.status = IdempotencyRecord.FAILED_AFTER_BROKER
        record.response_status = status
        record.response_body = body
        record.completed_at = market.now()
        record.save()
        if record.approval_id is not None:
            gates.release_approval(record.approval_id, record.pk)
        if isinstance(error, broker_errors.BrokerPromptRefused):
            refusal = OrderError(error.message, code=error.code, status=status)
            events.refused(
                events.ORDER_FAILED,
                request.principal,
                request.operation,
                refusal,
                account_id=record.account_id,
                metadata=metadata,
            )
        else:
            events.failed(
                events.ORDER_FAILED,
                request.principal,
                request.operation,
                error.code,
                account_id=record.account_id,
                metadata=metadata,
            )
    logger.warning(
        "Order request %s (%s) failed at the broker: %s",
        record.pk,
        record.operation,
        error.code,
    )
    headers = {}
    retry_after = getattr(error, "retry_after", None)
    if retry_after:
        headers["Retry-After"] = str(int(retry_after))
    return Outcome(status, body, headers=headers)


def mark_unknown(request, record, cause):
    """End ``record`` as unknown outcome: the key stays blocked for an operator."""
    message = (
        f"The broker's response was lost ({cause}) and no order with cOID "
        f"{record.coid or '-'} was found. Do not send the order again: an "
        "operator resolves it with 'manage.py orders resolve'."
    )
    with transaction.atomic():
        record.status = IdempotencyRecord.UNKNOWN_OUTCOME
        record.completed_at = market.now()
        record.save()
        events.failed(
            events.ORDER_OUTCOME_UNKNOWN,
            request.principal,
            request.operation,
            "unknown_outcome",
            account_id=record.account_id,
            metadata={
                "idempotency_record": record.pk,
                "coid": record.coid,
                "cause": cause,
            },
        )
    logger.error(
        "Order request %s (%s, cOID %s) has an unknown outcome after %s",
        record.pk,
        record.operation,
        record.coid,
        cause,
    )
    return Outcome(502, error_body("unknown_outcome", message))
