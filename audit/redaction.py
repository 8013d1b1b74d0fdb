"""Redact secrets, home paths and account ids from audit event data.

Callers pass free-form event data through ``redact`` before it is stored, and
store only the value it returns together with its list of redactions. The
export scan calls ``find_secrets`` on stored text to check that no secret got
through. The module imports nothing from Django.

The whole value of a key with a sensitive name becomes ``REDACTED``. Every
other string, and every dict key, is scrubbed instead. Credentials, secret URL
parts, private key blocks, cloud and vendor tokens, JWTs, home directory paths
and IBKR account ids in the text become markers, and the rest of the text is
kept.

Most strings contain nothing that any pattern could match. A trigger check of
a few cheap searches finds those strings, and only the rest go through the
full scrub. The trigger is a superset of what the full scrub matches, so the
fast path returns the same result as the full scrub would.
"""

import datetime
import decimal
import functools
import json
import re
import unicodedata
import urllib.parse
import uuid

__all__ = [
    "ACCOUNT_ID",
    "AUTHORIZATION_HEADER",
    "BASIC_CREDENTIAL",
    "BEARER_CREDENTIAL",
    "CLOUD_KEY",
    "COOKIE",
    "HOME_PATH",
    "JWT",
    "InvalidEventValue",
    "MAX_DEPTH",
    "MAX_SCANNED_LENGTH",
    "MAX_STRING_LENGTH",
    "PRIVATE_KEY_BLOCK",
    "REASONS",
    "REDACTED",
    "REDACTED_PATH",
    "SECRET_ASSIGNMENT",
    "SENSITIVE_KEY",
    "URL_SECRET_QUERY",
    "URL_USERINFO",
    "VENDOR_TOKEN",
    "find_secrets",
    "redact",
    "scrub_text",
    "sensitive_key",
]

REDACTED = "[REDACTED]"
REDACTED_PATH = "[REDACTED_PATH]"

# Reasons recorded in redaction entries and returned by find_secrets.
SENSITIVE_KEY = "sensitive_key"
BEARER_CREDENTIAL = "bearer_credential"
BASIC_CREDENTIAL = "basic_credential"
COOKIE = "cookie"
AUTHORIZATION_HEADER = "authorization_header"
SECRET_ASSIGNMENT = "secret_assignment"
URL_USERINFO = "url_userinfo"
URL_SECRET_QUERY = "url_secret_query"
HOME_PATH = "home_path"
ACCOUNT_ID = "account_id"
PRIVATE_KEY_BLOCK = "private_key_block"
CLOUD_KEY = "cloud_key"
JWT = "jwt"
VENDOR_TOKEN = "vendor_token"
REASONS = (
    SENSITIVE_KEY,
    BEARER_CREDENTIAL,
    BASIC_CREDENTIAL,
    COOKIE,
    AUTHORIZATION_HEADER,
    SECRET_ASSIGNMENT,
    URL_USERINFO,
    URL_SECRET_QUERY,
    HOME_PATH,
    ACCOUNT_ID,
    PRIVATE_KEY_BLOCK,
    CLOUD_KEY,
    JWT,
    VENDOR_TOKEN,
)

# Maximum nesting of dicts, lists and sets. Each level costs up to four Python
# stack frames, so 100 levels stay well below the default recursion limit of
# 1000 frames.
MAX_DEPTH = 100

# Maximum length in characters of one string or key that redact and scrub_text
# accept. A stored event may take at most 64 KiB of UTF-8 and a character takes
# at least one byte, so a longer string fits only if redaction shrinks it a lot.
# Such a string is rejected all the same, before any pattern runs on it.
MAX_STRING_LENGTH = 64 * 1024

# Maximum total length in characters of the strings and keys that one redact
# call scans. Values under a sensitive key are dropped unread and do not count.
MAX_SCANNED_LENGTH = 256 * 1024

# Strings longer than this bypass the caches of name and text checks, so
# that the five caches of _CACHE_SIZE entries hold at most about 25 MB, an
# estimate for strings of 4-byte characters.
_MAX_CACHED_LENGTH = 256
_CACHE_SIZE = 4096


# --- Sensitive names of keys, assignments and query parameters ---

# Words that make a folded name secret wherever they occur in it. A name is
# folded by lowercasing it and joining its words with "_", once with
# camelCase split and once without.
_SECRET_NAME_MARKERS = (
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "pwd",
    "credential",
    "cookie",
    "authorization",
    "api_key",
    "apikey",
    "private_key",
    "privatekey",
    "priv_key",
    "privkey",
    "access_key",
    "accesskey",
    "session_id",
    "sessionid",
    "session_token",
    "sessid",
    "signature",
    "signing_key",
    "hmac_key",
    "encryption_key",
    "master_key",
    "ssh_key",
    "client_assertion",
    "subscription_key",
    "csrf",
)

# Words that make a name secret only as a whole word of the folded name,
# because as substrings they occur in harmless words: "auth" in "author",
# "pass" in "passport" and "checks_passed", "pin" in "spin", "sig" in "design".
# A bare "key" is not one of them, so "key_id" and "idempotency_key" are kept.
_SECRET_NAME_WORDS = frozenset(
    {
        "auth",
        "jwt",
        "pass",
        "session",
        "sig",
        "sid",
        "bearer",
        "otp",
        "totp",
        "mfa",
        "passcode",
        "pin",
        "creds",
        "cred",
        "csrf",
        "private",
        "pkey",
    }
)

# Markers for key names only. Header maps often carry credentials and paths
# often name a user's home directory, but "path=" in free text is common and
# harmless.
_KEY_ONLY_MARKERS = ("header", "path")

# Last words of a name that describe a secret without holding it, as in
# "token_hash" and "session_count", or that name an amount, as in the order
# counter "session_notional". They do not exempt password names, because a
# password hash can be cracked offline.
_EVIDENCE_SUFFIXES = frozenset(
    {"count", "counter", "hash", "length", "ttl", "expiry", "notional"}
)

# Every marker and name word above contains one of these words within one of
# its "_"-separated parts. So text or an ASCII name that contains none of
# them contains no secret name, and the trigger check and sensitive_key skip
# the full checks for it.
_NAME_TRIGGER_WORDS = (
    "token",
    "secret",
    "pass",
    "pwd",
    "cred",
    "cookie",
    "auth",
    "key",
    "sess",
    "sid",
    "sig",
    "jwt",
    "otp",
    "mfa",
    "pin",
    "csrf",
    "private",
    "assertion",
    "bearer",
    "header",
    "path",
)

