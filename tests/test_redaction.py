"""Tests of audit.redaction: key and text redaction, normalisation, export scan."""

import datetime
import decimal
import enum
import functools
import json
import secrets
import string
import time
import unicodedata
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import redaction
from audit.canonical import dumps
from audit.correlation import ACCOUNT, correlation_hash
from audit.envelope import build_event
from audit.redaction import (
    MAX_DEPTH,
    MAX_SCANNED_LENGTH,
    MAX_STRING_LENGTH,
    REDACTED,
    REDACTED_PATH,
    InvalidEventValue,
    find_secrets,
    redact,
    scrub_text,
    sensitive_key,
)

CORRELATION_KEY = b"redaction-test-correlation-key!!"
account_hash = functools.partial(correlation_hash, CORRELATION_KEY, ACCOUNT)


def redact_metadata(value):
    return redact(value, path="metadata", account_hash=account_hash)


def scrub(text):
    return scrub_text(text, path="metadata.note", account_hash=account_hash)


def reasons_of(redactions):
    return [entry["reason"] for entry in redactions]


def account_marker(account_id):
    return f"[account:{account_hash(account_id)}]"


def stored_event(metadata):
    """Redact ``metadata`` into a stored event, as sorted compact JSON."""
    clean, redactions = redact_metadata(metadata)
    event = {
        "account_hash": account_hash("DU1234567"),
        "token_hash": None,
        "input_hash": "ab" * 32,
        "output_hash": None,
        "redactions": redactions,
        "metadata": clean,
    }
    return json.dumps(event, sort_keys=True, separators=(",", ":"))


# --- The mixed request that carries every kind of secret at once ---


@pytest.fixture
def canaries():
    return [secrets.token_urlsafe(32) for _ in range(6)]


def mixed_metadata(canaries):
    c1, c2, c3, c4, c5, c6 = canaries
    return {
        "request": {
            "aUtHoRiZaTiOn": f"Bearer {c1}",
            "X-API-KEY": c2,
            "Proxy-Authorization": f"Basic {c3}",
        },
        "note": (
            f"curl -H 'AUTHORIZATION: bearer {c4}' "
            f"https://user:{c5}@gw.local/v1/api?token={c6} "
            "for DU1234567 from /home/alice/.config/gw.toml"
        ),
    }


def test_mixed_metadata_leaks_no_canary(canaries):
    clean, redactions = redact_metadata(mixed_metadata(canaries))
    dumped = json.dumps([clean, redactions])
    for number, canary in enumerate(canaries, start=1):
        assert canary not in dumped, f"canary {number} survived redaction"


def test_mixed_metadata_hides_account_and_home(canaries):
    clean, redactions = redact_metadata(mixed_metadata(canaries))
    dumped = json.dumps([clean, redactions])
    assert "DU1234567" not in dumped
    assert "/home/alice" not in dumped
    assert account_marker("DU1234567") in clean["note"]


def test_mixed_metadata_keeps_parent_key(canaries):
    clean, _ = redact_metadata(mixed_metadata(canaries))
    assert clean["request"] == {
        "Proxy-Authorization": REDACTED,
        "X-API-KEY": REDACTED,
        "aUtHoRiZaTiOn": REDACTED,
    }


def test_mixed_metadata_scrubs_note_text(canaries):
    clean, _ = redact_metadata(mixed_metadata(canaries))
    assert clean["note"] == (
        "curl -H 'AUTHORIZATION: [REDACTED]' "
        "https://[REDACTED]@gw.local/v1/api?token=[REDACTED] "
        f"for {account_marker('DU1234567')} from [REDACTED_PATH]"
    )


def test_mixed_metadata_lists_redacted_paths(canaries):
    _, redactions = redact_metadata(mixed_metadata(canaries))
    assert redactions == [
        {"path": "metadata.note", "reason": "url_userinfo"},
        {"path": "metadata.note", "reason": "url_secret_query"},
        {"path": "metadata.note", "reason": "authorization_header"},
        {"path": "metadata.note", "reason": "home_path"},
        {"path": "metadata.note", "reason": "account_id"},
        {"path": "metadata.request.Proxy-Authorization", "reason": "sensitive_key"},
        {"path": "metadata.request.X-API-KEY", "reason": "sensitive_key"},
        {"path": "metadata.request.aUtHoRiZaTiOn", "reason": "sensitive_key"},
    ]


def test_mixed_metadata_stored_event_scans_clean(canaries):
    assert find_secrets(stored_event(mixed_metadata(canaries))) == []


def test_mixed_metadata_raw_scan_fires(canaries):
    raw = json.dumps({"metadata": mixed_metadata(canaries)})
    assert set(find_secrets(raw)) == {
        "sensitive_key",
        "bearer_credential",
        "basic_credential",
        "url_userinfo",
        "url_secret_query",
        "authorization_header",
        "home_path",
        "account_id",
    }


# --- Keys with sensitive names ---

SENSITIVE_KEY_NAMES = [
    "token",
    "TOKEN",
    "Refresh-Token",
    "client_secret",
    "Password",
    "db passwd",
    "CREDENTIALS",
    "Cookie",
    "Set-Cookie",
    "authorization",
    "x-api-key",
    "ApiKey",
    "PRIVATE_KEY",
    "ssh private key",
    "session_id",
    "SessionId",
    "Session-Token",
    "request_headers",
    "config_path",
    "hmac_signature",
    # Words that are secret only as a whole word of the name.
    "auth",
    "Auth",
    "x-auth-token",
    "jwt",
    "pass",
    "pass_word",
    "session",
    "sessionKey",
    "sid",
    "PHPSESSID",
    "sig",
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
    # Names of keys and other credentials.
    "client_assertion",
    "signing_key",
    "hmac_key",
    "encryption_key",
    "master_key",
    "ssh_key",
    "privKey",
    "Ocp-Apim-Subscription-Key",
    "api/key",
    "api:key",
    "aUtHoRiZaTiOn",
    # A password hash can be cracked offline, so "hash" does not exempt it.
    "password_hash",
    # Lookalikes: Cyrillic "а", fullwidth letters, a zero-width space and
    # the long s, which NFKC folds to "s".
    "p\u0430ssword",
    "\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44",
    "pass\u200bword",
    "\u017fecret",
]

