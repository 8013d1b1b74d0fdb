"""Redact secrets, home paths and account ids from audit event data.

Callers pass free-form event data through ``redact`` before it is stored, and
store only the value it returns together with its list of redactions. The
export scan calls ``find_secrets`` on stored text to check that no secret got
through. The module imports nothing from Django.

The whole value of a key with a sensitive name becomes ``REDACTED``. Every
other string, and every dict key, is scrubbed instead. Credentials, secret URL
parts, home directory paths and IBKR account ids in the text become markers,
and the rest of the text is kept.
"""

import datetime
import decimal
import json
import re
import urllib.parse
import uuid

__all__ = [
    "ACCOUNT_ID",
    "AUTHORIZATION_HEADER",
    "BASIC_CREDENTIAL",
    "BEARER_CREDENTIAL",
    "COOKIE",
    "HOME_PATH",
    "InvalidEventValue",
    "MAX_DEPTH",
    "REASONS",
    "REDACTED",
    "REDACTED_PATH",
    "SECRET_ASSIGNMENT",
    "SENSITIVE_KEY",
    "URL_SECRET_QUERY",
    "URL_USERINFO",
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
)

# Maximum nesting of dicts, lists and sets. Each level costs up to four Python
# stack frames, so 100 levels stay well below the default recursion limit of
# 1000 frames.
MAX_DEPTH = 100

# Substrings of a folded key name that make the key's whole value secret.
# "header" and "path" are broad on purpose, because header maps often carry
# credentials and paths often name a user's home directory.
_SENSITIVE_KEY_MARKERS = (
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "credential",
    "cookie",
    "authorization",
    "api_key",
    "apikey",
    "private_key",
    "privatekey",
    "access_key",
    "accesskey",
    "session_id",
    "sessionid",
    "session_token",
    "header",
    "path",
    "signature",
)

# Keys of the stored event envelope that find_secrets accepts when they hold
# null or a 64-digit lowercase hex hash, although "token_hash" contains "token".
_ENVELOPE_HASH_KEYS = frozenset(
    {"token_hash", "account_hash", "input_hash", "output_hash"}
)
_REDACTIONS_KEY = "redactions"

_HEX_HASH = re.compile(r"[0-9a-f]{64}")

# Text that this module writes in place of a secret. A pattern whose secret
# part is exactly one of these markers found already redacted text, so it
# changes nothing and find_secrets reports nothing.
_MARKER = re.compile(r"\[REDACTED\]|\[REDACTED_PATH\]|\[account:[0-9a-f]{64}\]")

# url_userinfo and url_secret_query: a URL with any scheme, up to whitespace,
# a quote, a backtick or an angle bracket. The lookbehind starts a match only
# at the first character of a run of scheme characters, so a long run without
# "://" is scanned once and not once per character.
_URL = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")

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
# "-._~+/" with "=" padding. A marker starts with "[", which token68 lacks,
# so "Bearer [REDACTED]" does not match.
_SCHEME_CREDENTIAL = re.compile(
    r"\b(?P<scheme>bearer|basic)[ \t]+(?P<value>[A-Za-z0-9._~+/-]+=*)",
    re.IGNORECASE,
)

# secret_assignment: a name and "=", ":", ":=", "=>" or "==", bare or in
# quotes as in JSON or Python. Only the name and the separator are matched
# here, so the value of an assignment with a harmless name, as in
# "note=token=x", is still scanned for further assignments.
_ASSIGNMENT_NAME = re.compile(
    r"(?<![\w.-])(?P<key_quote>[\"']?)(?P<name>[\w.-]+)(?P=key_quote)"
    r"[ \t]*(?::=|=>|==?|:)[ \t]*"
)
# secret_assignment: the value after a secret name. A quoted value ends at its
# unescaped closing quote. A bare value ends at whitespace, a quote or
# backtick, ",", ";", "&", "<" or ">".
_ASSIGNMENT_VALUE = re.compile(
    r"(?P<value_quote>[\"'])"
    r"(?P<quoted_value>(?:\\.|(?!(?P=value_quote))[^\\\r\n])*)"
    r"|(?P<value>[^\s'\"`,;&<>]+)"
)
# secret_assignment: the words that make an assignment's name secret.
_SECRET_NAME = re.compile(
    r"token|secret|passw(?:or)?d|pwd|passphrase|credential|api[_-]?key"
    r"|private[_-]?key|access[_-]?key|session[_-]?(?:id|token)|signature"
    r"|authorization|cookie",
    re.IGNORECASE,
)