# Unicode format characters (category Cf, Unicode 14.0 as in Python 3.11),
# such as the zero-width space. They are invisible, so a name could hide a
# secret word behind them.
_FORMAT_CHARACTERS = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
_FORMAT_CHARACTER = re.compile(f"[{_FORMAT_CHARACTERS}]")

# Cyrillic and Greek letters that look like Latin ones, mapped to the Latin
# letter. NFKC leaves them alone, so "pаssword" with a Cyrillic "а" would
# otherwise pass as a harmless name.
_LOOKALIKE_LETTERS = str.maketrans(
    # Cyrillic capitals, Cyrillic small letters, Greek capitals and Greek
    # small letters, in the order of the Latin letters below.
    "\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0423\u0425"
    "\u0405\u0406\u0408"
    "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0455\u0456\u0458\u043a\u0501"
    "\u04bb\u051b\u051d"
    "\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4"
    "\u03a5\u03a7"
    "\u03b1\u03bf\u03c1\u03b9\u03ba\u03bd\u03c5",
    "ABEKMHOPCTYXSIJaeopcyxsijkdhqwABEZHIKMNOPTYXaopikvu",
)

# "sessionKey" -> "session_Key", "APIKey" -> "API_Key".
_CAMEL_CASE_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_LETTER_OR_DIGIT = re.compile(r"[^a-z0-9]+")


_NAME_TRIGGER = re.compile("|".join(_NAME_TRIGGER_WORDS))
_KEY_MARKER = re.compile("|".join(_SECRET_NAME_MARKERS + _KEY_ONLY_MARKERS))
_CREDENTIAL_MARKER = re.compile("|".join(_SECRET_NAME_MARKERS))


def _name_words(name):
    """Return the lowercase words of ``name``, without and with camelCase split.

    Both forms are needed: "sessionKey" has the word "session" only once it
    is split, and "aUtHoRiZaTiOn" contains "authorization" only unsplit.
    """
    if not name.isascii():
        name = unicodedata.normalize("NFKC", name)
        name = _FORMAT_CHARACTER.sub("", name).translate(_LOOKALIKE_LETTERS)
    lowered = name.casefold()
    whole = [word for word in _NOT_LETTER_OR_DIGIT.split(lowered) if word]
    if lowered == name:
        # Without capitals there is no camelCase to split.
        return whole, whole
    split = _CAMEL_CASE_BOUNDARY.sub("_", name).casefold()
    return whole, [word for word in _NOT_LETTER_OR_DIGIT.split(split) if word]


def _is_secret_name(name, marker_pattern):
    # Every marker and name word contains one of the trigger words, and for
    # an ASCII name each word of its folded form is part of name.lower().
    if name.isascii() and _NAME_TRIGGER.search(name.lower()) is None:
        return False
    whole, split = _name_words(name)
    if not split:
        return False
    # The last word of the split form is also the end of the last word of
    # the unsplit form, so "tokenHash" counts as evidence as well.
    if split[-1] in _EVIDENCE_SUFFIXES and not any(
        word.startswith("pass") or word in ("pwd", "pin") for word in whole + split
    ):
        return False
    for words in (whole,) if split is whole else (whole, split):
        if not _SECRET_NAME_WORDS.isdisjoint(words):
            return True
        if marker_pattern.search("_".join(words)) is not None:
            return True
    return False


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _cached_sensitive_key(name):
    return _is_secret_name(name, _KEY_MARKER)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _cached_credential_name(name):
    return _is_secret_name(name, _CREDENTIAL_MARKER)


def sensitive_key(name):
    """Return whether the whole value under the key ``name`` is a secret.

    The name is folded first. It is NFKC-normalised, format characters such
    as the zero-width space are removed, and Cyrillic and Greek lookalike
    letters become Latin ones. Then it is lowercased and cut into words at
    every character that is not a letter or digit, once with camelCase split
    and once without. So "X-API-KEY", "apiKey" and "api/key" all contain
    "api_key".

    A name is sensitive when it contains a marker such as "token",
    "password", "api_key", "header" or "path", or has a word such as "auth",
    "pass", "session" or "pin". A name whose last word is "count", "counter",
    "hash", "length", "ttl" or "expiry" describes a secret and is not
    sensitive, so "token_hash" and "session_count" are kept. That does not
    hold for a name with a word that starts with "pass" or is "pwd" or "pin",
    so "password_hash" is sensitive.
    """
    if len(name) > _MAX_CACHED_LENGTH:
        return _is_secret_name(name, _KEY_MARKER)
    return _cached_sensitive_key(name)


def _is_credential_name(name):
    """Return whether an assignment or query parameter ``name`` is secret.

    The rules are those of ``sensitive_key`` without "header" and "path".
    """
    if len(name) > _MAX_CACHED_LENGTH:
        return _is_secret_name(name, _CREDENTIAL_MARKER)
    return _cached_credential_name(name)


# --- Patterns of the full scrub ---

# Keys of the stored event envelope whose value must be null or a 64-digit
# lowercase hex hash.
_ENVELOPE_HASH_KEYS = frozenset(
    {"token_hash", "account_hash", "input_hash", "output_hash"}
)
_REDACTIONS_KEY = "redactions"

_HEX_HASH = re.compile(r"[0-9a-f]{64}")

# Text that this module writes in place of a secret. A pattern whose secret
# part is exactly one of these markers found already redacted text, so it
# changes nothing and find_secrets reports nothing.
_MARKER = re.compile(r"\[REDACTED\]|\[REDACTED_PATH\]|\[account:[0-9a-f]{64}\]")

# private_key_block: a PEM or PGP private key from its BEGIN line to its END
# line, or to the end of the text when the END line is missing. The labels
# are kept, so the stored text still shows which kind of key it was.
_PRIVATE_KEY_BLOCK = re.compile(
    r"(?P<begin>-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----)"
    r"(?P<body>.*?)(?P<end>-----END [A-Z0-9 ]*-----|\Z)",
    re.DOTALL,
)

