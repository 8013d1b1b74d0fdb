"""``IbkrBackend`` over the IBKR Client Portal Gateway REST API.

Every request value is validated before it reaches a URL, and every response is
parsed into the shapes documented on ``IbkrBackend``. The backend calls the
account list endpoints that IBKR requires before positions and market data
once per session, and again after a ``BrokerLoginRequired``. Order requests
and their responses are handled in ``client_portal_orders``, and tickets are
validated in ``client_portal_tickets``.
"""

import logging
import time

from ibkr_gateway.broker import client_portal_orders as orders
from ibkr_gateway.broker.base import SNAPSHOT_FIELDS, IbkrBackend
from ibkr_gateway.broker.client_portal_http import ClientPortalHttp
from ibkr_gateway.broker.client_portal_responses import (
    expect_dict,
    expect_list,
    parse_accounts,
    parse_auth_status,
    parse_conid,
    parse_contracts,
    parse_live_orders,
    parse_order_status,
    parse_positions,
    parse_tickle,
)
from ibkr_gateway.broker.client_portal_tickets import (
    validate_order_id,
    validate_ticket,
    validate_tickets,
)
from ibkr_gateway.broker.errors import (
    BrokerAccountNotFound,
    BrokerLoginRequired,
    BrokerOrderNotFound,
    BrokerRequestRejected,
    BrokerResponseTooLarge,
    MarketDataNotReady,
)
from ibkr_gateway.broker.marketdata import parse_snapshot_entry, request_codes
from ibkr_gateway.broker.validation import (
    validate_account_id,
    validate_conids,
    validate_fields,
    validate_symbol,
)

logger = logging.getLogger(__name__)

# IBKR's OpenAPI text gives 30 positions as the default page size and other
# sources give 100, so a page shorter than 30 is the last one either way.
MIN_POSITIONS_PAGE_SIZE = 30
MAX_POSITIONS_PAGES = 50
# A positions request for an account missing from the cached list refreshes
# the list at most this often.
# NOTE: 5 seconds matches the portfolio/accounts pacing limit that third-party
# endpoint lists give, and IBKR's own page was not checked.
ACCOUNTS_REFRESH_SECONDS = 5.0
# The first snapshot request for a conid starts IBKR's subscription and
# returns no prices, so the backend requests it once more after this pause.
SNAPSHOT_RETRY_DELAY_SECONDS = 0.5


