"""Bearer token strings: their format, their secrets and the keyed hash stored.

A token reads ``ibkr_<id>_<secret>``. The id selects the ``ApiToken`` row, and
the secret is compared with the row's ``secret_hash`` in constant time. Only
that hash is stored: HMAC-SHA256 under a key derived from Django's
``SECRET_KEY`` with ``HASH_SALT`` as the domain string, so a copy of the
database alone does not let anyone check guesses. Changing ``SECRET_KEY``
therefore invalidates every token.
"""

import hmac
import re
import secrets

from django.utils.crypto import salted_hmac

PREFIX = "ibkr_"
SECRET_BYTES = 32
HASH_SALT = "ibkr-gateway/api-token-secret/v1"
# SQLite integers are signed 64-bit, so a larger id cannot be looked up.
MAX_TOKEN_ID = 2**63 - 1

# token_urlsafe(32) returns 43 characters of the URL-safe base64 alphabet.
_TOKEN = re.compile(r"ibkr_([1-9][0-9]{0,18})_([A-Za-z0-9_-]{43})", re.ASCII)


def new_secret():
    """Return a fresh random secret of ``SECRET_BYTES`` bytes, base64url-encoded."""
    return secrets.token_urlsafe(SECRET_BYTES)


def format_token(token_id, secret):
    """Return the bearer token string that a client sends."""
    return f"{PREFIX}{token_id}_{secret}"


def parse_token(text):
    """Return ``(token_id, secret)`` for a well-formed token, else None."""
    match = _TOKEN.fullmatch(text)
    if match is None:
        return None
    token_id = int(match.group(1))
    if token_id > MAX_TOKEN_ID:
        return None
    return token_id, match.group(2)


def hash_secret(secret):
    """Return the lowercase hex keyed hash of ``secret`` that rows store."""
    return salted_hmac(HASH_SALT, secret, algorithm="sha256").hexdigest()


def secret_matches(secret, stored_hash):
    """Return whether ``secret`` hashes to ``stored_hash``, in constant time."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)