# url_userinfo and url_secret_query: a URL with any scheme, up to whitespace,
# a quote, a backtick or an angle bracket. "\/" is accepted for "/", as JSON
# may escape it. The lookbehind starts a match only at the first character of
# a run of scheme characters, so a long run without "://" is scanned once and
# not once per character.
_URL_SCHEME = r"(?<![A-Za-z0-9+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):(?:\\{0,15}/){2}"
_URL = re.compile(_URL_SCHEME + r"[^\s'\"<>`]+")
_URL_START = re.compile(_URL_SCHEME)

# The characters that end the authority part of a URL. A backslash ends it
# too, because JSON may write "/" as "\/".
_AUTHORITY_END = re.compile(r"[/?#\\]")

# Schemes of network services that take a user name and password. For these,
# "scheme://X@host" with an unencoded "/", "?" or "#" in X is still taken as
# user info, as in "postgres://app:pa/ss@db/x", when X starts with "user:" and
# the part after the colon is not a port number. So
# "https://h/path?email=a@b.c" and "https://h:8443/x?email=a@b.c" keep their
# e-mail address.
_NETWORK_SCHEMES = frozenset(
    {
        "amqp",
        "amqps",
        "ftp",
        "ftps",
        "http",
        "https",
        "imap",
        "imaps",
        "ldap",
        "ldaps",
        "mongodb",
        "mongodb+srv",
        "mqtt",
        "mqtts",
        "mssql",
        "mysql",
        "nats",
        "pop3",
        "pop3s",
        "postgres",
        "postgresql",
        "redis",
        "rediss",
        "sftp",
        "smtp",
        "smtps",
        "socks5",
        "ssh",
        "ws",
        "wss",
    }
)
_PORT = re.compile(r"[0-9]*")

# url_secret_query: one name=value parameter of a URL query or fragment. The
# value stops at "?" as well, so a secret in a nested redirect URL such as
# "?next=https://h/?token=x" is found as its own parameter.
_URL_PARAMETER = re.compile(r"(?<=[?&;#])(?P<name>[^?&;#=]+)=(?P<value>[^?&;#]*)")

# Query parameter names that are secret as a whole name, after lowercasing and
# folding "-" and "." to "_". "code" is an OAuth authorization code.
_SECRET_QUERY_NAMES = frozenset({"auth", "code", "jwt", "key", "pass", "pwd", "sig"})
# Substrings that make a query parameter name secret, after the same folding.
_SECRET_QUERY_MARKERS = (
    "token",
    "secret",
    "password",
    "passwd",
    "credential",
    "signature",
    "api_key",
    "apikey",
    "private_key",
    "access_key",
    "session",
    "_key",
    "_sig",
)

# authorization_header and cookie: an Authorization, Proxy-Authorization,
# Cookie or Set-Cookie header and its value. A header written inside quotes,
# as in curl -H 'Cookie: a=b', ends at the closing quote, so the text after
# the quote is still scrubbed by the other patterns. A header without a quote
# before it runs to the end of the line.
_HEADER_NAMES = r"(?:proxy-)?authorization|(?:set-)?cookie"
_HEADER = re.compile(
    r"(?P<quote>['\"`])(?P<quoted_name>" + _HEADER_NAMES + r")[ \t]*:[ \t]*"
    r"(?P<quoted_value>(?:(?!(?P=quote))[^\r\n])*)"
    r"|(?<![\w-])(?P<name>" + _HEADER_NAMES + r")[ \t]*:[ \t]*"
    r"(?P<value>[^\r\n]*)",
    re.IGNORECASE,
)

# bearer_credential and basic_credential: an HTTP authentication scheme and
# its credential in HTTP token68 syntax, which is letters, digits and
# "-._~+/" with "=" padding. Any horizontal whitespace may separate them, a
# no-break space too, and the credential may be quoted, with escaped quotes
# as in JSON. A marker starts with "[", which token68 lacks, so
# "Bearer [REDACTED]" does not match.
_SCHEME_CREDENTIAL = re.compile(
    r"\b(?P<scheme>bearer|basic)[^\S\r\n]+(?:\\{0,15}[\"'])?"
    r"(?P<value>[A-Za-z0-9._~+/-]+=*)",
    re.IGNORECASE,
)

# secret_assignment: a name and "=", ":", ":=", "=>" or "==", bare or in
# quotes as in JSON or Python, or in backslash-escaped quotes as in JSON
# inside a JSON string. Only the name and the separator are matched here, so
# the value of an assignment with a harmless name, as in "note=token=x", is
# still scanned for further assignments. Format characters count as name
# characters, so "pass<zero-width space>word" is one name.
_NAME_CHARACTER = rf"[\w.{_FORMAT_CHARACTERS}-]"
_ASSIGNMENT_NAME = re.compile(
    rf"(?<!{_NAME_CHARACTER})(?P<key_quote>(?:\\{{0,15}}[\"'])?)"
    rf"(?P<name>{_NAME_CHARACTER}+)(?P=key_quote)"
    r"[^\S\r\n]*(?::=|=>|==?|:)[^\S\r\n]*"
)
# secret_assignment: the value after a secret name, in one of four forms.
# A value in backslash-escaped quotes ends at the same escaped quote where
# the character before it is no backslash.
_ESCAPED_QUOTED_VALUE = re.compile(
    r"(?P<quote>\\{1,15}[\"'])(?P<content>(?:(?!(?<!\\)(?P=quote))[^\r\n])*)"
)
# A quoted value, with an optional Python string prefix as in b'...', ends at
# its unescaped closing quote, or at the end of the line.
_QUOTED_VALUE = re.compile(
    r"(?:[bBrRuUfF]{1,2})?"
    r"(?P<quote>[\"'])(?P<content>(?:\\.|(?!(?P=quote))[^\\\r\n])*)"
)
# A bare value ends at whitespace, a quote or backtick, ",", ";", "&", "<" or
# ">". A value that starts with "[", "{" or "(" is bracketed instead.
_BARE_VALUE = re.compile(r"[^\s'\"`,;&<>]+")
_OPENING_BRACKETS = {"[": "]", "{": "}", "(": ")"}
_BRACKET_SYNTAX = re.compile(r"[\[\](){}\"'\\\r\n]")

# cloud_key: an AWS access key id, AKIA for long-term and ASIA for temporary
# credentials, and 16 upper-case letters and digits.
_CLOUD_KEY = re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])")

# jwt: a JSON Web Token, whose header is base64url JSON and so starts with
# "eyJ", then the payload and signature. An encrypted JWT has five parts.
_JWT = re.compile(
    r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}"
    r"\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+){0,2}"
)