EVIDENCE_KEY_NAMES = [
    "session_count",
    "session_counter",
    "account",
    "order_id",
    "quantity",
    "limit_price",
    "symbol",
    "conid",
    "reason",
    # Evidence about a secret, not the secret itself.
    "key_id",
    "idempotency_key",
    "account_hash",
    "token_hash",
    "tokenHash",
    "token_count",
    "session_ttl",
    # Harmless words that contain a short secret word.
    "author",
    "passport",
    "checks_passed",
    "bypass",
    "spin",
    "shipping",
    "design",
    "side",
    "key",
]


@pytest.mark.parametrize("name", SENSITIVE_KEY_NAMES)
def test_sensitive_key_matches_variant(name):
    assert sensitive_key(name)


@pytest.mark.parametrize("name", SENSITIVE_KEY_NAMES)
def test_sensitive_key_value_replaced(name):
    clean, redactions = redact_metadata({name: "hunter2"})
    assert clean == {name: REDACTED}
    assert redactions == [{"path": f"metadata.{name}", "reason": "sensitive_key"}]


@pytest.mark.parametrize("name", EVIDENCE_KEY_NAMES)
def test_evidence_key_is_not_sensitive(name):
    assert not sensitive_key(name)


@pytest.mark.parametrize("name", EVIDENCE_KEY_NAMES)
def test_evidence_key_value_kept(name):
    clean, redactions = redact_metadata({name: "17"})
    assert clean == {name: "17"}
    assert redactions == []


def test_sensitive_key_nested_in_list():
    metadata = {"orders": [{"legs": [{"login": {"session_token": "s3cr3t"}}]}]}
    clean, redactions = redact_metadata(metadata)
    assert clean == {"orders": [{"legs": [{"login": {"session_token": REDACTED}}]}]}
    assert redactions == [
        {
            "path": "metadata.orders[0].legs[0].login.session_token",
            "reason": "sensitive_key",
        }
    ]


def test_sensitive_word_key_replaces_whole_object():
    clean, redactions = redact_metadata({"auth": {"session_token": "s3cr3t"}})
    assert clean == {"auth": REDACTED}
    assert redactions == [{"path": "metadata.auth", "reason": "sensitive_key"}]


def test_sensitive_key_result_is_cached_consistently():
    assert sensitive_key("sessionKey") is True
    assert sensitive_key("sessionKey") is True
    assert sensitive_key("session_count") is False


def test_sensitive_key_long_name_uncached():
    assert sensitive_key("x" * 300 + "_password")
    assert not sensitive_key("x" * 300 + "_token_count")


def test_sensitive_key_replaces_whole_object():
    metadata = {"headers": {"Accept": "json", "X-Trace": ["a", "b"]}}
    clean, redactions = redact_metadata(metadata)
    assert clean == {"headers": REDACTED}
    assert redactions == [{"path": "metadata.headers", "reason": "sensitive_key"}]


def test_sensitive_key_replaces_whole_list():
    clean, _ = redact_metadata({"tokens": ["a", "b"]})
    assert clean == {"tokens": REDACTED}


def test_sensitive_value_is_not_validated():
    # A value that is dropped is never stored, so its type does not matter.
    clean, _ = redact_metadata({"password": 1.5, "cookie": b"raw"})
    assert clean == {"cookie": REDACTED, "password": REDACTED}


def test_string_in_nested_list_is_scrubbed():
    clean, redactions = redact_metadata({"a": [{"b": ["x", "Bearer abc.def"]}]})
    assert clean == {"a": [{"b": ["x", "Bearer [REDACTED]"]}]}
    assert redactions == [{"path": "metadata.a[0].b[1]", "reason": "bearer_credential"}]


def test_string_root_value_is_scrubbed():
    clean, redactions = redact_metadata("Bearer abc")
    assert clean == "Bearer [REDACTED]"
    assert redactions == [{"path": "metadata", "reason": "bearer_credential"}]


# --- Free-text patterns, one at a time ---

# Each text contains "{secret}", which the test replaces with a random canary.
TEXT_CASES = [
    ("Bearer {secret}", "bearer_credential"),
    ("bearer {secret}", "bearer_credential"),
    ("BEARER {secret}", "bearer_credential"),
    ("Basic {secret}", "basic_credential"),
    ("basic {secret}", "basic_credential"),
    ("Cookie: sid={secret}; theme=dark", "cookie"),
    ("Set-Cookie: sid={secret}; HttpOnly", "cookie"),
    ("Authorization: Token {secret}", "authorization_header"),
    ("proxy-authorization: Negotiate {secret}", "authorization_header"),
    ("password={secret}", "secret_assignment"),
    ("api_key: {secret}", "secret_assignment"),
    ("TOKEN = {secret}", "secret_assignment"),
    ('{{"client_secret": "{secret}"}}', "secret_assignment"),
    ("{{'Session-Id': '{secret}'}}", "secret_assignment"),
    ("https://bob:{secret}@gw.local/v1", "url_userinfo"),
    ("https://{secret}@gw.local/v1", "url_userinfo"),
    ("https://gw.local/v1?page=2&access_token={secret}", "url_secret_query"),
    ("https://gw.local/callback#code={secret}", "url_secret_query"),
    # Short secret words as assignment names.
    ("pass={secret}", "secret_assignment"),
    ("user=bob&pass={secret}", "secret_assignment"),
    ("jwt={secret}", "secret_assignment"),
    ("auth={secret}", "secret_assignment"),
    ("Auth: {secret}", "secret_assignment"),
    ("sid={secret}", "secret_assignment"),
    ("PHPSESSID={secret}", "secret_assignment"),
    ("sessionKey={secret}", "secret_assignment"),
    ("otp: {secret}", "secret_assignment"),
    ("Bearer:{secret}", "secret_assignment"),
    # Lookalike names: a zero-width space, fullwidth letters, a Cyrillic "а".
    ("pass\u200bword={secret}", "secret_assignment"),
    ("\uff50\uff41\uff53\uff53={secret}", "secret_assignment"),
    ("p\u0430ssword: {secret}", "secret_assignment"),
    # Values in brackets, Python bytes and JSON encoded twice.
    ('{{"password": ["{secret}", "x"]}}', "secret_assignment"),
    ('{{"token": {{"value": "{secret}"}}}}', "secret_assignment"),
    ("{{'password': b'{secret}'}}", "secret_assignment"),
    ('{{\\"password\\": \\"{secret}\\"}}', "secret_assignment"),
    ("password=({secret}, 1) and more", "secret_assignment"),
    ('{{"password": [\n  "{secret}"\n]}}', "secret_assignment"),
    ("api_key: [{secret}, still open", "secret_assignment"),
    # Percent-encoding.
    ("https://h/?next=https%3A%2F%2Fh2%2F%3Ftoken%3D{secret}", "url_secret_query"),
    ("token%3D{secret}", "secret_assignment"),
    # User info with "/", "?" or "#" in the password, and JSON-escaped "/".
    ("postgres://app:{secret}/K7MDENG@db:5432/x", "url_userinfo"),
    ("https://u:p?{secret}@h/", "url_userinfo"),
    ("redis://:ab#{secret}@h", "url_userinfo"),
    ("https:\\/\\/bob:{secret}@h\\/x", "url_userinfo"),
    ("see https://h/?next=https://u:{secret}@h2/x", "url_userinfo"),
    # Authentication schemes after a no-break space or with a quoted value.
    ("Bearer\u00a0{secret}", "bearer_credential"),
    ('Bearer "{secret}"', "bearer_credential"),
    # Fixed shapes.
    (
        "-----BEGIN RSA PRIVATE KEY-----\n{secret}\n-----END RSA PRIVATE KEY-----",
        "private_key_block",
    ),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\n{secret}\nAAAA", "private_key_block"),
    ("id eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.{secret} end", "jwt"),
]


