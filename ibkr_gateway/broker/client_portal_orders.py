"""Order requests to the Client Portal Gateway and the mapping of their responses.

Requests carry tickets that ``client_portal_tickets`` validated and encoded.
No order POST or DELETE is retried. Responses map to results and errors as
follows:

- Submit (``POST iserver/account/{accountId}/orders``) and modify (``POST
  iserver/account/{accountId}/order/{orderId}``) return a list of placed
  orders (``order_id``, ``order_status``). The status is returned as is, also
  ``Inactive`` or ``Rejected``, and the caller maps it to a lifecycle.
- Either may return a question instead: a list that contains one ``{"id",
  "message", "messageIds"}``. A question whose every message id is in
  ``broker.confirm_message_ids`` is confirmed with ``POST iserver/reply/{id}``
  ``{"confirmed": true}``, and the reply's response is read the same way, for
  at most ``broker.max_reply_rounds`` questions per request. Any other
  question raises ``BrokerPromptRefused`` unanswered, so the order is not
  placed.
- An error text that contains ``Local order ID=`` raises
  ``DuplicateClientOrderId`` on a submit. On a modify, a text saying that the
  order does not exist raises ``BrokerOrderNotFound``. Any other error response
  with a 2xx or 4xx status raises ``BrokerOrderRejected``, also when it comes
  after a confirmed question.
- A reply whose response has status 503 or the text "reply id not found"
  raises ``BrokerReplyExpired``. Any other 5xx raises ``BrokerUnavailable``, and a
  timeout raises ``BrokerTimeout``, after which the order may have been
  placed.
- Cancel (``DELETE iserver/account/{accountId}/order/{orderId}``) returns
  ``{"msg", "order_id", "conid", "account"}``, which gives ``PendingCancel``,
  or ``Cancelled`` when IBKR cancelled the order at once (``conid`` -1 and
  ``account`` null). An order that does not exist raises
  ``BrokerOrderNotFound``, and other errors raise ``BrokerOrderRejected``.
- WhatIf (``POST iserver/account/{accountId}/orders/whatif``) amounts such as
  ``"1,977.60 USD (10 Shares)"`` become decimal strings.

IBKR's error text goes only into ``detail``, truncated, never into
``message`` or the log, because it can name the account.
"""

import logging
import re
from decimal import Decimal

from ibkr_gateway.broker.base import format_decimal
from ibkr_gateway.broker.client_portal_responses import expect_dict
from ibkr_gateway.broker.client_portal_tickets import (
    ORDER_ID_PATTERN,
    encode_json,
    order_body,
)
from ibkr_gateway.broker.config import MAX_REPLY_ROUNDS
from ibkr_gateway.broker.errors import (
    BrokerOrderNotFound,
    BrokerOrderRejected,
    BrokerPromptRefused,
    BrokerReplyExpired,
    BrokerResponseInvalid,
    BrokerUnavailable,
    DuplicateClientOrderId,
)

logger = logging.getLogger(__name__)

# The reply ids seen are UUIDs. The id becomes a path segment.
REPLY_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}", re.ASCII)
MESSAGE_ID_LENGTH = 32
PROMPT_TEXT_LENGTH = 2000
DETAIL_LENGTH = 200

# NOTE: only the prefix "Order couldn't be submitted: Local order ID=" of
# IBKR's duplicate cOID text is known, from an open-source IBKR client. The
# match is deliberately loose: reading a duplicate as a reject would hide an
# order that exists at the broker.
_DUPLICATE_COID = re.compile(r"Local order ID=(\S+)")
_ORDER_MISSING = re.compile(
    r"\b(?:doesn't|does not) exist\b|\border (?:id )?not found\b", re.IGNORECASE
)
_REPLY_MISSING = re.compile(r"\breply id not found\b", re.IGNORECASE)
_MONEY = re.compile(
    r"(-?)([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(\.[0-9]+)?"
    r"(?:\s+[A-Z]{3})?(?:\s*\([^()]*\))?",
    re.ASCII,
)
_REPLY_ENDPOINT = "iserver/reply/{reply_id}"


# Responses


def _error_text(data):
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"]
    return None


def _detail(text):
    return text[:DETAIL_LENGTH] if text else None