# vendor_token: GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_),
# GitLab personal tokens (glpat-), Slack tokens (xoxa-, xoxb-, xoxp-,
# xoxr-), Stripe secret and restricted keys (sk_live_, rk_live_, and the same
# for test mode), and this gateway's own API tokens (ibkr_<id>_<secret>).
_VENDOR_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|[rs]k_(?:live|test)_[A-Za-z0-9]{10,}|ibkr_[0-9]+_[A-Za-z0-9_-]{20,})"
    r"|(?<![A-Za-z0-9])(?:xox[abpr]-[A-Za-z0-9-]{10,}|glpat-[A-Za-z0-9_-]{20,})"
)

# home_path: a path in a user's home directory, up to whitespace, a quote, a
# backtick or an angle bracket. The user name in it identifies a person. A
# path must start a word, so "/home/" inside a URL path such as
# "https://h/home/x" is kept, while "file:///home/x" and "/var/home/x" are
# redacted from "/home/" on. "~user/" is another user's home directory, and
# "\\server\Users\" is a Windows profile on a file share.
_HOME_PATH = re.compile(
    r"(?:(?<![\w.~-])"
    r"(?:/home/|/Users/|/root(?![\w.-])|/mnt/[A-Za-z]/Users/"
    r"|[A-Za-z]:[\\/]+(?i:users)[\\/])"
    r"|(?<![\w.~/\\-])~(?:[A-Za-z_][\w.-]*)?[/\\]"
    r"|(?<![\w.~/\\-])\\\\[\w.$-]+[\\/]+(?i:users)[\\/])"
    r"[^\s'\"<>`]*"
)

# account_id: an IBKR account id, a U, DU, DF, DI, F or I prefix and 5 to 9
# digits, not inside a longer run of letters and digits. The prefix is
# required and uppercase, as IBKR writes it, so numbers such as contract ids
# and lowercase hex hashes and UUIDs are not taken for account ids.
_ACCOUNT_ID = re.compile(r"(?<![A-Za-z0-9])(?:DU|DF|DI|U|F|I)[0-9]{5,9}(?![A-Za-z0-9])")

# A run of URL-like text with at least one percent sign. The run is decoded
# and scrubbed, because percent-encoding hides the separators that the other
# patterns need, as in "portfolio%2FU1234567" and "%3Ftoken%3Dabc". The
# lookbehind starts a match only at the start of a run, so a long run is
# scanned once.
_PERCENT_RUN = re.compile(r"(?<![^\s'\"<>`])[^\s'\"<>`%]*%[^\s'\"<>`]*")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# Encoding layers that are decoded in one go: "%253D" is "=" encoded twice.
_MAX_PERCENT_DECODES = 4

# Maximum number of scrubbing passes over one string. Text such as
# "DU1234567/home/x" needs three, two that change it and one that finds
# nothing. Five leave a margin, which is an estimate and not a proven bound.
_MAX_PASSES = 5

# Stands in for the correlation hash when find_secrets scrubs text only to
# learn which patterns match.
_DETECTION_HASH = "0" * 64


# --- Trigger check ---

# The trigger check is a superset of the full scrub: in ASCII text, every
# match of a pattern above contains one of the triggers below, or "bearer"
# or "basic" in any case. Text with any other character always takes the
# full scrub, because NFKC, lookalike letters and case-insensitive matching
# of non-ASCII letters are hard to cover with substrings.

# Case-sensitive triggers, searched in the text itself: AWS key ids, JWTs,
# account ids, private key blocks and vendor tokens. "k_live_" and "k_test_"
# stand for the Stripe prefixes "sk_" and "rk_".
_CASED_TRIGGER = re.compile(
    r"AKIA|ASIA|eyJ|U[0-9]{5}|F[0-9]{5}|I[0-9]{5}|-----BEGIN"
    r"|gh[pousr]_|github_pat_|xox[abpr]-|k_live_|k_test_|ibkr_|glpat-"
)
# Characters that each of the triggers below contains. Most strings have
# none of them, so one search of a character set rules out the rest.
_SPECIAL_CHARACTER = re.compile(r"[%~/\\:=]")
# Triggers searched in the lowercased text: URLs, percent escapes and home
# paths. Secret names count only in text with "=" or ":", because an
# assignment and a header need one of them.
_LOWERCASE_TRIGGERS = r":/|:\\|%[0-9a-f]{2}|~|/home/|/users|/root|/mnt/|\\users"
_LOWERCASE_TRIGGER = re.compile(_LOWERCASE_TRIGGERS)
_LOWERCASE_TRIGGER_WITH_NAMES = re.compile(
    _LOWERCASE_TRIGGERS + "|" + _NAME_TRIGGER.pattern
)


def _could_match(text):
    """Return False only when no pattern of the full scrub can match ``text``."""
    if not text.isascii():
        return True
    if _CASED_TRIGGER.search(text) is not None:
        return True
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered:
        return True
    if _SPECIAL_CHARACTER.search(text) is None:
        return False
    if "=" in text or ":" in text:
        return _LOWERCASE_TRIGGER_WITH_NAMES.search(lowered) is not None
    return _LOWERCASE_TRIGGER.search(lowered) is not None


# --- Public functions ---


class InvalidEventValue(ValueError):
    """Event data that cannot be stored. ``path`` names where the bad value sits.

    The messages that this module raises name the path, the type or length,
    and the rule that the value breaks. They never contain the value itself,
    so that a log of the error leaks nothing.
    """

    def __init__(self, path, message):
        super().__init__(message)
        self.path = path


def scrub_text(text, *, path, account_hash):
    """Replace credentials, home paths and account ids in ``text`` by markers.

    Returns the scrubbed text and one ``{"path": path, "reason": reason}``
    entry for each reason that matched, in a fixed order. ``account_hash``
    maps an account id to its 64-digit lowercase hex correlation hash. Raises
    ``TypeError`` when ``text`` is not a str, and ``InvalidEventValue`` when
    it is longer than ``MAX_STRING_LENGTH`` characters.
    """
    if not isinstance(text, str):
        raise TypeError(f"scrub_text expects str, got {type(text).__name__}")
    _check_string_length(text, path, "string")
    scrubbed, reasons = _scrub(str.__str__(text), account_hash)
    return scrubbed, [{"path": path, "reason": reason} for reason in reasons]