@pytest.mark.parametrize(("template", "reason"), TEXT_CASES)
def test_text_pattern_removes_secret(template, reason):
    secret = secrets.token_urlsafe(32)
    scrubbed, _ = scrub(template.format(secret=secret))
    assert secret not in scrubbed
    assert REDACTED in scrubbed


@pytest.mark.parametrize(("template", "reason"), TEXT_CASES)
def test_text_pattern_records_reason(template, reason):
    _, redactions = scrub(template.format(secret=secrets.token_urlsafe(32)))
    assert redactions == [{"path": "metadata.note", "reason": reason}]


@pytest.mark.parametrize(("template", "reason"), TEXT_CASES)
def test_find_secrets_fires_on_pattern(template, reason):
    raw = json.dumps({"note": template.format(secret=secrets.token_urlsafe(32))})
    assert find_secrets(raw) == [reason]


@pytest.mark.parametrize(("template", "reason"), TEXT_CASES)
def test_find_secrets_clean_after_scrub(template, reason):
    scrubbed, _ = scrub(template.format(secret=secrets.token_urlsafe(32)))
    assert find_secrets(json.dumps({"note": scrubbed})) == []


def random_text(alphabet, length):
    return "".join(secrets.choice(alphabet) for _ in range(length))


UPPER_ALNUM = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits

# Functions that make a credential of a fixed shape, and the reason it must get.
SHAPED_SECRETS = {
    "aws access key id": (lambda: "AKIA" + random_text(UPPER_ALNUM, 16), "cloud_key"),
    "aws temporary key id": (
        lambda: "ASIA" + random_text(UPPER_ALNUM, 16),
        "cloud_key",
    ),
    "github token": (lambda: "ghp_" + random_text(ALNUM, 36), "vendor_token"),
    "github oauth token": (lambda: "gho_" + random_text(ALNUM, 36), "vendor_token"),
    "github fine-grained token": (
        lambda: "github_pat_" + random_text(ALNUM, 22) + "_" + random_text(ALNUM, 59),
        "vendor_token",
    ),
    "slack bot token": (
        lambda: "xoxb-1234567890-" + random_text(ALNUM, 24),
        "vendor_token",
    ),
    "stripe secret key": (lambda: "sk_live_" + random_text(ALNUM, 24), "vendor_token"),
    "stripe restricted key": (
        lambda: "rk_live_" + random_text(ALNUM, 24),
        "vendor_token",
    ),
}


@pytest.mark.parametrize(
    ("make_secret", "reason"), SHAPED_SECRETS.values(), ids=SHAPED_SECRETS.keys()
)
def test_shaped_secret_redacted(make_secret, reason):
    secret = make_secret()
    scrubbed, redactions = scrub(f"config uses {secret} today")
    assert scrubbed == "config uses [REDACTED] today"
    assert reasons_of(redactions) == [reason]


@pytest.mark.parametrize(
    ("make_secret", "reason"), SHAPED_SECRETS.values(), ids=SHAPED_SECRETS.keys()
)
def test_find_secrets_fires_on_shaped_secret(make_secret, reason):
    raw = json.dumps({"note": f"config uses {make_secret()} today"})
    assert find_secrets(raw) == [reason]


# Text that looks a little like a secret and must be kept as it is.
KEPT_TEXTS = [
    "https://h/path?email=a@b.c",
    "https://h:8443/x?email=a@b.c",
    "ftp://files.example.com:21/pub/a@b",
    "mailto:ops@example.com",
    "user:bob",
    "author: bob",
    "checks_passed=3",
    "spin=2",
    "bypass=on",
    "key_id=k1",
    "key: value",
    "session_count=3",
    "token_hash=abc",
    "side: BUY",
    "private key rotation is due",
    "ghp_short",
    "sk_live_",
    "AKIA1234",
    "eyJ alone",
    "-----BEGIN CERTIFICATE-----\nMIIabc\n-----END CERTIFICATE-----",
    "https://h/~alice/x",
    "https://h/search?q=a%20b",
    "100%25 done",
    "50% off",
    "basic%",
]


