"""Keyed correlation hashes that stand in for account ids and token ids.

A correlation hash lets a reviewer group events of one account or one token
without the log holding the raw id. It is HMAC-SHA256 under the correlation
key, which is separate from the chain key and never rotates with it, so the
same account keeps the same hash across chain key rotations.
"""

import hashlib
import hmac

ACCOUNT = "account"
TOKEN = "token"


def correlation_hash(key, kind, value):
    """Return the lowercase hex HMAC-SHA256 of ``value`` in the ``kind`` domain.

    ``kind`` separates domains, so an account id and a token id with the same
    text never share a hash.
    """
    if kind not in (ACCOUNT, TOKEN):
        raise ValueError(f"unknown correlation kind {kind!r}; use 'account' or 'token'")
    message = f"ibkr-audit/correlation/{kind}\n{value}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