def redact(value, *, path, account_hash):
    """Redact and normalise ``value`` into data that ``json.dumps`` accepts.

    ``path`` names the root in redaction entries and errors, for example
    "metadata". ``account_hash`` maps an account id to its 64-digit lowercase
    hex correlation hash. Returns the clean value and its redaction entries,
    ``{"path": ..., "reason": ...}``, one for each path and reason, in the
    order of the walk with dict keys in sorted order. Raises
    ``InvalidEventValue`` for a value that has no deterministic JSON form, for
    a string or key longer than ``MAX_STRING_LENGTH`` characters, and when the
    strings and keys to scan total more than ``MAX_SCANNED_LENGTH``
    characters. Raises ``ValueError`` when ``account_hash`` returns anything
    but such a hash.
    """
    redactor = _Redactor(account_hash)
    clean = redactor.walk(value, path, 0)
    return clean, redactor.redactions


def find_secrets(text):
    """Scan stored canonical JSON text and return a reason for each leak found.

    The result contains one reason for each JSON string and each pattern of
    ``scrub_text`` that still matches it, and ``"sensitive_key"`` for each key
    with a sensitive name whose value is not ``"[REDACTED]"``. An empty list
    means that the text looks clean. An event built from ``redact`` output
    returns an empty list, because ``redact`` scrubs each string until no
    pattern matches it. A secret part that is only a marker is not a match:
    ``[REDACTED]``, ``[REDACTED_PATH]``, ``[account:<64 hex digits>]``, and
    text such as ``Bearer [REDACTED]`` or ``?token=[REDACTED]``. A 64-digit
    lowercase hex hash never matches.

    The scan expects whole stored events, so these envelope rules apply:

    - ``token_hash``, ``account_hash``, ``input_hash`` and ``output_hash`` at
      the top level must hold null or a 64-digit lowercase hex hash. Any other
      value there is a ``sensitive_key`` hit, and gets the ordinary checks as
      well. At other depths these are ordinary keys.
    - ``path`` in the objects of a ``redactions`` list, at any depth, is not
      a hit when its value is a string. That string is not scanned, because
      it joins keys that are scanned where they stand in the event.
    - ``reason`` in those objects is not a hit when its value is one of
      ``REASONS``.

    Duplicate keys are all scanned. Text that is not valid JSON is scanned
    as one string with the text patterns only.
    """
    if isinstance(text, (bytes, bytearray)):
        # The same decoding that json.loads applies to bytes.
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    try:
        document = _JSON_DECODER.decode(text)
    except (ValueError, RecursionError):
        # The decoder raises RecursionError for arrays or objects nested
        # deeper than the interpreter's recursion limit.
        return list(_detect(text))
    return _scan_document(document)


# --- The full scrub ---


def _scrub(text, account_hash):
    """Return ``text`` with every pattern replaced and the reasons that matched.

    Text that the trigger check clears is returned unchanged, because the
    full scrub would find nothing in it.
    """
    if _is_clean(text):
        return text, []
    return _scrub_passes(text, account_hash)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _cached_is_clean(text):
    return not _could_match(text)


def _is_clean(text):
    """Return whether the trigger check clears ``text``, cached for short text.

    Field values such as symbols, order types and check names repeat from
    event to event, so most lookups hit the cache.
    """
    if len(text) > _MAX_CACHED_LENGTH:
        return not _could_match(text)
    return _cached_is_clean(text)


def _scrub_passes(text, account_hash, *, decode_percent=True):
    """Run ``_scrub_once`` until a pass finds nothing, and collect the reasons.

    A replacement can give a neighbouring secret the context that one of the
    earlier patterns needs, as in "DU1234567/home/x", where the home path
    starts a word only once the account id before it is a marker. So the
    passes repeat until one finds nothing, which makes the result a fixed
    point that find_secrets accepts. Text that still changes after
    ``_MAX_PASSES`` passes is replaced whole by ``REDACTED``, which bounds the
    time that crafted text can cost.
    """
    reasons = []
    for _ in range(_MAX_PASSES):
        text, found = _scrub_once(text, account_hash, decode_percent)
        if not found:
            return text, reasons
        reasons.extend(reason for reason in found if reason not in reasons)
    return REDACTED, reasons


def _scrub_once(text, account_hash, decode_percent):
    """Run every pattern once, in a fixed order, and return the reasons found.

    Private key blocks go first, so that their base64 body is not scanned for
    other patterns. URLs go next so that a secret query parameter is reported
    as a URL part and not as a plain assignment. Account ids go after the
    credentials so that an id inside a credential is redacted with the
    credential and not kept as a hash. Percent-encoded runs go last. A run
    is replaced by its decoded and scrubbed form only when the patterns find
    something in the decoded text, and is kept as it is otherwise.

    Most patterns run only when the text contains a literal that all of
    their matches contain.
    """
    reasons = []

    def note(reason):
        if reason not in reasons:
            reasons.append(reason)

    if "-----BEGIN" in text:
        text = _PRIVATE_KEY_BLOCK.sub(
            lambda match: _scrub_private_key_block(match, note), text
        )
    if ":/" in text or ":\\" in text:
        text = _URL.sub(lambda match: _scrub_url(match, note), text)
    lowered = text.lower()
    if "authorization" in lowered or "cookie" in lowered:
        text = _HEADER.sub(lambda match: _scrub_header(match, note), text)
    if "bearer" in lowered or "basic" in lowered:
        text = _SCHEME_CREDENTIAL.sub(
            lambda match: _scrub_scheme_credential(match, note), text
        )
    if "=" in text or ":" in text:
        text = _scrub_secret_assignments(text, note)
    text = _scrub_token_shapes(text, note)
    if "/" in text or "\\" in text or "~" in text:
        text = _HOME_PATH.sub(lambda match: _scrub_home_path(match, note), text)
    text = _ACCOUNT_ID.sub(
        lambda match: _scrub_account_id(match, account_hash, note), text
    )
    if decode_percent and "%" in text:
        text = _PERCENT_RUN.sub(
            lambda match: _scrub_percent_run(match, account_hash, note), text
        )
    return text, reasons


def _replace_group(match, group, replacement):
    """Return the matched text with the span of ``group`` replaced."""
    whole = match.group()
    start = match.start(group) - match.start()
    end = match.end(group) - match.start()
    return whole[:start] + replacement + whole[end:]


def _is_marker(text):
    return _MARKER.fullmatch(text) is not None