# home_path: a path in a user's home directory, up to whitespace, a quote, a
# backtick or an angle bracket. The user name in it identifies a person. A
# path must start a word, so "/home/" inside a URL path such as
# "https://h/home/x" is kept, while "file:///home/x" and "/var/home/x" are
# redacted from "/home/" on.
_HOME_PATH = re.compile(
    r"(?:(?<![\w.~-])"
    r"(?:/home/|/Users/|/root(?![\w.-])|/mnt/[A-Za-z]/Users/"
    r"|[A-Za-z]:[\\/]+(?i:users)[\\/])"
    r"|(?<![\w.~/\\-])~[/\\])"
    r"[^\s'\"<>`]*"
)

# account_id: an IBKR account id, a U, DU, DF, DI, F or I prefix and 5 to 9
# digits, not inside a longer run of letters and digits. The prefix is
# required and uppercase, as IBKR writes it, so numbers such as contract ids
# and lowercase hex hashes and UUIDs are not taken for account ids.
_ACCOUNT_ID = re.compile(r"(?<![A-Za-z0-9])(?:DU|DF|DI|U|F|I)[0-9]{5,9}(?![A-Za-z0-9])")

# Maximum number of scrubbing passes over one string. Text such as
# "DU1234567/home/x" needs three, two that change it and one that finds
# nothing. Five leave a margin, which is an estimate and not a proven bound.
_MAX_PASSES = 5

# Stands in for the correlation hash when find_secrets scrubs text only to
# learn which patterns match.
_DETECTION_HASH = "0" * 64


class InvalidEventValue(ValueError):
    """Event data that cannot be stored. ``path`` names where the bad value sits."""

    def __init__(self, path, message):
        super().__init__(message)
        self.path = path


def sensitive_key(name):
    """Return whether the whole value under the key ``name`` is a secret.

    The name is lowercased and "-", "." and spaces become "_" before it is
    compared, so "X-API-KEY", "api key" and "Api.Key" all match "api_key".
    """
    folded = name.lower().replace("-", "_").replace(".", "_").replace(" ", "_")
    return any(marker in folded for marker in _SENSITIVE_KEY_MARKERS)


def scrub_text(text, *, path, account_hash):
    """Replace credentials, home paths and account ids in ``text`` by markers.

    Returns the scrubbed text and one ``{"path": path, "reason": reason}``
    entry for each reason that matched, in a fixed order. ``account_hash``
    maps an account id to its 64-digit lowercase hex correlation hash.
    """
    if not isinstance(text, str):
        raise TypeError(f"scrub_text expects str, got {type(text).__name__}")
    scrubbed, reasons = _scrub(text, account_hash)
    return scrubbed, [{"path": path, "reason": reason} for reason in reasons]


def redact(value, *, path, account_hash):
    """Redact and normalise ``value`` into data that ``json.dumps`` accepts.

    ``path`` names the root in redaction entries and errors, for example
    "metadata". ``account_hash`` maps an account id to its 64-digit lowercase
    hex correlation hash. Returns the clean value and its redaction entries,
    ``{"path": ..., "reason": ...}``, one for each path and reason, in the
    order of the walk with dict keys in sorted order. Raises
    ``InvalidEventValue`` for a value that has no deterministic JSON form, and
    ``ValueError`` when ``account_hash`` returns anything but such a hash.
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

    The scan expects whole stored events, so these envelope keys are not hits
    at any depth:

    - ``token_hash``, ``account_hash``, ``input_hash`` and ``output_hash``
      when their value is null or a 64-digit lowercase hex hash. Any other
      value gets the ordinary checks, so a raw token under ``token_hash`` is a
      ``sensitive_key`` hit.
    - ``path`` in the objects of a ``redactions`` list, when its value is a
      string. That string is not scanned, because it joins keys that are
      scanned where they stand in the event.
    - ``reason`` in those objects, when its value is one of ``REASONS``.

    Duplicate keys are all scanned. Text that is not valid JSON is scanned
    as one string with the text patterns only.
    """
    try:
        document = json.loads(text, object_pairs_hook=_JsonObject)
    except ValueError:
        return list(_scrub(text, _detection_hash)[1])
    hits = []
    _scan_json(document, hits, in_redaction_entry=False)
    return hits


