"""Chain keys and the correlation key, read from environment variables.

Keys are the raw bytes of the variable that the runtime config names, at
least 32 bytes long. In development mode the chain key comes from
``IBKR_AUDIT_HMAC_SECRET`` when it is set. Otherwise it is a fixed
development key stored under its own key id ``dev``, so rows signed with it
are never mistaken for rows signed with a real key.
"""

import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from ibkr_gateway.runtime_config import ConfigError

MIN_KEY_BYTES = 32
DEFAULT_SECRET_ENV = "IBKR_AUDIT_HMAC_SECRET"
DEVELOPMENT_KEY_ID = "dev"
DEVELOPMENT_KEY = b"ibkr-gateway development audit key: not a secret, never use it live"

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class SigningKey:
    """The key id stored on new rows and the key that signs them."""

    key_id: str
    key: bytes


def read_key(env_name, setting):
    """Return the bytes of ``$env_name``; raise ``ConfigError`` naming ``setting``."""
    if not _ENV_NAME.match(env_name or ""):
        raise ConfigError(
            setting,
            f"{env_name!r} is not a valid environment variable name",
            "Use letters, digits and underscores, not starting with a digit.",
        )

    value = os.environb.get(env_name.encode())
    if value is None:
        raise ConfigError(
            setting,
            f"environment variable {env_name} is not set",
            f"Set {env_name} to at least {MIN_KEY_BYTES} random bytes, for "
            f'example: export {env_name}="$(openssl rand -hex 32)".',
        )
    if len(value) < MIN_KEY_BYTES:
        raise ConfigError(
            setting,
            f"environment variable {env_name} holds {len(value)} bytes, fewer "
            f"than the {MIN_KEY_BYTES} required",
            f"Set {env_name} to at least {MIN_KEY_BYTES} random bytes.",
        )
    return value


def signing_key(config):
    """Return the ``SigningKey`` for new rows under ``config``."""
    if config.development_mode:
        if os.environb.get(DEFAULT_SECRET_ENV.encode()) is None:
            return SigningKey(DEVELOPMENT_KEY_ID, DEVELOPMENT_KEY)
        return SigningKey(
            config.audit.key_id, read_key(DEFAULT_SECRET_ENV, DEFAULT_SECRET_ENV)
        )

    return SigningKey(
        config.audit.key_id,
        read_key(config.audit.hmac_secret_env, "audit.hmac_secret_env"),
    )


def correlation_key(config):
    """Return the key of account and token correlation hashes.

    With a config file it is its own variable, so it survives a chain key
    rotation. In development mode it is derived from the chain key.
    """
    if config.development_mode:
        derived_from = signing_key(config).key
        return hmac.new(
            derived_from, b"ibkr-audit/correlation-key/v1", hashlib.sha256
        ).digest()

    return read_key(config.audit.correlation_secret_env, "audit.correlation_secret_env")


def verification_keys(config, *, current_key_id, secret_env=None, extra=None):
    """Return ``{key_id: key}`` for verifying a log whose newest rows use
    ``current_key_id``.

    ``secret_env`` (``--hmac-secret-env``) names the variable holding the key
    of ``current_key_id``; ``extra`` (``--key KEY_ID=NAME``) maps further key
    ids to variables. Both win over the config file.

    The public development key is accepted only in development mode and only
    while no real key is in play: otherwise anyone could append rows signed
    with it after rows signed with a real key.
    """
    keys = {}
    only_development = (
        config.development_mode
        and secret_env is None
        and not extra
        and signing_key(config).key_id == DEVELOPMENT_KEY_ID
    )
    if only_development:
        keys[DEVELOPMENT_KEY_ID] = DEVELOPMENT_KEY

    for key_id, env_name in config.audit.fallback_keys.items():
        keys[key_id] = read_key(env_name, f"audit.fallback_keys.{key_id}")

    if secret_env is not None:
        keys[current_key_id] = read_key(secret_env, "--hmac-secret-env")
    else:
        current = signing_key(config)
        if current.key_id != DEVELOPMENT_KEY_ID or only_development:
            keys[current.key_id] = current.key

    for key_id, env_name in (extra or {}).items():
        keys[key_id] = read_key(env_name, f"--key {key_id}")

    return keys


def check_keys(config):
    """Raise ``ConfigError`` unless every key that ``config`` names is usable."""
    signing_key(config)
    correlation_key(config)
    for key_id, env_name in config.audit.fallback_keys.items():
        read_key(env_name, f"audit.fallback_keys.{key_id}")