def _scrub_private_key_block(match, note):
    if _is_marker(match.group("body")):
        return match.group()
    note(PRIVATE_KEY_BLOCK)
    return _replace_group(match, "body", REDACTED)


def _scrub_url(match, note):
    url = _scrub_userinfo(match.group(), note)
    # The new URL starts with the same scheme, and its query or fragment
    # starts at the first "?" or "#" after the outer authority.
    scheme_end = _URL_START.match(url).end()
    authority_end = _AUTHORITY_END.search(url, scheme_end)
    if authority_end is None:
        return url
    parameters_start = len(url)
    for separator in "?#":
        position = url.find(separator, authority_end.start())
        if position != -1:
            parameters_start = min(parameters_start, position)
    parameters = _URL_PARAMETER.sub(
        lambda parameter: _scrub_url_parameter(parameter, note),
        url[parameters_start:],
    )
    return url[:parameters_start] + parameters


def _scrub_userinfo(url, note):
    """Replace the user info of ``url`` and of every URL nested in it."""
    parts = []
    position = 0
    for start in _URL_START.finditer(url):
        if start.start() < position:
            continue
        span = _userinfo_span(url, start)
        if span is None:
            continue
        userinfo_start, userinfo_end = span
        userinfo = url[userinfo_start:userinfo_end]
        if not userinfo or _is_marker(userinfo):
            continue
        note(URL_USERINFO)
        parts.append(url[position:userinfo_start])
        parts.append(REDACTED)
        position = userinfo_end
    parts.append(url[position:])
    return "".join(parts)


def _userinfo_span(url, start):
    """Return the span of the user info after the URL start ``start``, or None."""
    authority_start = start.end()
    end_match = _AUTHORITY_END.search(url, authority_start)
    authority_end = len(url) if end_match is None else end_match.start()
    at_sign = url.rfind("@", authority_start, authority_end)
    if at_sign != -1:
        return authority_start, at_sign
    if start.group("scheme").lower() not in _NETWORK_SCHEMES:
        return None
    authority = url[authority_start:authority_end]
    _, colon, password = authority.partition(":")
    if not colon or _PORT.fullmatch(password):
        return None
    # The password runs on past "/", "?" or "#" to the first "@", but not
    # into a nested URL. Stopping at the next URL start also keeps the cost
    # linear, because each character is then searched for "@" once.
    next_start = _URL_START.search(url, authority_end)
    limit = len(url) if next_start is None else next_start.start()
    at_sign = url.find("@", authority_end, limit)
    if at_sign == -1:
        return None
    return authority_start, at_sign


def _scrub_url_parameter(match, note):
    value = match.group("value")
    if not value or _is_marker(value):
        return match.group()
    if not _secret_query_name(match.group("name")):
        return match.group()
    note(URL_SECRET_QUERY)
    return _replace_group(match, "value", REDACTED)


def _secret_query_name(name):
    name = urllib.parse.unquote(name)
    folded = name.lower().replace("-", "_").replace(".", "_")
    if folded in _SECRET_QUERY_NAMES:
        return True
    if any(marker in folded for marker in _SECRET_QUERY_MARKERS):
        return True
    return _is_credential_name(name)


def _scrub_header(match, note):
    if match.group("quote") is not None:
        name, group = match.group("quoted_name"), "quoted_value"
    else:
        name, group = match.group("name"), "value"
    value = match.group(group)
    if not value.strip() or _is_marker(value):
        return match.group()
    note(COOKIE if "cookie" in name.lower() else AUTHORIZATION_HEADER)
    return _replace_group(match, group, REDACTED)


def _scrub_scheme_credential(match, note):
    if match.group("scheme").lower() == "bearer":
        note(BEARER_CREDENTIAL)
    else:
        note(BASIC_CREDENTIAL)
    return _replace_group(match, "value", REDACTED)


def _scrub_secret_assignments(text, note):
    parts = []
    position = 0
    while (name := _ASSIGNMENT_NAME.search(text, position)) is not None:
        if _is_credential_name(name.group("name")):
            start, end = _assignment_value_span(text, name.end())
            if end > start and not _is_marker(text[start:end]):
                note(SECRET_ASSIGNMENT)
                parts.append(text[position:start])
                parts.append(REDACTED)
                position = end
                continue
        # The value is left in place and scanned from the end of the name on.
        parts.append(text[position : name.end()])
        position = name.end()
    parts.append(text[position:])
    return "".join(parts)


def _assignment_value_span(text, start):
    """Return the span of the secret part of the value that starts at ``start``.

    A bracketed value spans its brackets, a quoted value the text between its
    quotes. The span is empty when no value follows.
    """
    if start < len(text) and text[start] in _OPENING_BRACKETS:
        return start, _bracket_end(text, start)
    for pattern in (_ESCAPED_QUOTED_VALUE, _QUOTED_VALUE):
        match = pattern.match(text, start)
        if match is not None:
            return match.span("content")
    match = _BARE_VALUE.match(text, start)
    if match is None:
        return start, start
    return match.span()


def _bracket_end(text, start):
    """Return the index after the bracket that closes the one at ``start``.

    Brackets inside quoted strings and escaped characters do not count, and a
    quoted string ends at the end of its line at the latest. A value that is
    never closed runs to the end of the text. Stopping at the end of the line
    instead would make crafted text with many unclosed values cost time
    quadratic in its length, because each search runs to the end of the text.
    """
    expected = []
    quote = None
    escaped = -1
    for match in _BRACKET_SYNTAX.finditer(text, start):
        index = match.start()
        if index == escaped:
            continue
        character = match.group()
        if character == "\\":
            escaped = index + 1
        elif quote is not None:
            if character == quote or character in "\r\n":
                quote = None
        elif character in "\"'":
            quote = character
        elif character in _OPENING_BRACKETS:
            expected.append(_OPENING_BRACKETS[character])
        elif expected and character == expected[-1]:
            expected.pop()
            if not expected:
                return index + 1
    return len(text)


def _scrub_token_shapes(text, note):
    if "AKIA" in text or "ASIA" in text:
        text = _CLOUD_KEY.sub(lambda match: _scrub_whole(match, CLOUD_KEY, note), text)
    if "eyJ" in text:
        text = _JWT.sub(lambda match: _scrub_whole(match, JWT, note), text)
    if "_" in text or "xox" in text:
        text = _VENDOR_TOKEN.sub(
            lambda match: _scrub_whole(match, VENDOR_TOKEN, note), text
        )
    return text


