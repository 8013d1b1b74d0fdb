"""HTTP transport to the Client Portal Gateway, with pacing, limits and error mapping.

``ClientPortalHttp.request_json`` returns the parsed JSON of a 2xx response, with
JSON numbers that have a fraction parsed as ``Decimal``, or raises a
``BrokerError``. Callers pass an ``endpoint`` template without ids, such as
``portfolio/{account_id}/positions``, and it is the only request detail logged.
"""

import json
import logging
import re
import ssl
import time
from decimal import Decimal

import httpx

from ibkr_gateway.broker.errors import (
    BrokerError,
    BrokerLoginRequired,
    BrokerRateLimited,
    BrokerRequestRejected,
    BrokerResponseInvalid,
    BrokerResponseTooLarge,
    BrokerTimeout,
    BrokerTlsError,
    BrokerUnavailable,
)
from ibkr_gateway.broker.pacing import RequestPacer

logger = logging.getLogger(__name__)

USER_AGENT = "ibkr-compliance-gateway/0.1"
# IBKR's error texts when the gateway has no session ({"error": "no session"} from
# tickle) or no brokerage session ("Bad Request: no bridge" from iserver paths).
_LOGIN_ERROR = re.compile(r"\bno (?:bridge|session)\b", re.IGNORECASE)
_DETAIL_LENGTH = 200


class _HideBrokerUrls(logging.Filter):
    """Drops httpx's INFO line per request for URLs under a broker base URL.

    Those lines contain the full URL, and broker paths contain account ids.
    ``ClientPortalHttp`` logs its own lines with the endpoint template instead.
    """

    def __init__(self):
        super().__init__()
        self.prefixes = set()

    def filter(self, record):
        args = record.args if isinstance(record.args, tuple) else ()
        url = str(args[1]) if len(args) > 1 else ""
        return not any(url.startswith(prefix) for prefix in self.prefixes)


_httpx_filter = _HideBrokerUrls()
logging.getLogger("httpx").addFilter(_httpx_filter)


def _reject_constant(name):
    raise ValueError(f"{name} is not a valid JSON number")


def _parse_json(body):
    """Return the JSON value of ``body``, or raise ValueError."""
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("the JSON nesting is too deep") from None


def _error_text(data):
    """Return the top-level ``error`` string of an IBKR error body, if any."""
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"]
    return None


