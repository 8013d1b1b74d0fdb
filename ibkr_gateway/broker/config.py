"""The ``[broker]`` section of the runtime config: backend, HTTP limits and prompts.

``parse_broker_section`` validates the TOML table and returns ``BrokerSettings``
or raises ``ConfigError`` naming the key and the fix. TLS certificate checks
can be turned off only for a loopback gateway.
"""

import re
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

from ibkr_gateway.runtime_config import ConfigError

BACKENDS = ("simulated", "client_portal")
# Known to the config format, but no backend implements it yet.
PLANNED_BACKENDS = ("sidecar",)
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MEBIBYTE = 1024 * 1024
# NOTE: the cap assumes IBKR's published pacing limit of 10 requests per second
# for a gateway session, which was not checked against IBKR's current page.
MAX_REQUESTS_PER_SECOND = 10
# IBKR reply message ids are a lowercase letter and digits, such as o163,
# o10331 or p12.
MESSAGE_ID_PATTERN = re.compile(r"[a-z][0-9]{1,9}", re.ASCII)
MAX_REPLY_ROUNDS = 10


def is_loopback_host(host):
    return host is not None and host.lower() in LOOPBACK_HOSTS


@dataclass(frozen=True)
class BrokerSettings:
    """Validated ``[broker]`` settings, with defaults for a local gateway."""

    backend: str = "simulated"
    base_url: str = "https://localhost:5000/v1/api"
    verify_tls: bool = True
    timeout_seconds: float = 10.0
    max_response_bytes: int = 2 * MEBIBYTE
    max_requests_per_second: float = 5.0
    # IBKR order questions that the gateway may confirm, by message id. The
    # default confirms none, so every question rejects the order.
    confirm_message_ids: tuple[str, ...] = ()
    max_reply_rounds: int = 3

    def __post_init__(self):
        if isinstance(self.confirm_message_ids, str):
            raise ValueError(
                f"confirm_message_ids={self.confirm_message_ids!r} is a string. "
                'Pass a list of message ids such as ["o163"].'
            )
        # A list given in code becomes a tuple, so the settings stay hashable.
        object.__setattr__(self, "confirm_message_ids", tuple(self.confirm_message_ids))
        # parse_broker_section reports this case as a ConfigError first. The
        # check here also covers settings built in code.
        if not self.verify_tls and not is_loopback_host(self.host):
            raise ValueError(
                "verify_tls=False is allowed only for a loopback base_url host, "
                f"not {self.host!r}. Set verify_tls=True."
            )

    @property
    def host(self):
        return urlsplit(self.base_url).hostname


def _fail(source, key, problem, fix):
    raise ConfigError(f"broker.{key}", problem, fix, source)


def _number(source, table, key, default, low, high, unit, integer=False):
    value = table.get(key, default)
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "an integer" if integer else "a number"
        _fail(
            source,
            key,
            f"expected {kind}, got {type(value).__name__} {value!r}",
            f"Set {key} to {kind} from {low} to {high} ({unit}).",
        )
    if not low <= value <= high:
        _fail(
            source,
            key,
            f"{value!r} is out of range",
            f"Set {key} to a value from {low} to {high} ({unit}).",
        )
    return value


def _backend(source, table):
    backend = table.get("backend", BrokerSettings.backend)
    if backend in PLANNED_BACKENDS:
        _fail(
            source,
            "backend",
            f"backend {backend!r} is not available yet",
            f"Use one of: {', '.join(BACKENDS)}.",
        )
    if backend not in BACKENDS:
        _fail(
            source,
            "backend",
            f"unknown backend {backend!r}",
            f"Use one of: {', '.join(BACKENDS)}.",
        )
    return backend