@pytest.mark.parametrize("text", KEPT_TEXTS)
def test_harmless_text_kept(text):
    assert scrub(text) == (text, [])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "https://h/portfolio%2FU1234567%2Fpositions",
            f"https://h/portfolio/{account_marker('U1234567')}/positions",
        ),
        ("account%3DU1234567", f"account={account_marker('U1234567')}"),
        ("accountId%22%3A%22U1234567", f'accountId":"{account_marker("U1234567")}'),
        # An id before an escape needs no decoding, so the escape is kept.
        ("x?id=U1234567%26y", f"x?id={account_marker('U1234567')}%26y"),
    ],
)
def test_percent_encoded_account_id_hashed(text, expected):
    assert scrub(text) == (
        expected,
        [{"path": "metadata.note", "reason": "account_id"}],
    )


def test_percent_encoded_home_path_redacted():
    scrubbed, redactions = scrub("https://h/?next=%2Fhome%2Falice%2F.ssh")
    assert scrubbed == "https://h/?next=[REDACTED_PATH]"
    assert reasons_of(redactions) == ["home_path"]


def test_twice_encoded_query_redacted():
    scrubbed, redactions = scrub("https://h/?next=%252Fx%253Ftoken%253Dabc")
    assert scrubbed == "https://h/?next=/x?token=[REDACTED]"
    assert reasons_of(redactions) == ["url_secret_query"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"password": ["hunter2","x"]}', '{"password": [REDACTED]}'),
        ('{"token": {"value": "abc123"}}', '{"token": [REDACTED]}'),
        ("{'password': b'hunter2'}", "{'password': b'[REDACTED]'}"),
        ('{\\"password\\": \\"hunter2\\"}', '{\\"password\\": \\"[REDACTED]\\"}'),
        ('pw=x password=["a]b", (1)] rest', "pw=x password=[REDACTED] rest"),
        ("password=[abc, def\nnext line", "password=[REDACTED]"),
    ],
)
def test_structured_value_redacted_whole(text, expected):
    assert scrub(text) == (
        expected,
        [{"path": "metadata.note", "reason": "secret_assignment"}],
    )


@pytest.mark.parametrize(
    "text",
    [
        '{"password": [REDACTED]}',
        "{'password': b'[REDACTED]'}",
        'Bearer "[REDACTED]"',
        "postgres://[REDACTED]@db:5432/x",
        "-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----",
        "-----BEGIN EC PRIVATE KEY-----[REDACTED]",
    ],
)
def test_redacted_shape_is_fixed_point(text):
    assert scrub(text) == (text, [])


def test_private_key_block_keeps_labels():
    text = "k=-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY----- ok"
    scrubbed, redactions = scrub(text)
    assert scrubbed == (
        "k=-----BEGIN EC PRIVATE KEY-----[REDACTED]-----END EC PRIVATE KEY----- ok"
    )
    assert reasons_of(redactions) == ["private_key_block"]


def test_url_query_keeps_other_parameters():
    scrubbed, _ = scrub("https://gw.local/v1/orders?page=2&sig=abc&symbol=AAPL#top")
    assert (
        scrubbed == "https://gw.local/v1/orders?page=2&sig=[REDACTED]&symbol=AAPL#top"
    )


def test_url_nested_redirect_query_redacted():
    scrubbed, _ = scrub("https://gw.local/login?next=https://app.local/?token=abc")
    assert scrubbed == "https://gw.local/login?next=https://app.local/?token=[REDACTED]"


def test_url_without_secrets_unchanged():
    text = "see https://gw.local/home/index?page=2 for details"
    assert scrub(text) == (text, [])


def test_quoted_header_ends_at_quote():
    scrubbed, _ = scrub("curl -H 'Cookie: sid=abc' https://gw.local/x")
    assert scrubbed == "curl -H 'Cookie: [REDACTED]' https://gw.local/x"


def test_unquoted_header_ends_at_line():
    scrubbed, _ = scrub("Cookie: a=b; c=d\nstatus: ok")
    assert scrubbed == "Cookie: [REDACTED]\nstatus: ok"


def test_assignment_inside_harmless_assignment():
    scrubbed, _ = scrub("note=token=abc")
    assert scrubbed == "note=token=[REDACTED]"


def test_account_id_before_home_path():
    # The home path starts a word only after the account id became a marker,
    # so this text needs a second pass.
    scrubbed, _ = scrub("DU1234567/home/alice/x")
    assert scrubbed == f"{account_marker('DU1234567')}[REDACTED_PATH]"


def test_unsettled_text_redacted_whole(monkeypatch):
    monkeypatch.setattr(redaction, "_MAX_PASSES", 1)
    scrubbed, redactions = scrub("DU1234567/home/alice/x")
    assert scrubbed == REDACTED
    assert reasons_of(redactions) == ["account_id"]


def test_escaped_quote_does_not_end_value():
    scrubbed, _ = scrub(r'password="a\"b c" rest')
    assert scrubbed == 'password="[REDACTED]" rest'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("at /home/alice/.config/gw.toml now", "at [REDACTED_PATH] now"),
        ("at /Users/alice/Library/gw.log now", "at [REDACTED_PATH] now"),
        ("at /root/.ssh/id_ed25519 now", "at [REDACTED_PATH] now"),
        ("at C:\\Users\\alice\\AppData\\gw.ini now", "at [REDACTED_PATH] now"),
        ("at ~/gw/secrets.env now", "at [REDACTED_PATH] now"),
        ("at file:///home/alice/gw.toml now", "at file://[REDACTED_PATH] now"),
        ("--config=/home/alice/gw.toml", "--config=[REDACTED_PATH]"),
    ],
)
def test_home_path_replaced_whole(text, expected):
    assert scrub(text) == (expected, [{"path": "metadata.note", "reason": "home_path"}])


@pytest.mark.parametrize(
    "account_id",
    [
        "U1234567",
        "DU1234567",
        "DF1234567",
        "DI1234567",
        "F1234567",
        "I1234567",
        "U12345",
        "U123456789",
    ],
)
def test_account_id_becomes_hash_marker(account_id):
    scrubbed, redactions = scrub(f"order for {account_id}, filled")
    assert scrubbed == f"order for {account_marker(account_id)}, filled"
    assert redactions == [{"path": "metadata.note", "reason": "account_id"}]