def _scrub_whole(match, reason, note):
    note(reason)
    return REDACTED


def _scrub_home_path(match, note):
    note(HOME_PATH)
    return REDACTED_PATH


def _scrub_account_id(match, account_hash, note):
    digest = account_hash(match.group())
    # A hash function that returns the id itself, or anything else that is
    # not a hex hash, would write the raw account id into the log.
    if not isinstance(digest, str) or _HEX_HASH.fullmatch(digest) is None:
        raise ValueError(
            "account_hash returned a value that is not a 64-digit lowercase hex "
            "hash, so pass a function that returns correlation_hash(key, ACCOUNT, id)"
        )
    note(ACCOUNT_ID)
    return f"[account:{digest}]"


def _scrub_percent_run(match, account_hash, note):
    run = match.group()
    decoded = run
    for _ in range(_MAX_PERCENT_DECODES):
        if _PERCENT_ESCAPE.search(decoded) is None:
            break
        decoded = urllib.parse.unquote(decoded)
    if decoded == run:
        return run
    # NOTE: a run encoded more than _MAX_PERCENT_DECODES times is scrubbed in
    # its partly decoded form, so a secret under five or more layers of
    # encoding is not found.
    scrubbed, reasons = _scrub_passes(decoded, account_hash, decode_percent=False)
    if not reasons:
        return run
    # The run is stored decoded, with the secrets replaced.
    for reason in reasons:
        note(reason)
    return scrubbed


# --- The export scan ---


# Objects become tuples of (key, value) pairs, so that duplicate keys are all
# scanned and objects differ from arrays, which become lists. A decoder made
# once saves the cost of building one in every json.loads call.
_JSON_DECODER = json.JSONDecoder(object_pairs_hook=tuple)


def _detection_hash(account_id):
    return _DETECTION_HASH


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _cached_detect(text):
    return _detect_uncached(text)


def _detect_uncached(text):
    if not _could_match(text):
        return ()
    return tuple(_scrub_passes(text, _detection_hash)[1])


def _detect(text):
    """Return the reasons of the patterns that match ``text``, as a tuple."""
    if len(text) > _MAX_CACHED_LENGTH:
        return _detect_uncached(text)
    return _cached_detect(text)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _cached_key_facts(key):
    return _detect_uncached(key), sensitive_key(key)


def _key_facts(key):
    """Return the reasons that match the text of ``key``, and if it is sensitive."""
    if len(key) > _MAX_CACHED_LENGTH:
        return _detect_uncached(key), sensitive_key(key)
    return _cached_key_facts(key)


# Where a container sits in the stored event, which decides the rules for its
# members and items.
_ROOT = "root"
_PLAIN = "plain"
_REDACTION_LIST = "redaction list"
_REDACTION_ENTRY = "redaction entry"
_ACTOR = "actor"
_ACTOR_KEY = "actor"
# The envelope stores principal ids such as "token:17", whose kind prefix is
# the fixed identity form. Only the part after it is scanned, because the
# envelope scrubs only that part.
_PRINCIPAL_PREFIX = re.compile(
    r"(?:user|token|remote|cli|reconciler|anonymous|system):"
)


def _scan_document(document):
    """Return the hits in a decoded stored event.

    The walk keeps its own stack, so a document as deep as the decoder
    accepts cannot exhaust the interpreter's stack. The hits of a nested
    container come after those of its parent's later members, so the order
    is not the document order.
    """
    if type(document) is str:
        return list(_detect(document))
    if type(document) not in (tuple, list):
        return []
    hits = []
    stack = [(document, _ROOT)]
    while stack:
        node, context = stack.pop()
        if type(node) is tuple:
            _scan_object(node, context, hits, stack)
            continue
        item_context = _REDACTION_ENTRY if context is _REDACTION_LIST else _PLAIN
        for item in node:
            item_type = type(item)
            if item_type is str:
                hits.extend(_detect(item))
            elif item_type is tuple:
                stack.append((item, item_context))
            elif item_type is list:
                stack.append((item, _PLAIN))
    return hits


def _scan_object(pairs, context, hits, stack):
    """Check the members of one object and push its containers onto ``stack``."""
    for key, value in pairs:
        key_hits, key_is_sensitive = _key_facts(key)
        if key_hits:
            hits.extend(key_hits)
        if context is _ROOT and key in _ENVELOPE_HASH_KEYS:
            if value is None or (type(value) is str and _HEX_HASH.fullmatch(value)):
                continue
            hits.append(SENSITIVE_KEY)
        elif context is _REDACTION_ENTRY and _is_redaction_entry_member(key, value):
            continue
        elif key_is_sensitive and value != REDACTED:
            hits.append(SENSITIVE_KEY)
        value_type = type(value)
        if value_type is str:
            if context is _ACTOR and key == "id":
                prefix = _PRINCIPAL_PREFIX.match(value)
                if prefix:
                    value = value[prefix.end() :]
            value_hits = _detect(value)
            if value_hits:
                hits.extend(value_hits)
        elif value_type is tuple:
            if context is _ROOT and key == _ACTOR_KEY:
                stack.append((value, _ACTOR))
                continue
            stack.append((value, _PLAIN))
        elif value_type is list:
            if key == _REDACTIONS_KEY:
                stack.append((value, _REDACTION_LIST))
            else:
                stack.append((value, _PLAIN))


def _is_redaction_entry_member(key, value):
    # An entry's path joins keys that are scanned where they stand in the
    # event, and joining them can make text that looks like a secret, as in
    # "metadata.Bearer .x". So the path string is not scanned again.
    if key == "path":
        return isinstance(value, str)
    return key == "reason" and value in REASONS


# --- The redact walk ---


def _check_string_length(text, path, kind):
    if len(text) > MAX_STRING_LENGTH:
        raise InvalidEventValue(
            path,
            f"{kind} at {path} is {len(text)} characters long, over the limit of "
            f"{MAX_STRING_LENGTH} characters, so shorten it or record its hash",
        )


