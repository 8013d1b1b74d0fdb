"""Broker errors as data: each has a stable ``code``, an HTTP ``status`` and a fix.

Backends raise only these for broker problems, so callers can map any of them
to a response with ``error.to_dict()`` and ``error.status`` without knowing
which backend or which IBKR response caused it.
"""


class BrokerError(Exception):
    """Base of every broker error, whose ``message`` states the failure and the fix."""

    code = "broker_error"
    status = 502
    default_message = (
        "The broker request failed. Retry, and check the gateway log if it "
        "keeps failing."
    )

    def __init__(self, message=None, *, status=None):
        self.message = message or self.default_message
        if status is not None:
            self.status = status
        super().__init__(self.message)

    def to_dict(self):
        """Return the JSON-ready error body: ``code``, ``message`` and extras."""
        return {"code": self.code, "message": self.message}


class BrokerLoginRequired(BrokerError):
    code = "broker_login_required"
    status = 503
    default_message = (
        "The IBKR session is not logged in. Log in to the Client Portal "
        "Gateway, then retry."
    )


class BrokerUnavailable(BrokerError):
    """Connection failure (status 503) or a 5xx response from IBKR (status 502)."""

    code = "broker_unavailable"
    status = 503
    default_message = (
        "The IBKR gateway is unreachable or returned a server error. Check "
        "that it is running, then retry."
    )


class BrokerTlsError(BrokerError):
    """The gateway's TLS certificate failed verification."""

    code = "broker_tls_error"
    status = 502
    default_message = (
        "The IBKR gateway's TLS certificate failed verification. Give the "
        "gateway a certificate this host trusts, or, for a gateway on "
        "localhost, set broker.verify_tls = false."
    )


class BrokerTimeout(BrokerError):
    code = "broker_timeout"
    status = 504
    default_message = (
        "The IBKR gateway did not respond in time. Retry later, or raise "
        "broker.timeout_seconds if this keeps happening."
    )


class BrokerResponseTooLarge(BrokerError):
    code = "broker_response_too_large"
    status = 502
    default_message = (
        "The IBKR gateway response exceeded broker.max_response_bytes. "
        "Request less data, or raise that limit."
    )


class BrokerResponseInvalid(BrokerError):
    """Malformed JSON, or JSON whose shape the parser does not expect."""

    code = "broker_response_invalid"
    status = 502
    default_message = (
        "The IBKR gateway returned a response of an unexpected format. Check "
        "the gateway version, then report the endpoint named in the log."
    )


class BrokerRequestRejected(BrokerError):
    """A 4xx response other than 401, 429 and the no-session errors.

    ``detail`` is IBKR's ``error`` text, truncated, kept out of ``message``
    because it can echo account ids.
    """

    code = "broker_request_rejected"
    status = 502
    default_message = (
        "The IBKR gateway rejected the request. Check the account, contract "
        "and parameters, then retry."
    )

    def __init__(self, message=None, *, status=None, detail=None):
        super().__init__(message, status=status)
        self.detail = detail


class BrokerRateLimited(BrokerError):
    """A 429 from IBKR, with ``retry_after`` in seconds or None when not given."""

    code = "broker_rate_limited"
    status = 429
    default_message = (
        "IBKR rejected the request because its rate limit was exceeded. Wait "
        "for the retry_after delay, then retry less often."
    )

    def __init__(self, message=None, *, retry_after=None):
        super().__init__(message)
        self.retry_after = retry_after

    def to_dict(self):
        return {**super().to_dict(), "retry_after": self.retry_after}


class MarketDataNotReady(BrokerError):
    """IBKR is still subscribing to the requested market data."""

    code = "market_data_not_ready"
    status = 503
    default_message = (
        "IBKR has not delivered market data for these contracts yet. Retry in "
        "a few seconds."
    )

    def __init__(self, message=None, *, conids=(), retry_after=2):
        super().__init__(message)
        self.conids = list(conids)
        self.retry_after = retry_after

    def to_dict(self):
        return {
            **super().to_dict(),
            "conids": self.conids,
            "retry_after": self.retry_after,
        }


class InvalidBrokerRequest(BrokerError):
    """A request value, such as an account id or conid, that fails validation."""

    code = "invalid_broker_request"
    status = 400
    default_message = "The broker request is invalid. Correct the value and retry."


class BrokerAccountNotFound(BrokerError):
    code = "broker_account_not_found"
    status = 404
    default_message = (
        "The account is not among the broker accounts of this session. Use an "
        "account id that the accounts list returns (GET /api/v1/accounts)."
    )


class BrokerContractNotFound(BrokerError):
    code = "broker_contract_not_found"
    status = 404
    default_message = (
        "No contract has this conid. Look the conid up with search_contracts()."
    )


class BrokerOrderRejected(BrokerError):
    """IBKR refused an order, a modify or a cancel; ``detail`` is its text.

    ``detail`` is kept out of ``message`` because IBKR's text can name the
    account. The order was not placed or changed.
    """

    code = "broker_order_rejected"
    status = 422
    default_message = (
        "The broker rejected the order. Check the reason recorded in the "
        "audit log, correct the order and submit it with a new idempotency key."
    )

    def __init__(self, message=None, *, detail=None):
        super().__init__(message)
        self.detail = detail


class BrokerOrderNotFound(BrokerError):
    code = "broker_order_not_found"
    status = 404
    default_message = (
        "The broker has no order with this id. List the orders "
        "(GET /api/v1/orders) and use an id from that list."
    )


class DuplicateClientOrderId(BrokerError):
    """IBKR already has an order with this cOID, so nothing new was placed.

    The earlier order is found with ``find_order_by_coid``, never by sending
    again.
    """

    code = "duplicate_coid"
    status = 409
    default_message = (
        "The broker already holds an order with this cOID, so no new order "
        "was placed. Look the order up by its cOID before doing anything else."
    )

    def __init__(self, message=None, *, coid=None):
        super().__init__(message)
        self.coid = coid


class BrokerPromptRefused(BrokerError):
    """IBKR asked a question whose message id is not on the confirm allow-list.

    The question was not answered, so the order was not placed. ``prompts``
    lists ``{"message_id": str | None, "text": str}`` for the audit log.
    """

    code = "broker_prompt_refused"
    status = 422
    default_message = (
        "The broker asked for a confirmation that the gateway may not give, so "
        "the order was not placed. An operator can review the question in the "
        "audit log and add its message id to broker.confirm_message_ids."
    )

    def __init__(self, message=None, *, prompts=()):
        super().__init__(message)
        self.prompts = list(prompts)


class BrokerReplyExpired(BrokerError):
    """A reply id that IBKR no longer recognizes: the question expired unanswered.

    The order was not placed; a new submit with a new idempotency key is
    needed.
    """

    code = "broker_reply_expired"
    status = 502
    default_message = (
        "The broker's confirmation question expired before it was answered, "
        "so the order was not placed. Submit it again with a new idempotency key."
    )
