"""The trading sections of the runtime config: paper, live and risk policies.

``parse_trading_sections`` validates ``[paper_trading]``, ``[live_trading]`` and
``[risk_policies.<id>]`` and returns ``TradingSettings``, or raises
``ConfigError`` naming the key and the fix. A mode is enabled only by an
explicit ``enabled = true`` together with an account allow-list and an existing
risk policy. Without the sections, both modes are disabled.

This module imports no Django models, because ``ibkr_gateway.runtime_config``
imports it and may run before Django has loaded the apps.
"""

import math
import re
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import time
from decimal import Decimal
from functools import partial
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ibkr_gateway.broker.config import (
    BrokerSettings,
    _base_url,
    is_loopback_host,
    parse_broker_section,
)
from ibkr_gateway.broker.validation import ACCOUNT_ID_PATTERN, SYMBOL_PATTERN
from ibkr_gateway.runtime_config import (
    ConfigError,
    _expect_type,
    _reject_unknown,
    get_runtime_config,
)

PAPER = "paper"
LIVE = "live"
TRADING_MODES = (PAPER, LIVE)
PAPER_BACKENDS = ("simulated", "client_portal")

ORDER_TYPES = ("LMT", "MKT", "STP")
TIME_IN_FORCE = ("DAY", "GTC")
# IBKR security types that the config format recognizes. IBKR's API lists ETFs such
# as SPY under STK, so ETF is not a type of its own.
KNOWN_ASSET_CLASSES = ("STK", "OPT", "FUT", "CASH")
SUPPORTED_ASSET_CLASSES = ("STK",)

POLICY_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}", re.ASCII)
# Plain decimal notation only: no exponent, underscore or surrounding space.
_DECIMAL_PATTERN = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?", re.ASCII)
_HOUR_MINUTE_PATTERN = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])", re.ASCII)


class TradingModeDisabled(LookupError):
    """A request for the risk policy of a trading mode that is disabled."""


@dataclass(frozen=True, kw_only=True)
class RiskPolicy:
    """Order limits of one ``[risk_policies.<id>]`` table.

    Money amounts are in the account currency. Fields are keyword-only because
    required limits follow fields with defaults.
    """

    policy_id: str
    allowed_symbols: frozenset
    asset_classes: frozenset = frozenset({"STK"})
    order_types: frozenset = frozenset({"LMT"})
    time_in_force: frozenset = frozenset({"DAY"})
    # Maximum quantity of one order, a whole number of shares or contracts.
    max_quantity: Decimal
    # Maximum notional value of one order.
    max_notional: Decimal
    # Maximum distance of an order price from the quote, in percent.
    price_collar_percent: Decimal = Decimal("5")
    quote_max_age_seconds: int = 15
    frequency_window_seconds: int = 60
    max_orders_per_window: int
    max_orders_per_session: int
    max_notional_per_session: Decimal
    preview_ttl_seconds: int = 300
    approval_ttl_seconds: int = 900


@dataclass(frozen=True)
class PaperTradingSettings:
    """The ``[paper_trading]`` section; ``base_url`` is set only for client_portal."""

    enabled: bool = False
    allowed_accounts: frozenset = frozenset()
    backend: str = "simulated"
    base_url: str | None = None
    risk_policy_id: str | None = None
    four_eyes: bool = True


@dataclass(frozen=True)
class LiveTradingSettings:
    """The ``[live_trading]`` section; ``session_start`` is in ``session_timezone``."""

    enabled: bool = False
    allowed_accounts: frozenset = frozenset()
    risk_policy_id: str | None = None
    # NOTE: the paper-to-live checklist that this flag confirms is not yet
    # written down in this repository.
    paper_to_live_checklist_acknowledged: bool = False
    reconciler_interval_seconds: int = 5
    session_timezone: str = "America/New_York"
    session_start: time = time(4, 0)
    four_eyes: bool = True