@pytest.mark.parametrize(
    "text",
    [
        "conid 265598",
        "U1234 is too short",
        "U1234567890 is too long",
        "du1234567 is lowercase",
        "XU1234567 has another prefix",
        "U1234567A runs on",
        "f1234567" + "0" * 56,
        "df123456-89ab-4def-8123-456789abcdef",
    ],
)
def test_non_account_text_unchanged(text):
    assert scrub(text) == (text, [])


def test_account_hash_result_is_checked():
    with pytest.raises(ValueError, match="64-digit lowercase hex"):
        scrub_text("DU1234567", path="p", account_hash=lambda account_id: account_id)


def test_scrub_text_rejects_non_str():
    with pytest.raises(TypeError, match="expects str"):
        scrub_text(b"Bearer abc", path="p", account_hash=account_hash)


# --- Dict keys ---


def test_account_id_key_is_scrubbed():
    marker = account_marker("DU1234567")
    clean, redactions = redact_metadata({"DU1234567": {"qty": "1"}})
    assert clean == {marker: {"qty": "1"}}
    assert redactions == [{"path": f"metadata.{marker}", "reason": "account_id"}]


def test_home_path_key_is_scrubbed():
    # The scrubbed key contains "PATH", so its value goes as well.
    clean, redactions = redact_metadata({"/home/alice/gw.toml": "loaded"})
    assert clean == {REDACTED_PATH: REDACTED}
    assert reasons_of(redactions) == ["home_path", "sensitive_key"]


def test_scrubbed_key_collision_rejected():
    metadata = {"U1234567": 1, account_marker("U1234567"): 2}
    with pytest.raises(InvalidEventValue, match="rename one") as error:
        redact_metadata(metadata)
    assert error.value.path == "metadata"


def test_keys_walked_in_sorted_order():
    clean, redactions = redact_metadata({"b": "Bearer x", "a": "Bearer y"})
    assert list(clean) == ["a", "b"]
    assert [entry["path"] for entry in redactions] == ["metadata.a", "metadata.b"]


def test_redaction_is_deterministic(canaries):
    metadata = mixed_metadata(canaries)
    assert redact_metadata(metadata) == redact_metadata(metadata)


def test_one_entry_per_path_and_reason():
    _, redactions = redact_metadata({"note": "Bearer a and Bearer b"})
    assert redactions == [{"path": "metadata.note", "reason": "bearer_credential"}]


# --- Size limits ---


def test_string_at_length_limit_accepted():
    clean, _ = redact_metadata({"note": "x" * MAX_STRING_LENGTH})
    assert len(clean["note"]) == MAX_STRING_LENGTH


def test_string_over_length_limit_rejected():
    with pytest.raises(InvalidEventValue) as error:
        redact_metadata({"note": "x" * (MAX_STRING_LENGTH + 1)})
    assert error.value.path == "metadata.note"
    assert "metadata.note" in str(error.value)
    assert str(MAX_STRING_LENGTH) in str(error.value)


def test_key_over_length_limit_rejected():
    with pytest.raises(InvalidEventValue) as error:
        redact_metadata({"x": {"k" * (MAX_STRING_LENGTH + 1): 1}})
    assert error.value.path == "metadata.x"
    assert str(MAX_STRING_LENGTH) in str(error.value)


def test_scanned_total_over_limit_rejected():
    metadata = {f"note{index}": "x" * 60_000 for index in range(5)}
    with pytest.raises(InvalidEventValue) as error:
        redact_metadata(metadata)
    # 4 * 60,000 characters fit in 256 KiB, and the fifth string does not.
    assert error.value.path == "metadata.note4"
    assert str(MAX_SCANNED_LENGTH) in str(error.value)


def test_sensitive_values_not_counted():
    metadata = {f"password{index}": "x" * 200_000 for index in range(5)}
    metadata["note"] = "x" * 60_000
    clean, _ = redact_metadata(metadata)
    assert clean["password0"] == REDACTED
    assert len(clean["note"]) == 60_000


def test_huge_string_rejected_quickly():
    metadata = {"note": "U12345-" * (4 * 1024 * 1024 // 7)}
    start = time.perf_counter()
    with pytest.raises(InvalidEventValue):
        redact_metadata(metadata)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.25, f"rejecting 4 MiB took {elapsed:.2f} s"


def test_scrub_text_over_length_limit_rejected():
    with pytest.raises(InvalidEventValue) as error:
        scrub_text("x" * (MAX_STRING_LENGTH + 1), path="actor.id", account_hash=None)
    assert error.value.path == "actor.id"


CANARY = "hunter2-canary"

# Rejected metadata whose bad value contains CANARY.
LEAKY_REJECTIONS = {
    "long string": {"note": CANARY * 5000},
    "long key": {CANARY * 5000: 1},
    "scanned total": {f"n{index}": CANARY * 4000 for index in range(6)},
    "surrogate value": {"note": CANARY + "\ud800"},
    "surrogate key": {CANARY + "\udfff": 1},
    "key collision": {f"password={CANARY}": 1, "password=[REDACTED]": 2},
    "surrogate in set": {"tags": {CANARY + "\ud800"}},
}


@pytest.mark.parametrize(
    "metadata", LEAKY_REJECTIONS.values(), ids=LEAKY_REJECTIONS.keys()
)
def test_rejection_message_omits_value(metadata):
    with pytest.raises(InvalidEventValue) as error:
        redact_metadata(metadata)
    assert CANARY not in str(error.value)
    assert CANARY not in error.value.path


# --- Normalisation ---

UTC_PLUS_2 = datetime.timezone(datetime.timedelta(hours=2))


def test_str_subclass_stored_as_text():
    class Side(enum.StrEnum):
        BUY = "BUY"

    clean, _ = redact_metadata({Side.BUY: Side.BUY})
    assert type(clean["BUY"]) is str


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (("a", "b"), ["a", "b"]),
        (decimal.Decimal("1.50"), "1.50"),
        (decimal.Decimal("-0.001"), "-0.001"),
        ({"b", "a", "c"}, ["a", "b", "c"]),
        (frozenset({3, 1, 2}), [1, 2, 3]),
        (set(), []),
        (
            datetime.datetime(2024, 3, 1, 14, 30, 5, 123, tzinfo=UTC_PLUS_2),
            "2024-03-01T12:30:05.000123Z",
        ),
        (
            datetime.datetime(2024, 3, 1, tzinfo=datetime.UTC),
            "2024-03-01T00:00:00.000000Z",
        ),
        (datetime.date(2024, 3, 1), "2024-03-01"),
        (
            uuid.UUID("12345678-1234-5678-1234-567812345678"),
            "12345678-1234-5678-1234-567812345678",
        ),
        (True, True),
        (None, None),
        (-7, -7),
        ("plain text", "plain text"),
        ({1: "a", 2: "b"}, {"1": "a", "2": "b"}),
    ],
    ids=repr,
)
def test_value_normalised(value, expected):
    clean, _ = redact_metadata({"x": value})
    assert clean == {"x": expected}


