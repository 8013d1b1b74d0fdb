"""Read, halt and resume trading; each change is stored with its history and event.

``halt`` and ``resume`` update the ``TradingHalt`` row, append a
``TradingHaltChange`` row and write one audit event in a single transaction,
so the three commit together or not at all. A request for the state already
in force is allowed and recorded with ``changed: false``.
"""

from django.db import transaction
from django.utils import timezone

import audit
from audit.envelope import ALLOW, COMPLETED, DENIED, DENY
from orders.models import (
    MAX_REASON_LENGTH,
    SINGLETON_ID,
    TradingHalt,
    TradingHaltChange,
)

NEW_INSTALLATION_REASON = "New installation: an operator must resume trading."
MISSING_ROW_REASON = (
    "The trading halt row is missing; run 'python manage.py migrate', then "
    "resume trading."
)

# Resuming lets orders reach the broker again, so only a person may do it: an
# operator at the command line or a signed-in user. Any principal may halt.
# The ``[cli] operator`` flag is checked by ``manage.py trading``, which reads
# the runtime config.
OPERATOR_ACTOR_KINDS = frozenset({"cli", "user"})

HALT = "halt"
RESUME = "resume"
_EVENTS = {
    HALT: ("trading_halted", "trading.halt", True),
    RESUME: ("trading_resumed", "trading.resume", False),
    # Not a state change; listed so a denied cancel-all is recorded alike.
    "cancel-all": ("trading_cancel_all_started", "trading.cancel_all", None),
}


class InvalidReason(ValueError):
    """A halt or resume reason that is empty, too long or not printable."""


class OperatorRequired(PermissionError):
    """A principal that may not resume trading; the denial has been audited."""


def validate_reason(reason):
    """Return ``reason`` without surrounding whitespace, or raise ``InvalidReason``."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidReason("reason is missing; say why trading is halted or resumed")
    reason = reason.strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidReason(
            f"reason is {len(reason)} characters, over the limit of "
            f"{MAX_REASON_LENGTH}; shorten it"
        )
    if not reason.isprintable():
        raise InvalidReason(
            "reason contains a line break or control character; write it on one line"
        )
    return reason


def current_state():
    """Return the ``TradingHalt`` row; a missing row reads as halted.

    Reading a missing row as halted fails closed: trading stays halted
    until the row is restored. The returned object is unsaved in that case.
    """
    state = TradingHalt.objects.filter(pk=SINGLETON_ID).first()
    if state is None:
        state = TradingHalt(
            halted=True,
            reason=MISSING_ROW_REASON,
            changed_by="system",
            changed_at=timezone.now(),
        )
    return state


def halt(actor, reason, request_id=None):
    """Halt trading as ``actor`` and return the ``TradingHaltChange`` row.

    ``actor`` is ``{"kind": ..., "id": ...}`` as ``audit.log_event`` takes
    it. Raises ``InvalidReason`` before anything is written, and the audit
    errors of ``audit.log_event``, in which case nothing changes.
    """
    return _apply(HALT, actor, reason, request_id)


def resume(actor, reason, request_id=None):
    """Resume trading as an operator ``actor`` and return the ``TradingHaltChange`` row.

    Raises ``OperatorRequired``, after auditing the denial, when the actor
    kind is not one of ``OPERATOR_ACTOR_KINDS``. Otherwise behaves as
    ``halt``.
    """
    reason = validate_reason(reason)
    if not isinstance(actor, dict) or actor.get("kind") not in OPERATOR_ACTOR_KINDS:
        kind = actor.get("kind") if isinstance(actor, dict) else None
        record_denied(actor, RESUME, request_id=request_id)
        raise OperatorRequired(
            f"actor kind {kind!r} may not resume trading; an operator must resume "
            "it with 'manage.py trading resume --reason TEXT'"
        )
    return _apply(RESUME, actor, reason, request_id)


def record_denied(actor, action, request_id=None, scopes=None):
    """Append the event for a principal that may not halt, resume or cancel all."""
    _event_type, operation, _halted = _EVENTS[action]
    return audit.log_event(
        "trading_halt_denied",
        operation=operation,
        actor=actor,
        decision=DENY,
        outcome=DENIED,
        error_code="operator_required",
        scopes=scopes,
        request_id=request_id,
        metadata={"action": action},
    )


def _apply(action, actor, reason, request_id):
    event_type, operation, halted = _EVENTS[action]
    reason = validate_reason(reason)
    now = timezone.now()
    with transaction.atomic():
        # The gateway's SQLite connections begin every transaction with
        # BEGIN IMMEDIATE, so the write lock is already held here and the
        # read below cannot go stale before the update.
        state, _created = TradingHalt.objects.get_or_create(
            pk=SINGLETON_ID,
            defaults={
                "halted": True,
                "reason": MISSING_ROW_REASON,
                "changed_by": "system",
                "changed_at": now,
            },
        )
        previous = state.halted
        changed = previous != halted
        if changed:
            state.halted = halted
            state.reason = reason
            state.changed_by = actor["id"]
            state.changed_at = now
            state.save()
        record = audit.log_event(
            event_type,
            operation=operation,
            actor=actor,
            decision=ALLOW,
            outcome=COMPLETED,
            request_id=request_id,
            metadata={
                "reason": reason,
                "changed": changed,
                "halted": halted,
                "previous_halted": previous,
            },
        )
        return TradingHaltChange.objects.create(
            halted=halted,
            changed=changed,
            reason=reason,
            changed_by=actor["id"],
            changed_at=now,
            event_id=record.event_id,
        )