def is_order_missing(text):
    """Return whether IBKR's error ``text`` reports that the order does not exist."""
    return bool(text and _ORDER_MISSING.search(text))


def _failed(error, endpoint, status):
    """Log ``error`` for an order response from ``endpoint`` and return it."""
    logger.warning(
        "IBKR order request %s failed with %s (HTTP status %s).",
        endpoint,
        error.code,
        status,
    )
    return error


def _maybe_applied(endpoint, problem):
    """Log and return the error for an order response that cannot be read."""
    logger.error(
        "IBKR order request %s returned an unreadable response (%s), so its "
        "outcome is unknown.",
        endpoint,
        problem,
    )
    return BrokerResponseInvalid(
        f"The IBKR response from {endpoint} is invalid: {problem}. The request may "
        "have taken effect, so look the order up by its cOID or order id before "
        "sending it again."
    )


def _raise_for_error(response, endpoint, replied, coids=(), order_missing=False):
    """Raise the error that an order response reports, if it reports one."""
    status, data = response
    text = _error_text(data)
    if replied and (status == 503 or (text and _REPLY_MISSING.search(text))):
        raise _failed(BrokerReplyExpired(), endpoint, status)
    if status >= 500:
        raise _failed(BrokerUnavailable(status=502), endpoint, status)
    if 200 <= status < 300 and text is None:
        return
    if not (200 <= status < 300 or 400 <= status < 500):
        raise _maybe_applied(endpoint, f"status {status}")

    duplicate = _DUPLICATE_COID.search(text) if coids and text else None
    if duplicate:
        # The text names the cOID, but only a cOID of these tickets is trusted.
        named = duplicate.group(1).rstrip(".")
        coid = named if named in coids else coids[0]
        raise _failed(DuplicateClientOrderId(coid=coid), endpoint, status)
    if order_missing and is_order_missing(text):
        raise _failed(BrokerOrderNotFound(), endpoint, status)
    message = None
    if replied:
        message = (
            "The broker rejected the order after the gateway confirmed its "
            "question, so the order was not placed. Check the reason recorded "
            "in the audit log, correct the order and submit it with a new "
            "idempotency key."
        )
    raise _failed(BrokerOrderRejected(message, detail=_detail(text)), endpoint, status)


def _is_question(entry):
    return (
        isinstance(entry, dict)
        and "order_id" not in entry
        and any(key in entry for key in ("id", "message", "messageIds"))
    )


def _prompts(question):
    """Return ``[{"message_id", "text"}]`` of a question's index-aligned lists."""
    texts = question.get("message")
    texts = [texts] if isinstance(texts, str) else texts
    texts = texts if isinstance(texts, list) else []
    ids = question.get("messageIds")
    ids = ids if isinstance(ids, list) else []

    prompts = []
    for index in range(max(len(texts), len(ids), 1)):
        text = texts[index] if index < len(texts) else ""
        message_id = ids[index] if index < len(ids) else None
        prompts.append(
            {
                "message_id": message_id[:MESSAGE_ID_LENGTH]
                if isinstance(message_id, str) and message_id
                else None,
                "text": text[:PROMPT_TEXT_LENGTH] if isinstance(text, str) else "",
            }
        )
    return prompts


def _question(data, endpoint):
    """Return ``(reply_id, prompts)`` of a question, or None for placed orders.

    ``reply_id`` is None when the question cannot be answered: it has no
    valid id, or the response contains several questions.
    """
    if not isinstance(data, list) or not data:
        shape = "an empty list" if data == [] else type(data).__name__
        raise _maybe_applied(endpoint, f"expected placed orders, got {shape}")
    questions = [entry for entry in data if _is_question(entry)]
    if not questions:
        return None
    if len(questions) != len(data):
        raise _maybe_applied(endpoint, "it mixes placed orders and questions")

    prompts = [prompt for question in questions for prompt in _prompts(question)]
    reply_id = questions[0].get("id")
    if (
        len(questions) > 1
        or not isinstance(reply_id, str)
        or not REPLY_ID_PATTERN.fullmatch(reply_id)
    ):
        return None, prompts
    return reply_id, prompts