def test_normalised_value_is_json_ready():
    metadata = {
        "when": datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
        "price": decimal.Decimal("101.25"),
        "legs": ({"id": uuid.uuid4()},),
        "tags": {"b", "a"},
    }
    clean, _ = redact_metadata(metadata)
    assert json.loads(json.dumps(clean)) == clean


def test_shared_reference_is_not_cycle():
    shared = {"qty": "1"}
    clean, _ = redact_metadata({"a": shared, "b": [shared, shared]})
    assert clean == {"a": {"qty": "1"}, "b": [{"qty": "1"}, {"qty": "1"}]}


def nested_lists(levels):
    value = "leaf"
    for _ in range(levels):
        value = [value]
    return value


def test_nesting_at_limit_accepted():
    clean, _ = redact_metadata(nested_lists(MAX_DEPTH))
    assert clean == nested_lists(MAX_DEPTH)


def self_containing_dict():
    value = {"qty": "1"}
    value["self"] = value
    return {"order": value}


def self_containing_list():
    value = ["x"]
    value.append(value)
    return {"legs": value}


# (metadata, path of the bad value, words the message must contain)
REJECTED_CASES = {
    "float": ({"items": [{"price": 1.5}]}, "metadata.items[0].price", "decimal"),
    "float nan": ({"x": float("nan")}, "metadata.x", "decimal strings"),
    "float inf": ({"x": float("inf")}, "metadata.x", "decimal strings"),
    "decimal nan": ({"x": decimal.Decimal("NaN")}, "metadata.x", "finite"),
    "decimal snan": ({"x": decimal.Decimal("sNaN")}, "metadata.x", "finite"),
    "decimal infinity": ({"x": decimal.Decimal("-Infinity")}, "metadata.x", "finite"),
    "mixed set": ({"x": {1, "a"}}, "metadata.x", "all str or all int"),
    "set of tuples": ({"x": {(1, 2)}}, "metadata.x", "all str or all int"),
    "set of bools": ({"x": {True}}, "metadata.x", "all str or all int"),
    "naive datetime": (
        {"x": datetime.datetime(2024, 1, 1)},
        "metadata.x",
        "attach a timezone",
    ),
    "datetime out of range": (
        {"x": datetime.datetime.min.replace(tzinfo=UTC_PLUS_2)},
        "metadata.x",
        "out of range",
    ),
    "bytes": ({"x": b"raw"}, "metadata.x", "decode it"),
    "bytearray": ({"x": bytearray(b"raw")}, "metadata.x", "decode it"),
    "tuple key": ({"x": {(1, 2): "a"}}, "metadata.x", "str or int keys"),
    "none key": ({"x": {None: "a"}}, "metadata.x", "str or int keys"),
    "float key": ({"x": {1.5: "a"}}, "metadata.x", "str or int keys"),
    "bool key": ({"x": {True: "a"}}, "metadata.x", "str or int keys"),
    "int key collision": ({"x": {1: "a", "1": "b"}}, "metadata.x", "rename one"),
    "surrogate value": ({"x": "bad \ud800 text"}, "metadata.x", "lone surrogate"),
    "surrogate key": ({"x": {"k\udfff": 1}}, "metadata.x", "lone surrogate"),
    "cyclic dict": (self_containing_dict(), "metadata.order.self", "cyclic reference"),
    "cyclic list": (self_containing_list(), "metadata.legs[1]", "cyclic reference"),
    "object": ({"x": object()}, "metadata.x", "unsupported type object"),
    "complex": ({"x": 1 + 2j}, "metadata.x", "unsupported type complex"),
    "time": ({"x": datetime.time(12)}, "metadata.x", "datetime.time"),
    "too deep": (
        nested_lists(MAX_DEPTH + 1),
        "metadata" + "[0]" * MAX_DEPTH,
        "nested deeper",
    ),
}


@pytest.mark.parametrize(
    ("metadata", "path", "words"),
    REJECTED_CASES.values(),
    ids=REJECTED_CASES.keys(),
)
def test_rejected_value_names_path(metadata, path, words):
    with pytest.raises(InvalidEventValue) as error:
        redact_metadata(metadata)
    assert error.value.path == path
    assert path in str(error.value)
    assert words in str(error.value)


def test_cyclic_reference_message_format():
    with pytest.raises(InvalidEventValue, match=r"^cyclic reference at metadata\."):
        redact_metadata(self_containing_dict())


def test_invalid_event_value_is_value_error():
    assert issubclass(InvalidEventValue, ValueError)


# --- Export scan ---


def test_find_secrets_accepts_markers():
    text = (
        f"Bearer [REDACTED] Basic [REDACTED] {REDACTED_PATH} "
        f"{account_marker('DU1234567')} https://[REDACTED]@gw.local/?token=[REDACTED] "
        "password=[REDACTED] Authorization: [REDACTED]"
    )
    assert find_secrets(json.dumps({"metadata": {"note": text}})) == []


def test_find_secrets_accepts_hex_hashes():
    digests = ["f1234567" + "0" * 56, "0" * 64, account_hash("U1234567")]
    assert find_secrets(json.dumps({"metadata": {"digests": digests}})) == []