class ClientPortalBackend(IbkrBackend):
    """Backend that reads through a Client Portal Gateway.

    ``transport`` replaces the HTTP transport in tests, and ``clock`` and
    ``sleep`` drive pacing and the snapshot retry pause.
    """

    def __init__(
        self, settings, transport=None, clock=time.monotonic, sleep=time.sleep
    ):
        self._http = ClientPortalHttp(settings, transport, clock, sleep)
        self._clock = clock
        self._sleep = sleep
        self._account_ids = None
        self._accounts_loaded_at = None
        self._brokerage_accounts_loaded = False

    def close(self):
        self._http.close()

    def _forget_session(self):
        # A new login may bring other accounts, and IBKR expects the account
        # list endpoints to be called again.
        self._account_ids = None
        self._brokerage_accounts_loaded = False

    def _request(self, method, endpoint, path=None, params=None):
        try:
            return self._http.request_json(method, endpoint, path or endpoint, params)
        except BrokerLoginRequired:
            self._forget_session()
            raise

    def _request_with_status(self, method, endpoint, path, body=None):
        """Send an order request and return ``(status, data)``, also for errors."""
        try:
            return self._http.request_with_status(method, endpoint, path, body)
        except BrokerLoginRequired:
            self._forget_session()
            raise

    def session_status(self):
        return parse_auth_status(self._request("GET", "iserver/auth/status"))

    def tickle(self):
        return parse_tickle(self._request("POST", "tickle"))

    def accounts(self):
        accounts = parse_accounts(self._request("GET", "portfolio/accounts"))
        self._account_ids = frozenset(entry["account_id"] for entry in accounts)
        self._accounts_loaded_at = self._clock()
        return accounts

    def _is_known_account(self, account_id):
        """Check ``account_id`` against the account list, refreshing a stale one."""
        if self._account_ids is not None and account_id in self._account_ids:
            return True
        if (
            self._account_ids is None
            or self._clock() - self._accounts_loaded_at >= ACCOUNTS_REFRESH_SECONDS
        ):
            self.accounts()
        return account_id in self._account_ids

    def positions(self, account_id):
        account_id = validate_account_id(account_id)
        if not self._is_known_account(account_id):
            raise BrokerAccountNotFound()

        endpoint = "portfolio/{account_id}/positions/{page}"
        positions = []
        for page in range(MAX_POSITIONS_PAGES):
            path = f"portfolio/{account_id}/positions/{page}"
            batch = parse_positions(
                self._request("GET", endpoint, path), account_id, endpoint
            )
            positions.extend(batch)
            if len(batch) < MIN_POSITIONS_PAGE_SIZE:
                return positions
        raise BrokerResponseTooLarge(
            f"The positions fill more than the {MAX_POSITIONS_PAGES} pages this "
            "backend reads. Raise MAX_POSITIONS_PAGES in "
            "ibkr_gateway/broker/client_portal.py."
        )

    def search_contracts(self, symbol):
        symbol = validate_symbol(symbol)
        data = self._request("GET", "iserver/secdef/search", params={"symbol": symbol})
        return parse_contracts(data)

    def market_snapshot(self, conids, fields=SNAPSHOT_FIELDS):
        conids = validate_conids(conids)
        fields = validate_fields(fields, SNAPSHOT_FIELDS)
        self._load_brokerage_accounts()

        quotes = self._snapshot(conids, fields)
        pending = [conid for conid in conids if quotes.get(conid) is None]
        if pending:
            logger.info(
                "IBKR returned no market data yet for %d of %d conids, so they "
                "are requested again in %s s.",
                len(pending),
                len(conids),
                SNAPSHOT_RETRY_DELAY_SECONDS,
            )
            self._sleep(SNAPSHOT_RETRY_DELAY_SECONDS)
            quotes.update(self._snapshot(pending, fields))
            pending = [conid for conid in conids if quotes.get(conid) is None]
        if pending:
            raise MarketDataNotReady(conids=pending)
        return [quotes[conid] for conid in conids]

    def _load_brokerage_accounts(self):
        # IBKR requires iserver/accounts before the first market data request
        # of a session.
        if not self._brokerage_accounts_loaded:
            expect_dict(self._request("GET", "iserver/accounts"), "iserver/accounts")
            self._brokerage_accounts_loaded = True

    def _snapshot(self, conids, fields):
        """Return ``{conid: quote or None}`` from one snapshot request."""
        endpoint = "iserver/marketdata/snapshot"
        params = {
            "conids": ",".join(str(conid) for conid in conids),
            "fields": request_codes(fields),
        }
        quotes = dict.fromkeys(conids)
        for entry in expect_list(
            self._request("GET", endpoint, params=params), endpoint
        ):
            entry = expect_dict(entry, endpoint)
            conid = parse_conid(entry.get("conid"), endpoint)
            # An entry for a conid that was not requested is ignored.
            if conid in quotes:
                quotes[conid] = parse_snapshot_entry(entry, conid, fields)
        return quotes

    # Orders

    def submit_orders(self, account_id, tickets):
        account_id = validate_account_id(account_id)
        tickets = validate_tickets(tickets)
        return orders.submit(
            self._request_with_status, self._http.settings, account_id, tickets
        )

    def modify_order(self, account_id, broker_order_id, ticket):
        account_id = validate_account_id(account_id)
        order_id = validate_order_id(broker_order_id)
        ticket = validate_ticket(ticket, require_coid=False)
        return orders.modify(
            self._request_with_status, self._http.settings, account_id, order_id, ticket
        )

    def cancel_order(self, account_id, broker_order_id):
        account_id = validate_account_id(account_id)
        order_id = validate_order_id(broker_order_id)
        endpoint = "iserver/account/{account_id}/order/{order_id}"
        path = f"iserver/account/{account_id}/order/{order_id}"
        response = self._request_with_status("DELETE", endpoint, path)
        return orders.parse_cancel(response, account_id, order_id, endpoint)

    def order_status(self, account_id, broker_order_id):
        account_id = validate_account_id(account_id)
        order_id = validate_order_id(broker_order_id)
        endpoint = "iserver/account/order/status/{order_id}"
        path = f"iserver/account/order/status/{order_id}"
        try:
            data = self._request("GET", endpoint, path)
        except BrokerRequestRejected as exc:
            if orders.is_order_missing(exc.detail):
                raise BrokerOrderNotFound() from exc
            raise
        return parse_order_status(data, account_id, order_id, endpoint)

    def live_orders(self, account_id=None):
        if account_id is not None:
            account_id = validate_account_id(account_id)
        endpoint = "iserver/account/orders"
        return parse_live_orders(self._request("GET", endpoint), account_id, endpoint)

    def whatif(self, account_id, ticket):
        account_id = validate_account_id(account_id)
        ticket = validate_ticket(ticket, require_coid=False)
        return orders.whatif(self._request_with_status, account_id, ticket)