def _prompt_error(prompts, seen, allowed, rounds, max_rounds):
    """Return the error for a question that may not be confirmed, or None."""
    if rounds >= max_rounds:
        return BrokerPromptRefused(
            f"The broker asked more than {max_rounds} confirmation questions for "
            "one request, so the last one was not answered and the order was not "
            "placed. Review the questions in the audit log, and raise "
            f"broker.max_reply_rounds (at most {MAX_REPLY_ROUNDS}) only if each "
            "one is expected.",
            prompts=seen,
        )
    unlisted = [p["message_id"] for p in prompts if p["message_id"] not in allowed]
    if unlisted:
        shown = ", ".join(
            message_id
            for message_id in unlisted
            if message_id and re.fullmatch(r"[A-Za-z0-9]{1,16}", message_id)
        )
        return BrokerPromptRefused(
            "The broker asked a confirmation question with message ids "
            f"({shown or 'none given'}) that broker.confirm_message_ids does not "
            "list, so it was not answered and the order was not placed. Review "
            "the question in the audit log, and add its message ids to "
            "broker.confirm_message_ids only if the gateway may always confirm it.",
            prompts=seen,
        )
    return None


def _placed(data, endpoint):
    placed = []
    for entry in data:
        if not isinstance(entry, dict):
            raise _maybe_applied(endpoint, "an order entry is not an object")
        order_id = entry.get("order_id")
        if isinstance(order_id, int) and not isinstance(order_id, bool):
            order_id = str(order_id)
        if not isinstance(order_id, str) or not ORDER_ID_PATTERN.fullmatch(order_id):
            raise _maybe_applied(endpoint, "an order has no valid order_id")
        status = entry.get("order_status")
        if not isinstance(status, str) or not status:
            raise _maybe_applied(endpoint, "an order has no order_status")
        placed.append({"broker_order_id": order_id, "status": status})
    return placed


def _settle_response(
    request, settings, response, endpoint, coids=(), order_missing=False
):
    """Confirm allowed questions of an order response and return the placed orders.

    ``request`` sends a request like ``ClientPortalHttp.request_with_status``
    and ``response`` is the ``(status, data)`` of the order request. Returns
    ``(placed, confirmed_prompts)``, where placed lists ``{"broker_order_id",
    "status"}`` in the response's order.
    """
    allowed = settings.confirm_message_ids
    seen = []
    confirmed = []
    rounds = 0
    while True:
        _raise_for_error(response, endpoint, rounds > 0, coids, order_missing)
        question = _question(response[1], endpoint)
        if question is None:
            return _placed(response[1], endpoint), confirmed

        reply_id, prompts = question
        seen.extend(prompts)
        message_ids = [prompt["message_id"] for prompt in prompts]
        error = _prompt_error(prompts, seen, allowed, rounds, settings.max_reply_rounds)
        if error is None and reply_id is None:
            error = BrokerPromptRefused(
                "The broker asked a confirmation question without a valid reply "
                "id, so it was not answered and the order was not placed. Check "
                "the gateway version, then submit the order again.",
                prompts=seen,
            )
        if error is not None:
            logger.warning(
                "IBKR question with message ids %s was not confirmed (%d "
                "confirmed before it).",
                message_ids,
                rounds,
            )
            raise error

        rounds += 1
        logger.info(
            "Confirming IBKR question with message ids %s (question %d of at most %d).",
            message_ids,
            rounds,
            settings.max_reply_rounds,
        )
        confirmed.extend(prompts)
        endpoint = _REPLY_ENDPOINT
        response = request(
            "POST",
            endpoint,
            f"iserver/reply/{reply_id}",
            encode_json({"confirmed": True}),
        )


def submit(request, settings, account_id, tickets):
    """Place validated ``tickets`` and return the ``submit_orders`` result."""
    endpoint = "iserver/account/{account_id}/orders"
    body = {"orders": [order_body(account_id, ticket) for ticket in tickets]}
    response = request(
        "POST", endpoint, f"iserver/account/{account_id}/orders", encode_json(body)
    )
    coids = tuple(ticket["coid"] for ticket in tickets)
    placed, confirmed = _settle_response(request, settings, response, endpoint, coids)

    if len(placed) != len(tickets):
        raise _maybe_applied(
            endpoint, f"it lists {len(placed)} orders for {len(tickets)} tickets"
        )
    # NOTE: the entries are matched to the tickets by position. That IBKR
    # lists a bracket's orders in request order is unverified.
    orders = [
        {"coid": ticket["coid"], **entry}
        for ticket, entry in zip(tickets, placed, strict=True)
    ]
    return {"orders": orders, "confirmed_prompts": confirmed}