def test_find_secrets_accepts_envelope_hashes():
    event = {
        "account_hash": "ab" * 32,
        "token_hash": "cd" * 32,
        "input_hash": "ef" * 32,
        "output_hash": None,
    }
    assert find_secrets(json.dumps(event)) == []


def test_find_secrets_flags_raw_token_hash():
    assert find_secrets(json.dumps({"token_hash": "raw-token-value"})) == [
        "sensitive_key"
    ]


def test_find_secrets_accepts_redaction_entries():
    event = {
        "redactions": [{"path": "metadata.request.token", "reason": "sensitive_key"}],
        "metadata": {"request": {"token": REDACTED}},
    }
    assert find_secrets(json.dumps(event)) == []


def test_find_secrets_skips_joined_entry_path():
    # Both keys are clean, but their joined path reads like a bearer credential.
    clean, redactions = redact_metadata({"Bearer ": {"Bearer Bearer ": None}})
    event = {"redactions": redactions, "metadata": clean}
    assert find_secrets(json.dumps(event)) == []


def test_find_secrets_scans_unknown_entry_reason():
    event = {"redactions": [{"path": "metadata.x", "reason": "Bearer abc"}]}
    assert find_secrets(json.dumps(event)) == ["bearer_credential"]


def test_find_secrets_flags_sensitive_key():
    assert find_secrets(json.dumps({"metadata": {"api_key": "abc"}})) == [
        "sensitive_key"
    ]


def test_find_secrets_flags_path_outside_redactions():
    assert find_secrets(json.dumps({"metadata": {"path": "/srv/gw"}})) == [
        "sensitive_key"
    ]


def test_find_secrets_scans_duplicate_keys():
    text = '{"metadata":{"password":"hunter2","password":"[REDACTED]"}}'
    assert find_secrets(text) == ["sensitive_key"]


def test_find_secrets_scans_keys():
    assert find_secrets(json.dumps({"DU1234567": 1})) == ["account_id"]


def test_find_secrets_scans_invalid_json_as_text():
    assert find_secrets("not json: Bearer abc") == ["bearer_credential"]


def test_find_secrets_flags_raw_envelope_hash():
    assert find_secrets(json.dumps({"account_hash": "U1234567"})) == [
        "sensitive_key",
        "account_id",
    ]


def test_find_secrets_nested_token_hash_is_ordinary():
    # Only the envelope's own hash fields must hold hashes. In metadata,
    # "token_hash" is an evidence name that redact keeps.
    clean, _ = redact_metadata({"token_hash": "abc"})
    assert clean == {"token_hash": "abc"}
    assert find_secrets(json.dumps({"metadata": clean})) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [("5", []), ("null", []), ('"Bearer abc"', ["bearer_credential"])],
)
def test_find_secrets_scalar_document(text, expected):
    assert find_secrets(text) == expected


def test_find_secrets_accepts_bytes():
    raw = json.dumps({"note": "Bearer abc"}).encode()
    assert find_secrets(raw) == ["bearer_credential"]


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000 + "]" * 100_000, "[" * 100_000, '{"a":' * 50_000],
    ids=["deep array", "unclosed array", "unclosed object"],
)
def test_find_secrets_survives_deep_nesting(text):
    assert find_secrets(text) == []


def test_find_secrets_accepts_url_and_email_keys():
    # The redaction path joins the keys into text that reads like a URL with
    # user info, "metadata.https://api.example.com.ops@example.com.token".
    payload = build_event(
        "probe",
        operation="t.x",
        actor={"kind": "user", "id": "user:bob"},
        decision="allow",
        outcome="completed",
        correlation_key=b"k" * 32,
        metadata={"https://api.example.com": {"ops@example.com": {"token": "x"}}},
    )
    payload["occurred_at"] = "2026-05-09T07:35:25.123456Z"
    assert payload["redactions"] == [
        {
            "path": "metadata.https://api.example.com.ops@example.com.token",
            "reason": "sensitive_key",
        }
    ]
    assert find_secrets(dumps(payload).decode()) == []


# --- Fixed point and linear time ---

# Fragments that the patterns react to, so that random text built from them
# reaches the patterns' edge cases.
FRAGMENTS = [
    "Bearer ",
    "basic ",
    "abc",
    "Cookie:",
    "Set-Cookie: ",
    "Authorization: ",
    "authorization",
    "token",
    "password",
    "'",
    '"',
    "`",
    "=",
    ":",
    " ",
    "\n",
    "https://",
    "file://",
    "u:p@",
    "@",
    "gw.local",
    "/",
    "\\",
    "?",
    "&",
    "#",
    ";",
    ",",
    "sig=",
    "/home/",
    "/root",
    "~/",
    "C:\\Users\\",
    "DU1234567",
    "U123456",
    REDACTED,
    REDACTED_PATH,
    "[",
    "]",
    "-",
    ".",
    "1",
    # Short secret words, in several cases.
    "pass",
    "PASS",
    "Auth",
    "sid",
    "Session",
    "Key",
    "key",
    "jwt",
    "otp",
    "pin",
    "_count",
    "Hash",
    # Structured values.
    "{",
    "}",
    "(",
    ")",
    "b'",
    '\\"',
    "\\\\",
    # Percent-encoding.
    "%",
    "%2F",
    "%3D",
    "%22",
    "%3F",
    "%25",
    "%41",
    # URL forms.
    "postgres://",
    "redis://",
    ":\\/\\/",
    "\\/",
    ":8443",
    # Authentication schemes.
    "Bearer\u00a0",
    "BASIC ",
    # Fixed shapes.
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----",
    "-----BEGIN ",
    " PRIVATE KEY-----",
    "AKIA",
    "ASIA",
    "ABCDEFGHIJKLMNOP",
    "eyJ",
    "eyJhbGciOiJIUzI1",
    "ghp_",
    "github_pat_",
    "xoxb-",
    "sk_live_",
    "rk_test_",
    "aaaaaaaaaaaaaaaaaaaaaaaa",
    # Home paths.
    "~alice/",
    "\\\\srv\\Users\\",
    "/Users/",
    "/mnt/c/Users/",
    # Account ids.
    "U12345",
    "F123456",
    "I1234567",
    "DU",
    # Characters that NFKC, case folding or the lookalike table change, and
    # format characters.
    "\u200b",
    "\uff50",
    "\u0430",
    "\u017f",
    "\u212a",
    "\u0130",
    "\u00df",
    "\u00e9",
]