@dataclass(frozen=True)
class TradingSettings:
    """Both trading modes and the risk policies by id; by default all disabled."""

    paper: PaperTradingSettings = field(default_factory=PaperTradingSettings)
    live: LiveTradingSettings = field(default_factory=LiveTradingSettings)
    risk_policies: dict = field(default_factory=dict)

    def _mode_settings(self, mode):
        if mode == PAPER:
            return self.paper
        if mode == LIVE:
            return self.live
        raise ValueError(f"Trading mode {mode!r} is unknown. Use 'paper' or 'live'.")

    def policy_for(self, mode):
        """Return the ``RiskPolicy`` of ``mode``, "paper" or "live".

        Raises ``TradingModeDisabled`` when the mode is disabled and
        ``ValueError`` for another mode name.
        """
        settings = self._mode_settings(mode)
        if not settings.enabled:
            raise TradingModeDisabled(
                f"{mode.capitalize()} trading is disabled. Set "
                f"{mode}_trading.enabled = true in the runtime config to use it."
            )

        return self.risk_policies[settings.risk_policy_id]

    def mode_of_account(self, account_id):
        """Return the mode whose allow-list contains ``account_id``, or None.

        The mode, "paper" or "live", may be disabled, so a caller must still
        check ``enabled``. ``policy_for`` raises for a disabled mode.
        """
        for mode in TRADING_MODES:
            if account_id in self._mode_settings(mode).allowed_accounts:
                return mode
        return None


def paper_broker_settings(broker_settings, paper=None):
    """Return the ``BrokerSettings`` that paper orders go through.

    With the client_portal paper backend, ``broker_settings`` is reused with the
    paper gateway's ``base_url``, so ``BrokerSettings.__post_init__`` raises
    ValueError for ``verify_tls = false`` with a host that is not loopback.
    Otherwise the result is the simulated broker. ``paper`` defaults to the
    ``[paper_trading]`` settings of the process runtime config.
    """
    if paper is None:
        paper = get_runtime_config().trading.paper
    if paper.backend != "client_portal":
        return BrokerSettings(backend="simulated")

    return replace(broker_settings, backend="client_portal", base_url=paper.base_url)


def _field_names(settings_class):
    return {item.name for item in fields(settings_class)}


def _boolean(source, key, value):
    _expect_type(source, key, value, bool, "true or false")
    return value


def _integer(source, key, value, low, high=None, unit="seconds"):
    _expect_type(source, key, value, int, "an integer")
    if high is None and value < low:
        raise ConfigError(
            key,
            f"{value} is out of range",
            f"Set {key} to an integer of at least {low}.",
            source,
        )
    if high is not None and not low <= value <= high:
        raise ConfigError(
            key,
            f"{value} is out of range",
            f"Set {key} to an integer from {low} to {high} ({unit}).",
            source,
        )
    return value


def _decimal(source, key, value, maximum=None, whole=False):
    """Return ``value``, a TOML string or integer, as a Decimal above zero.

    TOML floats are rejected because they are binary fractions, so a value
    such as 0.1 would not be stored exactly.
    """
    name = key.rsplit(".", 1)[-1]
    if isinstance(value, float):
        quoted = format(Decimal(repr(value)), "f") if math.isfinite(value) else "0.5"
        raise ConfigError(
            key,
            f"TOML float {value!r} is not exact",
            f'Quote the number, as in {name} = "{quoted}".',
            source,
        )
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    _expect_type(source, key, value, str, 'a quoted decimal such as "25000"')
    if not _DECIMAL_PATTERN.fullmatch(value):
        raise ConfigError(
            key,
            f"{value!r} is not a decimal number",
            'Write digits with an optional decimal point, such as "25000" or "0.5".',
            source,
        )

    number = Decimal(value)
    if number <= 0:
        raise ConfigError(
            key, f"{value} is not greater than 0", f"Set {key} above 0.", source
        )
    if maximum is not None and number > maximum:
        raise ConfigError(
            key,
            f"{value} is out of range",
            f"Set {key} above 0 and at most {maximum}.",
            source,
        )
    if whole and number != number.to_integral_value():
        raise ConfigError(
            key,
            f"{value} is not a whole number",
            f"Set {key} to a whole number such as 100.",
            source,
        )
    return number


