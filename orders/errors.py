"""Order workflow errors as data: a stable code, an HTTP status and a fix.

Workflows raise ``OrderError`` for every refusal; the REST views and the
``orders`` command turn it into their own response with ``code``, ``status``
and ``message``. A refusal is audited by the workflow before it is raised.
Messages name the offending value only when it is not a secret or an
account id.
"""

from audit.envelope import DENIED, DENY, REFUSE, REFUSED


class OrderError(Exception):
    """A refused order request; ``decision`` is how the audit records it."""

    code = "invalid_order"
    status = 400
    decision = REFUSE
    default_message = "The order request is invalid. Correct it and retry."

    def __init__(self, message=None, *, code=None, status=None, headers=None):
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = dict(headers or {})
        super().__init__(self.message)

    @property
    def outcome(self):
        return DENIED if self.decision == DENY else REFUSED

    def to_dict(self):
        return {"code": self.code, "message": self.message}


class InvalidOrder(OrderError):
    """A request field that is missing, malformed or outside its range."""


class RiskRefused(OrderError):
    """The risk policy refuses the order; ``code`` names the check."""

    status = 422
    default_message = "The risk policy rejects this order."


class GateRefused(OrderError):
    """A trading gate (mode disabled, account, preview, approval, halt)."""

    status = 403


class FourEyesDenied(OrderError):
    code = "four_eyes_required"
    status = 403
    decision = DENY
    default_message = (
        "Four-eyes is on: the approval must come from a person other than "
        "the one who submits. Ask a colleague to approve the preview."
    )


class OperatorRequired(OrderError):
    code = "operator_required"
    status = 403
    decision = DENY
    default_message = (
        "Only an operator may do this. Run it as a [cli] principal with "
        "operator = true."
    )


class NotFound(OrderError):
    status = 404


class IdempotencyConflict(OrderError):
    """The key was used before for another request, or is still in flight."""

    status = 409