class _JsonObject(list):
    """Key and value pairs of one JSON object, in document order."""


def _scan_json(node, hits, *, in_redaction_entry):
    if isinstance(node, _JsonObject):
        for key, value in node:
            _scan_json_member(key, value, hits, in_redaction_entry)
    elif isinstance(node, list):
        for item in node:
            _scan_json(item, hits, in_redaction_entry=False)
    elif isinstance(node, str):
        hits.extend(_scrub(node, _detection_hash)[1])


def _scan_json_member(key, value, hits, in_redaction_entry):
    hits.extend(_scrub(key, _detection_hash)[1])
    if key in _ENVELOPE_HASH_KEYS and (
        value is None or (isinstance(value, str) and _HEX_HASH.fullmatch(value))
    ):
        return
    if in_redaction_entry and _is_redaction_entry_member(key, value):
        return
    if sensitive_key(key) and value != REDACTED:
        hits.append(SENSITIVE_KEY)
    if key == _REDACTIONS_KEY and isinstance(value, list):
        for entry in value:
            _scan_json(entry, hits, in_redaction_entry=True)
    else:
        _scan_json(value, hits, in_redaction_entry=False)


def _is_redaction_entry_member(key, value):
    # An entry's path joins keys that are scanned where they stand in the
    # event, and joining them can make text that looks like a secret, as in
    # "metadata.Bearer .x". So the path string is not scanned again.
    if key == "path":
        return isinstance(value, str)
    return key == "reason" and value in REASONS


def _detection_hash(account_id):
    return _DETECTION_HASH