def _string_set(source, key, value, description, required=True):
    """Return the strings of the TOML list ``value`` as a frozenset.

    An empty list is an error when ``required``, and so is a repeated entry,
    because both are more likely typing mistakes than intent.
    """
    _expect_type(source, key, value, list, f"a list of {description}")
    if required and not value:
        raise ConfigError(
            key, "the list is empty", f"List at least one of {description}.", source
        )

    for position, item in enumerate(value, start=1):
        if not isinstance(item, str):
            raise ConfigError(
                key,
                f"entry {position} is {type(item).__name__} {item!r}, not a string",
                f"Write each of {description} as a quoted string.",
                source,
            )
        if item in value[: position - 1]:
            raise ConfigError(
                key,
                f"entry {position} repeats an earlier entry",
                "List each entry once.",
                source,
            )
    return frozenset(value)


def _code_set(source, key, value, description, allowed, known=()):
    """Return the codes of ``value``, each of them in ``allowed``.

    A code in ``known`` but not in ``allowed`` is reported as not supported yet.
    """
    codes = _string_set(source, key, value, description)
    for code in sorted(codes):
        if code in allowed:
            continue
        if code in known:
            raise ConfigError(
                key,
                f"{code!r} is not supported yet",
                f"Use only: {', '.join(allowed)}.",
                source,
            )
        raise ConfigError(
            key,
            f"unknown code {code!r}",
            f"Use one or more of: {', '.join(allowed)}.",
            source,
        )
    return codes


def _symbols(source, key, value):
    symbols = _string_set(source, key, value, "symbols")
    for symbol in sorted(symbols):
        if not SYMBOL_PATTERN.fullmatch(symbol):
            raise ConfigError(
                key,
                f"{symbol!r} is not a valid symbol",
                "Use 1 to 12 upper-case letters, digits or '.', such as \"AAPL\".",
                source,
            )
    return symbols


def _policy_id(source, key, value):
    _expect_type(source, key, value, str, "a policy id string")
    if not POLICY_ID_PATTERN.fullmatch(value):
        raise ConfigError(
            key,
            f"{value!r} is not a valid policy id",
            "Use 1 to 32 letters, digits, '_' or '-', starting with a letter or "
            'digit, such as "small".',
            source,
        )
    return value


# Parsers of the keys of a risk policy, each called as parser(source, key, value).
_POLICY_PARSERS = {
    "allowed_symbols": _symbols,
    "asset_classes": partial(
        _code_set,
        description="asset classes",
        allowed=SUPPORTED_ASSET_CLASSES,
        known=KNOWN_ASSET_CLASSES,
    ),
    "order_types": partial(_code_set, description="order types", allowed=ORDER_TYPES),
    "time_in_force": partial(
        _code_set, description="time-in-force codes", allowed=TIME_IN_FORCE
    ),
    "max_quantity": partial(_decimal, whole=True),
    "max_notional": _decimal,
    "price_collar_percent": partial(_decimal, maximum=Decimal(50)),
    "quote_max_age_seconds": partial(_integer, low=1, high=3600),
    "frequency_window_seconds": partial(_integer, low=1, high=86400),
    "max_orders_per_window": partial(_integer, low=1),
    "max_orders_per_session": partial(_integer, low=1),
    "max_notional_per_session": _decimal,
    "preview_ttl_seconds": partial(_integer, low=10, high=3600),
    "approval_ttl_seconds": partial(_integer, low=10, high=86400),
}


def _parse_policy(source, policy_id, table):
    section = f"risk_policies.{policy_id}"
    _policy_id(source, section, policy_id)
    _expect_type(source, section, table, dict, "a table")
    _reject_unknown(source, section, table, _POLICY_PARSERS)

    values = {}
    for item in fields(RiskPolicy):
        if item.name == "policy_id":
            continue
        # A key left out takes the dataclass default, which is valid as written.
        if item.name not in table:
            if item.default is MISSING:
                raise ConfigError(
                    f"{section}.{item.name}",
                    "missing",
                    f"Add {item.name} under [{section}].",
                    source,
                )
            continue
        parse = _POLICY_PARSERS[item.name]
        values[item.name] = parse(source, f"{section}.{item.name}", table[item.name])

    return RiskPolicy(policy_id=policy_id, **values)


def _parse_policies(source, table):
    if table is None:
        return {}

    _expect_type(source, "risk_policies", table, dict, "a table")
    return {
        policy_id: _parse_policy(source, policy_id, policy)
        for policy_id, policy in table.items()
    }