def _base_url(source, table):
    base_url = table.get("base_url", BrokerSettings.base_url)
    if not isinstance(base_url, str):
        _fail(
            source,
            "base_url",
            f"expected a URL string, got {type(base_url).__name__}",
            'Set base_url to a URL such as "https://localhost:5000/v1/api".',
        )
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018 - reading the port validates it
    except ValueError as exc:
        _fail(
            source,
            "base_url",
            f"the URL is invalid ({exc})",
            'Use a URL such as "https://localhost:5000/v1/api".',
        )
    host = parts.hostname
    if not host or parts.username or parts.password or parts.query or parts.fragment:
        _fail(
            source,
            "base_url",
            "the URL must name a host and contain no user name, password, query "
            "or fragment",
            'Use a URL such as "https://localhost:5000/v1/api", and keep '
            "credentials out of it.",
        )
    if parts.scheme not in ("https", "http"):
        _fail(
            source,
            "base_url",
            f"scheme {parts.scheme!r} is not supported",
            "Use an https URL (http only for a loopback host).",
        )
    if parts.scheme == "http" and not is_loopback_host(host):
        _fail(
            source,
            "base_url",
            f"plain http is allowed only for a loopback host, not {host!r}",
            "Use an https URL, or a gateway on localhost, 127.0.0.1 or ::1.",
        )
    return base_url.rstrip("/")


def _message_ids(source, table):
    value = table.get("confirm_message_ids", [])
    fix = (
        "Set confirm_message_ids to a list of IBKR reply message ids such as "
        '["o163", "o354"], or to [] to confirm no question.'
    )
    if not isinstance(value, list):
        _fail(
            source,
            "confirm_message_ids",
            f"expected a list, got {type(value).__name__}",
            fix,
        )
    for item in value:
        if not isinstance(item, str) or not MESSAGE_ID_PATTERN.fullmatch(item):
            _fail(
                source,
                "confirm_message_ids",
                f"{str(item)[:20]!r} is not an IBKR message id (a lowercase "
                "letter and digits)",
                fix,
            )
    # A repeated id is harmless, so it is dropped rather than rejected.
    return tuple(dict.fromkeys(value))


def parse_broker_section(source, table):
    """Validate the ``[broker]`` table read from ``source`` into settings."""
    if not isinstance(table, dict):
        raise ConfigError(
            "broker",
            f"expected a table, got {type(table).__name__}",
            "Write the broker keys under a [broker] header.",
            source,
        )
    known = {field.name for field in fields(BrokerSettings)}
    for name in table:
        if name not in known:
            _fail(
                source,
                name,
                "unknown key",
                f"Remove it or use one of: {', '.join(sorted(known))}.",
            )

    backend = _backend(source, table)
    base_url = _base_url(source, table)

    verify_tls = table.get("verify_tls", True)
    if not isinstance(verify_tls, bool):
        _fail(
            source,
            "verify_tls",
            f"expected true or false, got {verify_tls!r}",
            "Set verify_tls to true or false.",
        )
    host = urlsplit(base_url).hostname
    if not verify_tls and not is_loopback_host(host):
        _fail(
            source,
            "verify_tls",
            f"certificate checks cannot be turned off for host {host!r}",
            "Set verify_tls = true. Only a gateway on localhost, 127.0.0.1 or "
            "::1 may skip certificate checks.",
        )

    return BrokerSettings(
        backend=backend,
        base_url=base_url,
        verify_tls=verify_tls,
        timeout_seconds=float(
            _number(source, table, "timeout_seconds", 10, 0.1, 300, "seconds")
        ),
        max_response_bytes=_number(
            source,
            table,
            "max_response_bytes",
            2 * MEBIBYTE,
            1024,
            64 * MEBIBYTE,
            "bytes",
            integer=True,
        ),
        max_requests_per_second=float(
            _number(
                source,
                table,
                "max_requests_per_second",
                5,
                0.1,
                MAX_REQUESTS_PER_SECOND,
                "requests per second",
            )
        ),
        confirm_message_ids=_message_ids(source, table),
        max_reply_rounds=_number(
            source,
            table,
            "max_reply_rounds",
            3,
            1,
            MAX_REPLY_ROUNDS,
            "confirmation questions per order",
            integer=True,
        ),
    )