def modify(request, settings, account_id, order_id, ticket):
    """Change order ``order_id`` to a validated ``ticket``, as ``modify_order`` does."""
    endpoint = "iserver/account/{account_id}/order/{order_id}"
    response = request(
        "POST",
        endpoint,
        f"iserver/account/{account_id}/order/{order_id}",
        encode_json(order_body(account_id, ticket, link=False)),
    )
    placed, confirmed = _settle_response(
        request, settings, response, endpoint, order_missing=True
    )

    if len(placed) != 1:
        raise _maybe_applied(endpoint, f"it lists {len(placed)} orders for one")
    return {**placed[0], "confirmed_prompts": confirmed}


def parse_cancel(response, account_id, order_id, endpoint):
    """Return ``cancel_order``'s result for the ``(status, data)`` of a DELETE."""
    status, data = response
    text = _error_text(data)
    if status >= 500:
        raise _failed(BrokerUnavailable(status=502), endpoint, status)
    if is_order_missing(text):
        raise _failed(BrokerOrderNotFound(), endpoint, status)
    if text or not 200 <= status < 300:
        raise _failed(BrokerOrderRejected(detail=_detail(text)), endpoint, status)

    data = expect_dict(data, endpoint)
    if not isinstance(data.get("msg"), str):
        raise _maybe_applied(endpoint, "msg is missing")
    returned_id = data.get("order_id")
    if returned_id is not None and str(returned_id) != order_id:
        raise _maybe_applied(endpoint, "it names another order")
    account = data.get("account")
    if account is not None and account != account_id:
        raise _maybe_applied(endpoint, "it names another account")

    # IBKR returns conid -1 and account null when the order was cancelled at
    # once, and otherwise the cancel is still pending.
    immediate = str(data.get("conid")) == "-1" and account is None
    return {
        "broker_order_id": order_id,
        "status": "Cancelled" if immediate else "PendingCancel",
    }


def _money(data, section, key, endpoint):
    """Parse ``data[section][key]``, an amount like ``"1,977.60 USD (10 Shares)"``."""
    values = data.get(section)
    value = values.get(key) if isinstance(values, dict) else None
    if value is None or value == "":
        return None
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return format_decimal(value)
    match = _MONEY.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise BrokerResponseInvalid(
            f"The IBKR response from {endpoint} is invalid: {section}.{key} is "
            "not an amount such as '1,977.60 USD'. Check the gateway version, "
            "then retry."
        )
    sign, whole, fraction = match.groups()
    return format_decimal(sign + whole.replace(",", "") + (fraction or ""))


def parse_whatif(response, endpoint):
    """Return ``whatif``'s result for the ``(status, data)`` of a whatif POST."""
    status, data = response
    text = _error_text(data)
    if status >= 500:
        raise _failed(BrokerUnavailable(status=502), endpoint, status)
    if not 200 <= status < 300:
        error = BrokerOrderRejected(
            "The broker rejected the whatif request. Check the reason in the "
            "error detail, correct the order and request the estimate again.",
            detail=_detail(text),
        )
        raise _failed(error, endpoint, status)

    data = expect_dict(data, endpoint)
    warning = data.get("warn")
    # A 2xx reject object has only an error, and the whatif result carries it.
    return {
        "commission": _money(data, "amount", "commission", endpoint),
        "initial_margin_change": _money(data, "initial", "change", endpoint),
        "maintenance_margin_change": _money(data, "maintenance", "change", endpoint),
        "equity_change": _money(data, "equity", "change", endpoint),
        "warning": warning if isinstance(warning, str) and warning else None,
        "error": text or None,
    }


def whatif(request, account_id, ticket):
    """Return IBKR's estimate for a validated ``ticket`` without placing it."""
    endpoint = "iserver/account/{account_id}/orders/whatif"
    body = {"orders": [order_body(account_id, ticket, link=False)]}
    response = request(
        "POST",
        endpoint,
        f"iserver/account/{account_id}/orders/whatif",
        encode_json(body),
    )
    return parse_whatif(response, endpoint)