def _accounts(source, key, value):
    # Messages give the entry's position, not its value, because account ids
    # are kept out of messages and logs.
    accounts = _string_set(source, key, value, "account ids", required=False)
    for position, account in enumerate(value, start=1):
        if not ACCOUNT_ID_PATTERN.fullmatch(account):
            raise ConfigError(
                key,
                f"entry {position} is not a valid IBKR account id",
                "Use account ids such as U1234567 or DU1234567.",
                source,
            )
    return accounts


def _mode_keys(source, section, table, policies):
    """Return ``enabled``, ``allowed_accounts`` and ``risk_policy_id`` of a section.

    An enabled mode must have accounts and a policy, so that it can trade.
    """
    if "enabled" not in table:
        raise ConfigError(
            f"{section}.enabled",
            "missing",
            f"Add enabled = false under [{section}], or enabled = true to allow "
            "orders in this mode.",
            source,
        )
    enabled = _boolean(source, f"{section}.enabled", table["enabled"])

    accounts_key = f"{section}.allowed_accounts"
    accounts = _accounts(source, accounts_key, table.get("allowed_accounts", []))
    if enabled and not accounts:
        raise ConfigError(
            accounts_key,
            "no account is allowed, but the mode is enabled",
            "List the accounts that may trade, such as allowed_accounts = "
            f'["DU1234567"], or set {section}.enabled = false.',
            source,
        )

    policy_key = f"{section}.risk_policy_id"
    policy_id = table.get("risk_policy_id")
    if policy_id is None and enabled:
        raise ConfigError(
            policy_key,
            "missing, but the mode is enabled",
            "Set risk_policy_id to the id of a [risk_policies.<id>] table, or "
            f"set {section}.enabled = false.",
            source,
        )
    if policy_id is not None:
        _policy_id(source, policy_key, policy_id)
        if policy_id not in policies:
            defined = ", ".join(sorted(policies)) or "none"
            raise ConfigError(
                policy_key,
                f"no [risk_policies.{policy_id}] table exists",
                f"Add that table or use a defined policy id (defined: {defined}).",
                source,
            )

    return enabled, accounts, policy_id


def _paper_base_url(source, table, backend):
    key = "paper_trading.base_url"
    base_url = table.get("base_url")
    if backend == "simulated":
        if base_url is not None:
            raise ConfigError(
                key,
                "the simulated backend connects to no URL",
                'Remove base_url, or set backend = "client_portal".',
                source,
            )
        return None

    if base_url is None:
        raise ConfigError(
            key,
            "missing for the client_portal backend",
            'Set base_url to the paper gateway, such as "https://localhost:5001/'
            'v1/api".',
            source,
        )
    # The [broker] rules apply unchanged. Their errors name broker.base_url,
    # so they are raised again under this key.
    try:
        return _base_url(source, {"base_url": base_url})
    except ConfigError as error:
        raise ConfigError(key, error.problem, error.fix, source) from None


def _parse_paper(source, table, policies):
    section = "paper_trading"
    _expect_type(source, section, table, dict, "a table")
    _reject_unknown(source, section, table, _field_names(PaperTradingSettings))
    enabled, accounts, policy_id = _mode_keys(source, section, table, policies)

    backend = table.get("backend", PaperTradingSettings.backend)
    if backend not in PAPER_BACKENDS:
        raise ConfigError(
            f"{section}.backend",
            f"unknown backend {backend!r}",
            f"Use one of: {', '.join(PAPER_BACKENDS)}.",
            source,
        )

    return PaperTradingSettings(
        enabled=enabled,
        allowed_accounts=accounts,
        backend=backend,
        base_url=_paper_base_url(source, table, backend),
        risk_policy_id=policy_id,
        four_eyes=_boolean(
            source, f"{section}.four_eyes", table.get("four_eyes", True)
        ),
    )


def _session_timezone(source, key, value):
    _expect_type(source, key, value, str, "an IANA time zone name")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            key,
            f"{value!r} is not a known time zone",
            'Use an IANA time zone name such as "America/New_York".',
            source,
        ) from None
    return value


