"""Runtime config of the gateway: trading and audit policy from a TOML file.

The file is named by ``IBKR_GATEWAY_CONFIG`` or by ``--config PATH`` on a
management command. Without either, the gateway runs in development mode with
built-in defaults and logs a warning. A file that is missing or invalid never
falls back to development mode: loading raises ``ConfigError`` naming the key
and the fix.
"""

import logging
import os
import re
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from ibkr_gateway.scopes import ALL_SCOPES

logger = logging.getLogger(__name__)

CONFIG_ENV = "IBKR_GATEWAY_CONFIG"

KNOWN_SECTIONS = frozenset(
    {
        "broker",
        "audit",
        "cli",
        "auth",
        "paper_trading",
        "live_trading",
        "risk_policies",
        "remote_auth",
        "sidecar",
    }
)
SYNCHRONOUS_MODES = ("FULL", "EXTRA", "NORMAL")
DEVELOPMENT_PRINCIPAL = "dev"

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
_PRINCIPAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class ConfigError(ImproperlyConfigured):
    """Invalid or missing runtime config, with the key at fault and the fix."""

    exit_code = 7

    def __init__(self, key, problem, fix, source=None):
        self.key = key
        self.problem = problem
        self.fix = fix
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {problem}. {fix}")


@dataclass(frozen=True)
class AuditSettings:
    """The ``[audit]`` section: chain key, correlation key and durability."""

    hmac_secret_env: str = "IBKR_AUDIT_HMAC_SECRET"
    key_id: str = "k1"
    fallback_keys: dict = field(default_factory=dict)
    correlation_secret_env: str | None = None
    synchronous: str = "FULL"


@dataclass(frozen=True)
class CliSettings:
    """The ``[cli]`` section: the principal management commands act as."""

    principal: str = DEVELOPMENT_PRINCIPAL
    scopes: frozenset = ALL_SCOPES
    operator: bool = True

    @property
    def actor_id(self):
        return f"cli:{self.principal}"


@dataclass(frozen=True)
class RuntimeConfig:
    """A validated runtime config; ``source`` is None in development mode."""

    source: Path | None = None
    audit: AuditSettings = field(default_factory=AuditSettings)
    cli: CliSettings = field(default_factory=CliSettings)
    broker: object = field(default_factory=lambda: _broker_settings())
    trading: object = field(default_factory=lambda: _trading_settings())
    sections: dict = field(default_factory=dict)

    @property
    def development_mode(self):
        return self.source is None


def _broker_settings(source=None, table=None):
    # Imported here because the broker config raises ConfigError from this
    # module.
    from ibkr_gateway.broker.config import BrokerSettings, parse_broker_section

    if table is None:
        return BrokerSettings()
    return parse_broker_section(source, table)


def _trading_settings(source=None, data=None):
    # Imported here because the trading config imports this module.
    from orders.trading_config import TradingSettings, parse_trading_sections

    if data is None:
        return TradingSettings()
    return parse_trading_sections(source, data)


def _expect_type(source, key, value, kind, description):
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(
            key,
            f"expected {description}, got {type(value).__name__} {value!r}",
            f"Set {key} to {description}.",
            source,
        )


def _reject_unknown(source, section, table, allowed):
    for name in table:
        if name not in allowed:
            known = ", ".join(sorted(allowed))
            raise ConfigError(
                f"{section}.{name}",
                "unknown key",
                f"Remove it or use one of: {known}.",
                source,
            )


def _env_name(source, key, value):
    _expect_type(source, key, value, str, "an environment variable name")
    if not _ENV_NAME.match(value):
        raise ConfigError(
            key,
            f"{value!r} is not a valid environment variable name",
            "Use letters, digits and underscores, not starting with a digit.",
            source,
        )
    return value


def _parse_audit(source, table):
    _expect_type(source, "audit", table, dict, "a table")
    allowed = {
        "hmac_secret_env",
        "key_id",
        "fallback_keys",
        "correlation_secret_env",
        "synchronous",
    }
    _reject_unknown(source, "audit", table, allowed)
    defaults = AuditSettings()

    hmac_secret_env = _env_name(
        source,
        "audit.hmac_secret_env",
        table.get("hmac_secret_env", defaults.hmac_secret_env),
    )

    key_id = table.get("key_id", defaults.key_id)
    _expect_type(source, "audit.key_id", key_id, str, "a key id string")
    if not _KEY_ID.match(key_id):
        raise ConfigError(
            "audit.key_id",
            f"{key_id!r} is not a valid key id",
            "Use 1 to 32 letters, digits, '.', '_' or '-', such as \"k2\".",
            source,
        )

    fallback_keys = {}
    raw_fallbacks = table.get("fallback_keys", {})
    _expect_type(source, "audit.fallback_keys", raw_fallbacks, dict, "a table")
    for fallback_id, env in raw_fallbacks.items():
        key = f"audit.fallback_keys.{fallback_id}"
        if not _KEY_ID.match(fallback_id):
            raise ConfigError(
                key,
                f"{fallback_id!r} is not a valid key id",
                "Use 1 to 32 letters, digits, '.', '_' or '-'.",
                source,
            )
        if fallback_id == key_id:
            raise ConfigError(
                key,
                f"{fallback_id!r} is also the current audit.key_id",
                "List only retired key ids under [audit.fallback_keys].",
                source,
            )
        fallback_keys[fallback_id] = _env_name(source, key, env)

    correlation_secret_env = table.get("correlation_secret_env")
    if correlation_secret_env is None:
        raise ConfigError(
            "audit.correlation_secret_env",
            "missing",
            'Add correlation_secret_env = "IBKR_AUDIT_CORRELATION_SECRET" '
            "under [audit] and set that variable to at least 32 random bytes.",
            source,
        )
    _env_name(source, "audit.correlation_secret_env", correlation_secret_env)

    synchronous = table.get("synchronous", defaults.synchronous)
    _expect_type(source, "audit.synchronous", synchronous, str, "a string")
    if synchronous.upper() not in SYNCHRONOUS_MODES:
        raise ConfigError(
            "audit.synchronous",
            f"{synchronous!r} is not supported",
            f"Use one of {', '.join(SYNCHRONOUS_MODES)} (FULL is the default).",
            source,
        )

    return AuditSettings(
        hmac_secret_env=hmac_secret_env,
        key_id=key_id,
        fallback_keys=fallback_keys,
        correlation_secret_env=correlation_secret_env,
        synchronous=synchronous.upper(),
    )