class _Redactor:
    """Walker for one ``redact`` call, with the entries recorded so far."""

    def __init__(self, account_hash):
        self._account_hash = account_hash
        self._recorded = set()
        # Ids of the dicts and lists on the current path, to detect cycles.
        # A container reached twice on different paths is shared, not cyclic.
        self._open_containers = set()
        self._scanned_length = 0
        self.redactions = []

    def record(self, path, reason):
        if (path, reason) not in self._recorded:
            self._recorded.add((path, reason))
            self.redactions.append({"path": path, "reason": reason})

    def walk(self, value, path, depth):
        if isinstance(value, str):
            return self._walk_str(value, path)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            raise InvalidEventValue(
                path,
                f"float value at {path} is not allowed because events carry no "
                "floats, so send money, prices and quantities as decimal strings",
            )
        if isinstance(value, decimal.Decimal):
            return _normalise_decimal(value, path)
        if isinstance(value, datetime.datetime):
            return _normalise_datetime(value, path)
        if isinstance(value, datetime.date):
            return value.isoformat()
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            raise InvalidEventValue(
                path,
                f"bytes value at {path} is not allowed because events store text "
                "only, so decode it to str, or send its hash or length instead",
            )
        if isinstance(value, (dict, list, tuple, set, frozenset)):
            return self._walk_container(value, path, depth)
        raise InvalidEventValue(
            path,
            f"unsupported type {_type_name(value)} at {path}, so convert it to "
            "str, int, bool, None, Decimal, date, aware datetime, UUID, list or dict",
        )

    def _checked_text(self, text, path, kind):
        """Return ``text`` as a plain str after the length and UTF-8 checks.

        Both limits are checked before any pattern runs on the text. A str
        subclass such as a StrEnum member is stored as its plain text.
        """
        length = len(text)
        if length > MAX_STRING_LENGTH:
            _check_string_length(text, path, kind)
        self._scanned_length += length
        if self._scanned_length > MAX_SCANNED_LENGTH:
            raise InvalidEventValue(
                path,
                f"the strings and keys scanned up to the {kind} at {path} total "
                f"more than {MAX_SCANNED_LENGTH} characters, the limit for one "
                "event, so send less data or record large parts by hash",
            )
        if not text.isascii() and _has_lone_surrogate(text):
            raise InvalidEventValue(
                path,
                f"{kind} at {path} contains a lone surrogate, which UTF-8 cannot "
                "encode, so decode the source bytes with their real encoding",
            )
        return text if type(text) is str else str.__str__(text)

    def _walk_str(self, text, path):
        text = self._checked_text(text, path, "string")
        if _is_clean(text):
            return text
        scrubbed, reasons = _scrub_passes(text, self._account_hash)
        for reason in reasons:
            self.record(path, reason)
        return scrubbed

    def _walk_container(self, value, path, depth):
        if depth >= MAX_DEPTH:
            raise InvalidEventValue(
                path,
                f"value at {path} is nested deeper than {MAX_DEPTH} levels, so "
                "flatten the data",
            )
        if isinstance(value, (set, frozenset)):
            return self._walk_list(_sorted_set(value, path), path, depth)
        if id(value) in self._open_containers:
            raise InvalidEventValue(
                path,
                f"cyclic reference at {path} because the value contains itself, "
                "so pass a copy without the back reference",
            )
        self._open_containers.add(id(value))
        try:
            if isinstance(value, dict):
                return self._walk_dict(value, path, depth)
            return self._walk_list(value, path, depth)
        finally:
            self._open_containers.discard(id(value))

    def _walk_list(self, items, path, depth):
        clean = []
        for index, item in enumerate(items):
            if isinstance(item, str):
                clean.append(self._walk_str(item, f"{path}[{index}]"))
            else:
                clean.append(self.walk(item, f"{path}[{index}]", depth + 1))
        return clean

    def _walk_dict(self, mapping, path, depth):
        # Keys are scrubbed before sorting, so the output and the order of the
        # entries depend only on the text that is stored.
        entries = {}
        for key, item in mapping.items():
            if not isinstance(key, str):
                key = _int_key_text(key, path)
            key_text = self._checked_text(key, path, "key")
            if _is_clean(key_text):
                scrubbed_key, reasons = key_text, ()
            else:
                scrubbed_key, reasons = _scrub_passes(key_text, self._account_hash)
            if scrubbed_key in entries:
                raise InvalidEventValue(
                    path,
                    f"two keys at {path} are the same text once int keys are "
                    "converted to str and secrets are redacted, so rename one of "
                    "them",
                )
            entries[scrubbed_key] = (key_text, reasons, item)

        clean = {}
        for scrubbed_key in sorted(entries):
            key_text, reasons, item = entries[scrubbed_key]
            child_path = f"{path}.{scrubbed_key}"
            for reason in reasons:
                self.record(child_path, reason)
            if sensitive_key(key_text) or (
                scrubbed_key is not key_text and sensitive_key(scrubbed_key)
            ):
                # The value is dropped unread, so it is not validated either.
                clean[scrubbed_key] = REDACTED
                self.record(child_path, SENSITIVE_KEY)
            elif isinstance(item, str):
                clean[scrubbed_key] = self._walk_str(item, child_path)
            else:
                clean[scrubbed_key] = self.walk(item, child_path, depth + 1)
        return clean


def _int_key_text(key, path):
    if isinstance(key, int) and not isinstance(key, bool):
        return str(int(key))
    raise InvalidEventValue(
        path,
        f"key of type {_type_name(key)} at {path} is not allowed, so use str or "
        "int keys",
    )


def _normalise_decimal(value, path):
    if not value.is_finite():
        raise InvalidEventValue(
            path,
            f"Decimal at {path} is NaN or infinite, so send a finite decimal or "
            "leave the field out",
        )
    return str(value)


def _normalise_datetime(value, path):
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidEventValue(
            path,
            f"naive datetime at {path} is not allowed, so attach a timezone, "
            "for example datetime.now(timezone.utc)",
        )
    try:
        utc = value.astimezone(datetime.UTC)
    except OverflowError:
        raise InvalidEventValue(
            path,
            f"datetime at {path} is out of range in UTC, so send a datetime between "
            "the years 1 and 9999 in UTC",
        ) from None
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _sorted_set(value, path):
    # Only str and int have an order that is the same on every run. bool is
    # excluded although it is an int, because True and 1 are the same element.
    if all(isinstance(item, str) for item in value):
        return sorted(value)
    if all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        return sorted(value)
    raise InvalidEventValue(
        path,
        f"set at {path} has no deterministic order because its elements are not "
        "all str or all int, so convert it to a list in the order you need",
    )


def _has_lone_surrogate(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _type_name(value):
    kind = type(value)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"