def _retry_after(headers):
    # NOTE: only the delta-seconds form of Retry-After is read. An HTTP date
    # gives None.
    value = headers.get("Retry-After", "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _is_certificate_error(exc):
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


class ClientPortalHttp:
    """One ``httpx.Client`` to the gateway at ``settings.base_url``."""

    def __init__(
        self, settings, transport=None, clock=time.monotonic, sleep=time.sleep
    ):
        self.settings = settings
        self._logged_out = False
        self._pacer = RequestPacer(settings.max_requests_per_second, clock, sleep)
        _httpx_filter.prefixes.add(settings.base_url + "/")
        self._client = httpx.Client(
            base_url=settings.base_url + "/",
            # BrokerSettings allows verify_tls=False only for a loopback host.
            verify=settings.verify_tls,
            timeout=httpx.Timeout(settings.timeout_seconds),
            transport=transport,
            follow_redirects=False,
            # Keep proxies and certificate paths from the environment out of
            # the path that carries account data.
            trust_env=False,
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
                # An uncompressed body lets the size cap bound memory exactly.
                "Accept-Encoding": "identity",
            },
        )

    def close(self):
        self._client.close()

    def request_json(self, method, endpoint, path, params=None):
        """Send one request, retrying a GET once if the connection fails."""
        return self._request(method, endpoint, path, params, None, keep_errors=False)

    def request_with_status(self, method, endpoint, path, body=None):
        """Send one request and return ``(status, data)``, also for an error response.

        Order endpoints use this because what their error responses mean depends
        on the status and the text. A 401, a 429, the no-session errors,
        transport failures and a 2xx body that is not JSON raise as in
        ``request_json``. ``data`` is None for an error body that is not JSON.
        ``body`` is an encoded JSON request body or None.
        """
        return self._request(method, endpoint, path, None, body, keep_errors=True)

    def _request(self, method, endpoint, path, params, body, keep_errors):
        try:
            result = self._send_with_retry(
                method, endpoint, path, params, body, keep_errors
            )
        except BrokerError as exc:
            self._log_failure(method, endpoint, exc)
            raise
        self._logged_out = False
        return result

    def _send_with_retry(self, method, endpoint, path, params, body, keep_errors):
        # Only a GET is retried, because a repeated order POST or DELETE could
        # act twice.
        attempts = 2 if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            try:
                return self._send(method, endpoint, path, params, body, keep_errors)
            except httpx.ConnectError as exc:
                if _is_certificate_error(exc):
                    raise BrokerTlsError() from exc
                if attempt == attempts:
                    raise BrokerUnavailable() from exc
                logger.warning(
                    "Connecting to the IBKR gateway for %s %s failed (%s), "
                    "retrying once.",
                    method,
                    endpoint,
                    type(exc).__name__,
                )
            except httpx.TimeoutException as exc:
                raise BrokerTimeout() from exc
            except httpx.TransportError as exc:
                raise BrokerUnavailable() from exc

    def _log_failure(self, method, endpoint, exc):
        # A logged-out gateway fails every request until someone logs in, so
        # only the first failure of such a run is logged as a warning.
        level = logging.ERROR
        if isinstance(exc, BrokerLoginRequired):
            level = logging.DEBUG if self._logged_out else logging.WARNING
            self._logged_out = True
        elif isinstance(exc, BrokerRateLimited | BrokerRequestRejected):
            level = logging.WARNING
        cause = type(exc.__cause__).__name__ if exc.__cause__ else "none"
        logger.log(
            level,
            "IBKR gateway request %s %s failed with %s (status %s, cause %s).",
            method,
            endpoint,
            exc.code,
            exc.status,
            cause,
        )

    def _send(self, method, endpoint, path, params, body, keep_errors):
        self._pacer.wait()
        request_headers = None
        if body is not None:
            request_headers = {"Content-Type": "application/json"}
        with self._client.stream(
            method, path, params=params, content=body, headers=request_headers
        ) as response:
            content = self._read_capped(response)
            status, headers = response.status_code, response.headers
        logger.debug(
            "IBKR gateway request %s %s returned %s.", method, endpoint, status
        )
        return self._interpret(status, headers, content, keep_errors)

    def _read_capped(self, response):
        """Read the body, raising before more than the cap is held in memory."""
        limit = self.settings.max_response_bytes
        encoding = response.headers.get("Content-Encoding", "identity").strip()
        if encoding.lower() not in ("", "identity"):
            raise BrokerResponseInvalid(
                f"The IBKR gateway sent a {encoding!r}-encoded body although an "
                "uncompressed one was requested. Check any proxy in front of it."
            )
        declared = response.headers.get("Content-Length", "").strip()
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise BrokerResponseTooLarge()

        chunks = []
        size = 0
        for chunk in response.iter_raw():
            size += len(chunk)
            if size > limit:
                raise BrokerResponseTooLarge()
            chunks.append(chunk)
        return b"".join(chunks)

    def _interpret(self, status, headers, body, keep_errors=False):
        if status == 401:
            raise BrokerLoginRequired()
        try:
            data = _parse_json(body)
        except ValueError as exc:
            if 200 <= status < 300:
                raise BrokerResponseInvalid() from exc
            data = None

        error = _error_text(data)
        if error and _LOGIN_ERROR.search(error):
            raise BrokerLoginRequired()
        if status == 429:
            raise BrokerRateLimited(retry_after=_retry_after(headers))
        if keep_errors:
            return status, data
        if status >= 500:
            raise BrokerUnavailable(status=502)
        if not 200 <= status < 300 or error:
            detail = error[:_DETAIL_LENGTH] if error else None
            raise BrokerRequestRejected(detail=detail)
        return data