fragment_text = st.lists(
    st.sampled_from(FRAGMENTS) | st.text(max_size=3), max_size=30
).map("".join)


def full_scrub(text):
    """Run the full scrub on ``text`` without the trigger check."""
    scrubbed, reasons = redaction._scrub_passes(text, account_hash)
    return scrubbed, [{"path": "metadata.note", "reason": reason} for reason in reasons]


@settings(max_examples=500, deadline=None)
@given(fragment_text)
def test_fast_path_equals_full_scrub(text):
    assert scrub(text) == full_scrub(text)


@settings(max_examples=500, deadline=None)
@given(fragment_text)
def test_trigger_check_covers_full_scrub(text):
    if not redaction._could_match(text):
        assert full_scrub(text) == (text, [])


def test_secret_names_contain_trigger_word():
    # The trigger check finds a secret name by these words alone.
    names = (
        redaction._SECRET_NAME_MARKERS
        + redaction._KEY_ONLY_MARKERS
        + tuple(redaction._SECRET_NAME_WORDS)
    )
    for name in names:
        parts = name.split("_")
        assert any(
            word in part for part in parts for word in redaction._NAME_TRIGGER_WORDS
        ), name


def test_format_characters_match_unicode_data():
    every_character = "".join(map(chr, range(0x110000)))
    expected = [c for c in every_character if unicodedata.category(c) == "Cf"]
    assert redaction._FORMAT_CHARACTER.findall(every_character) == expected


def test_lookalike_table_maps_to_latin():
    table = redaction._LOOKALIKE_LETTERS
    for source, target in table.items():
        name = unicodedata.name(chr(source))
        assert name.startswith(("CYRILLIC", "GREEK")), name
        assert chr(target).isascii()
        assert chr(target).isalpha()


@settings(max_examples=300, deadline=None)
@given(fragment_text)
def test_scrub_output_is_fixed_point(text):
    scrubbed, _ = scrub(text)
    assert scrub(scrubbed) == (scrubbed, [])


@settings(max_examples=300, deadline=None)
@given(fragment_text)
def test_scrub_output_scans_clean(text):
    scrubbed, _ = scrub(text)
    assert find_secrets(json.dumps({"note": scrubbed})) == []


fragment_metadata = st.recursive(
    fragment_text | st.integers() | st.none(),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(fragment_text, children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(fragment_metadata)
def test_stored_event_scans_clean(metadata):
    try:
        text = stored_event(metadata)
    except InvalidEventValue:
        # Two keys can scrub to the same text, which redact rejects.
        return
    assert find_secrets(text) == []


ADVERSARIAL_INPUTS = {
    "word": "a" * 200_000,
    "secret word": "token" * 40_000,
    "quoted secret word": '"' + "token" * 40_000,
    "dotted run": "a." * 100_000,
    "assignments": "a=" * 100_000,
    "secret name and spaces": "token" + " " * 200_000,
    "unclosed escaped value": 'password="' + "\\a" * 100_000,
    "schemes": "https://" * 25_000,
    "userinfo": "http://a@" * 22_000,
    "query": "https://h/?" + "a=&" * 66_000,
    "bearer words": "Bearer " * 28_000,
    "bearer and spaces": "bearer" + " " * 200_000,
    "quoted headers": "'Authorization:" * 13_000,
    "cookie headers": "Cookie: " * 25_000,
    "quote then header": "`Cookie:" + "`Bearer " * 25_000,
    "home paths": "/home/" * 33_000,
    "tildes": "~/" * 100_000,
    "account ids": "DU1234567 " * 20_000,
    "account ids and paths": "DU1234567/home/" * 13_000,
    "digit run": "U" + "1" * 200_000,
    "quotes": '"' * 200_000,
    "unclosed brackets per line": "password=[\n" * 18_000,
    "unclosed brackets": "password=[" * 20_000,
    "nested brackets": "password=" + "[" * 200_000,
    "apostrophes in brackets": "password=[" + "'" * 200_000,
    "escaped quoted values": 'password=\\"' * 18_000,
    "escaped quote run": 'password=\\"' + "\\" * 200_000,
    "escaped key quote": "\\" * 15 + '"' + "a" * 200_000,
    "percent escapes": "%41" * 66_000,
    "percent signs": "%" * 200_000,
    "percent words": "a%41 " * 40_000,
    "encoded percent signs": "%25" * 66_000,
    "private key begins": "-----BEGIN RSA PRIVATE KEY-----" * 6_000,
    "jwt dots": "eyJ" + "a" * 10 + "." * 200_000,
    "jwt runs": "eyJaaaaaaaaaaa.b.c " * 10_000,
    "user and colon": "https://u:p" * 18_000,
    "user, colon and slash": "https://u:p/" * 16_000,
    "network userinfo without at": "postgres://a:b/" + "c/" * 100_000,
    "escaped schemes": "https:\\/\\/" * 18_000,
    "tilde users": "~a/" * 66_000,
    "file shares": "\\\\a\\Users\\" * 20_000,
    "cloud key prefixes": "AKIA" * 50_000,
    "github prefixes": "ghp_" * 50_000,
    "camel case name": "aB" * 100_000 + "=x",
}


@pytest.mark.parametrize(
    "text", ADVERSARIAL_INPUTS.values(), ids=ADVERSARIAL_INPUTS.keys()
)
def test_adversarial_text_scanned_quickly(text):
    # redact rejects strings this long, but find_secrets scans stored text of
    # any length, so the patterns themselves must stay linear.
    start = time.perf_counter()
    find_secrets(text)
    scrub(text[:MAX_STRING_LENGTH])
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"scanning 200 KB took {elapsed:.2f} s"