def _session_start(source, key, value):
    # tomllib returns a TOML local time such as 04:00:00 as a naive time.
    if isinstance(value, time) and value.tzinfo is None:
        return value

    _expect_type(source, key, value, str, 'a time such as "04:00"')
    match = _HOUR_MINUTE_PATTERN.fullmatch(value)
    if not match:
        raise ConfigError(
            key,
            f"{value!r} is not a time of day",
            'Write the time as "HH:MM" on a 24-hour clock, such as "04:00".',
            source,
        )
    return time(int(match[1]), int(match[2]))


def _parse_live(source, table, policies):
    section = "live_trading"
    _expect_type(source, section, table, dict, "a table")
    _reject_unknown(source, section, table, _field_names(LiveTradingSettings))
    enabled, accounts, policy_id = _mode_keys(source, section, table, policies)

    acknowledged_key = f"{section}.paper_to_live_checklist_acknowledged"
    acknowledged = _boolean(
        source,
        acknowledged_key,
        table.get("paper_to_live_checklist_acknowledged", False),
    )
    if enabled and not acknowledged:
        raise ConfigError(
            acknowledged_key,
            "live trading is enabled, but the paper-to-live checklist is not "
            "acknowledged",
            "Work through the checklist with paper trading, then set "
            "paper_to_live_checklist_acknowledged = true, or set "
            "live_trading.enabled = false.",
            source,
        )

    defaults = LiveTradingSettings()
    return LiveTradingSettings(
        enabled=enabled,
        allowed_accounts=accounts,
        risk_policy_id=policy_id,
        paper_to_live_checklist_acknowledged=acknowledged,
        reconciler_interval_seconds=_integer(
            source,
            f"{section}.reconciler_interval_seconds",
            table.get(
                "reconciler_interval_seconds", defaults.reconciler_interval_seconds
            ),
            1,
            60,
        ),
        session_timezone=_session_timezone(
            source,
            f"{section}.session_timezone",
            table.get("session_timezone", defaults.session_timezone),
        ),
        session_start=_session_start(
            source,
            f"{section}.session_start",
            table.get("session_start", defaults.session_start),
        ),
        four_eyes=_boolean(
            source, f"{section}.four_eyes", table.get("four_eyes", True)
        ),
    )


def _check_paper_tls(source, paper, broker_table):
    """Raise ``ConfigError`` for a paper gateway that is not loopback when
    ``broker.verify_tls`` is false, because the paper backend shares that key."""
    broker = (
        BrokerSettings()
        if broker_table is None
        else parse_broker_section(source, broker_table)
    )
    host = urlsplit(paper.base_url).hostname
    if broker.verify_tls or is_loopback_host(host):
        return

    raise ConfigError(
        "paper_trading.base_url",
        "broker.verify_tls = false turns certificate checks off, which is "
        f"allowed only for a loopback host, not {host!r}",
        "Point base_url at a gateway on localhost, 127.0.0.1 or ::1, or set "
        "broker.verify_tls = true.",
        source,
    )


def parse_trading_sections(source, data):
    """Validate the trading sections of the parsed TOML ``data`` from ``source``.

    Sections that are absent leave their mode disabled.
    """
    policies = _parse_policies(source, data.get("risk_policies"))

    paper = PaperTradingSettings()
    if "paper_trading" in data:
        paper = _parse_paper(source, data["paper_trading"], policies)
    if paper.backend == "client_portal":
        _check_paper_tls(source, paper, data.get("broker"))

    live = LiveTradingSettings()
    if "live_trading" in data:
        live = _parse_live(source, data["live_trading"], policies)

    # Each account trades in one mode, so mode_of_account returns one mode.
    live_accounts = data.get("live_trading", {}).get("allowed_accounts", [])
    for position, account in enumerate(live_accounts, start=1):
        if account in paper.allowed_accounts:
            raise ConfigError(
                "live_trading.allowed_accounts",
                f"entry {position} is also in paper_trading.allowed_accounts",
                "List each account under one mode only: paper accounts (DU...) "
                "under [paper_trading] and live accounts under [live_trading].",
                source,
            )

    return TradingSettings(paper=paper, live=live, risk_policies=policies)