def _scrub(text, account_hash):
    """Return ``text`` with every pattern replaced and the reasons that matched.

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
        text, found = _scrub_once(text, account_hash)
        if not found:
            return text, reasons
        reasons.extend(reason for reason in found if reason not in reasons)
    return REDACTED, reasons


def _scrub_once(text, account_hash):
    """Run every pattern once, in a fixed order, and return the reasons found.

    URLs go first so that a secret query parameter is reported as a URL part
    and not as a plain assignment. Account ids go last so that an id inside a
    credential is redacted with the credential and not kept as a hash.
    """
    reasons = []

    def note(reason):
        if reason not in reasons:
            reasons.append(reason)

    text = _URL.sub(lambda match: _scrub_url(match.group(), note), text)
    text = _HEADER.sub(lambda match: _scrub_header(match, note), text)
    text = _SCHEME_CREDENTIAL.sub(
        lambda match: _scrub_scheme_credential(match, note), text
    )
    text = _scrub_secret_assignments(text, note)
    text = _HOME_PATH.sub(lambda match: _scrub_home_path(match, note), text)
    text = _ACCOUNT_ID.sub(
        lambda match: _scrub_account_id(match, account_hash, note), text
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


def _scrub_url(url, note):
    scheme_end = url.index("://") + 3
    authority_end = len(url)
    for separator in "/?#":
        position = url.find(separator, scheme_end)
        if position != -1:
            authority_end = min(authority_end, position)
    authority = url[scheme_end:authority_end]
    if "@" in authority:
        userinfo, host = authority.rsplit("@", 1)
        if userinfo and not _is_marker(userinfo):
            note(URL_USERINFO)
            userinfo = REDACTED
        authority = f"{userinfo}@{host}"

    rest = url[authority_end:]
    parameters_start = len(rest)
    for separator in "?#":
        position = rest.find(separator)
        if position != -1:
            parameters_start = min(parameters_start, position)
    parameters = _URL_PARAMETER.sub(
        lambda match: _scrub_url_parameter(match, note), rest[parameters_start:]
    )
    return url[:scheme_end] + authority + rest[:parameters_start] + parameters


def _scrub_url_parameter(match, note):
    value = match.group("value")
    if not value or _is_marker(value):
        return match.group()
    if not _secret_query_name(match.group("name")):
        return match.group()
    note(URL_SECRET_QUERY)
    return _replace_group(match, "value", REDACTED)


def _secret_query_name(name):
    folded = urllib.parse.unquote(name).lower().replace("-", "_").replace(".", "_")
    if folded in _SECRET_QUERY_NAMES:
        return True
    return any(marker in folded for marker in _SECRET_QUERY_MARKERS)


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
        value = None
        if _SECRET_NAME.search(name.group("name")):
            value = _ASSIGNMENT_VALUE.match(text, name.end())
        if value is not None:
            group = "value" if value.group("value") is not None else "quoted_value"
            secret = value.group(group)
            if secret and not _is_marker(secret):
                note(SECRET_ASSIGNMENT)
                parts.append(text[position : value.start(group)])
                parts.append(REDACTED)
                position = value.end(group)
                continue
        # The value is left in place and scanned from the end of the name on.
        parts.append(text[position : name.end()])
        position = name.end()
    parts.append(text[position:])
    return "".join(parts)


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


class _Redactor:
    """Walker for one ``redact`` call, with the entries recorded so far."""

    def __init__(self, account_hash):
        self._account_hash = account_hash
        self._recorded = set()
        # Ids of the dicts and lists on the current path, to detect cycles.
        # A container reached twice on different paths is shared, not cyclic.
        self._open_containers = set()
        self.redactions = []

    def record(self, path, reason):
        if (path, reason) not in self._recorded:
            self._recorded.add((path, reason))
            self.redactions.append({"path": path, "reason": reason})

    def walk(self, value, path, depth):
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            return self._walk_str(value, path)
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

    def _walk_str(self, text, path):
        if _has_lone_surrogate(text):
            raise InvalidEventValue(
                path,
                f"string at {path} contains a lone surrogate, which UTF-8 cannot "
                "encode, so decode the source bytes with their real encoding",
            )
        # A str subclass such as a StrEnum member is stored as its plain text.
        scrubbed, reasons = _scrub(str.__str__(text), self._account_hash)
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
        return [
            self.walk(item, f"{path}[{index}]", depth + 1)
            for index, item in enumerate(items)
        ]

    def _walk_dict(self, mapping, path, depth):
        # Keys are scrubbed before sorting, so the output and the order of the
        # entries depend only on the text that is stored.
        entries = {}
        for key, item in mapping.items():
            key_text = _key_text(key, path)
            scrubbed_key, reasons = _scrub(key_text, self._account_hash)
            if scrubbed_key in entries:
                raise InvalidEventValue(
                    path,
                    f"two keys at {path} both become {scrubbed_key!r} after int "
                    "keys are converted to str and secrets are redacted, so rename "
                    "one of them",
                )
            entries[scrubbed_key] = (key_text, reasons, item)

        clean = {}
        for scrubbed_key in sorted(entries):
            key_text, reasons, item = entries[scrubbed_key]
            child_path = f"{path}.{scrubbed_key}"
            for reason in reasons:
                self.record(child_path, reason)
            if sensitive_key(key_text) or sensitive_key(scrubbed_key):
                # The value is dropped unread, so it is not validated either.
                clean[scrubbed_key] = REDACTED
                self.record(child_path, SENSITIVE_KEY)
            else:
                clean[scrubbed_key] = self.walk(item, child_path, depth + 1)
        return clean


def _key_text(key, path):
    if isinstance(key, str):
        if _has_lone_surrogate(key):
            raise InvalidEventValue(
                path,
                f"a key at {path} contains a lone surrogate, which UTF-8 cannot "
                "encode, so decode the source bytes with their real encoding",
            )
        return str.__str__(key)
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