def _parse_cli(source, table):
    _expect_type(source, "cli", table, dict, "a table")
    _reject_unknown(source, "cli", table, {"principal", "scopes", "operator"})

    principal = table.get("principal")
    if principal is None:
        raise ConfigError(
            "cli.principal",
            "missing",
            'Add principal = "<name>" under [cli]; events name it as cli:<name>.',
            source,
        )
    _expect_type(source, "cli.principal", principal, str, "a string")
    if not _PRINCIPAL.match(principal):
        raise ConfigError(
            "cli.principal",
            f"{principal!r} is not a valid principal name",
            "Use 1 to 64 letters, digits, '.', '_', '@' or '-'.",
            source,
        )

    scopes = table.get("scopes", [])
    _expect_type(source, "cli.scopes", scopes, list, "a list of scope strings")
    for scope in scopes:
        if scope not in ALL_SCOPES:
            raise ConfigError(
                "cli.scopes",
                f"unknown scope {scope!r}",
                f"Use scopes from: {', '.join(sorted(ALL_SCOPES))}.",
                source,
            )

    operator = table.get("operator", False)
    _expect_type(source, "cli.operator", operator, bool, "true or false")

    return CliSettings(principal=principal, scopes=frozenset(scopes), operator=operator)


def parse_runtime_config(data, source):
    """Validate the parsed TOML ``data`` read from ``source``."""
    for name in data:
        if name not in KNOWN_SECTIONS:
            raise ConfigError(
                name,
                "unknown section",
                f"Remove it or use one of: {', '.join(sorted(KNOWN_SECTIONS))}.",
                source,
            )

    if "audit" not in data:
        raise ConfigError(
            "audit",
            "missing section",
            "Add an [audit] section with at least correlation_secret_env.",
            source,
        )
    audit = _parse_audit(source, data["audit"])

    # Without [cli], management commands that read audited data hold no scope
    # and are refused, which is the fail-closed choice.
    cli = CliSettings(principal="unconfigured", scopes=frozenset(), operator=False)
    if "cli" in data:
        cli = _parse_cli(source, data["cli"])

    broker = _broker_settings(source, data.get("broker"))
    trading = _trading_settings(source, data)

    # NOTE: [auth], [remote_auth] and [sidecar] are only checked to be tables,
    # because no code reads their keys yet.
    for name in ("auth", "remote_auth", "sidecar"):
        if name in data:
            _expect_type(source, name, data[name], dict, "a table")

    return RuntimeConfig(
        source=source,
        audit=audit,
        cli=cli,
        broker=broker,
        trading=trading,
        sections=dict(data),
    )


def load_runtime_config(path=None, option="--config"):
    """Load the config at ``path``, or at ``$IBKR_GATEWAY_CONFIG``, or none.

    ``option`` names where an explicit ``path`` came from, for messages.
    """
    if path is None:
        path = os.environ.get(CONFIG_ENV) or None
        option = CONFIG_ENV
    if path is None:
        return RuntimeConfig()

    source = Path(path)
    undo = (
        "unset the variable to run in development mode"
        if option == CONFIG_ENV
        else f"correct the path given to {option}"
    )
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            option,
            f"config file {str(source)!r} does not exist",
            f"Create it, or {undo}.",
        ) from None
    except OSError as exc:
        raise ConfigError(
            option,
            f"config file {str(source)!r} cannot be read ({exc.strerror})",
            "Check the path and its permissions.",
        ) from None

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            "TOML syntax",
            f"the file is not valid TOML: {exc}",
            "Fix the syntax at the position shown.",
            source,
        ) from None

    return parse_runtime_config(data, source)


_lock = threading.Lock()
_current = None
_warned_development_mode = False


def get_runtime_config():
    """Return the process-wide runtime config, loading it on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = load_runtime_config()
            _warn_if_development(_current)
        return _current


def set_runtime_config(config):
    """Install ``config`` for this process, as ``--config PATH`` does."""
    global _current
    with _lock:
        _current = config
        _warn_if_development(config)


def _warn_if_development(config):
    global _warned_development_mode
    if not config.development_mode or _warned_development_mode:
        return
    _warned_development_mode = True
    logger.warning(
        "DEVELOPMENT MODE: %s is not set, so the CLI acts as cli:dev with "
        "every scope and the audit log is signed with %s. Do not use this "
        "mode or its database with a real account.",
        CONFIG_ENV,
        "the key in IBKR_AUDIT_HMAC_SECRET"
        if os.environ.get("IBKR_AUDIT_HMAC_SECRET")
        else "a fixed development key",
    )
