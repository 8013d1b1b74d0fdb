"""``manage.py tokens``: output, usage errors, the operator gate and audit events.

Most tests call the command in-process on the test database; the exit-code
tests run it as a real subprocess, as an operator would.
"""

import json
import sqlite3
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connections

from api.credentials import hash_secret, parse_token
from api.models import ApiToken
from audit.correlation import TOKEN, correlation_hash
from audit.keys import correlation_key
from ibkr_gateway.runtime_config import get_runtime_config
from ibkr_gateway.scopes import ACCOUNTS_READ, AUDIT_READ
from tests.api_support import call, database_bytes, error_of
from tests.conftest import TEST_CORRELATION_KEY, TEST_KEY


def tokens(*args):
    """Run ``manage.py tokens ARGS`` in-process and return its standard output."""
    out = StringIO()
    call_command("tokens", *args, stdout=out)
    return out.getvalue()


def create_json(*extra):
    args = ["create", "--name", "ci reader", "--scope", ACCOUNTS_READ, "--json"]
    return json.loads(tokens(*args, *extra))


def events(db_path):
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT payload FROM audit_events ORDER BY seq").fetchall()
    return [json.loads(payload) for (payload,) in rows]


# create


def test_create_json_prints_id_and_token(gateway_db):
    body = create_json()

    token_id, _secret = parse_token(body["token"])
    assert body["id"] == token_id
    assert body["scopes"] == [ACCOUNTS_READ]
    assert body["state"] == "active"


def test_created_token_authenticates(gateway_db):
    body = create_json()

    response = call("/api/v1/accounts", body["token"])

    assert response.status_code == 200


def test_create_stores_only_keyed_hash(gateway_db):
    body = create_json()
    _token_id, secret = parse_token(body["token"])

    token = ApiToken.objects.get(pk=body["id"])
    connections["default"].close()

    assert token.secret_hash == hash_secret(secret)
    assert secret.encode() not in database_bytes(gateway_db)


def test_create_text_shows_token_once(gateway_db):
    output = tokens("create", "--name", "desk", "--scope", ACCOUNTS_READ)

    token_line = output.strip().splitlines()[-1]
    assert parse_token(token_line) is not None
    assert output.count(token_line) == 1
    assert "cannot be shown again" in output


def test_create_defaults_owner_to_cli_principal(gateway_db):
    body = create_json()

    owner = get_user_model().objects.get(username="dev")
    assert body["owner"] == "dev"
    assert not owner.has_usable_password()


def test_create_with_existing_owner(gateway_db):
    get_user_model().objects.create_user("trader")

    body = create_json("--owner", "trader")

    assert body["owner"] == "trader"


def test_create_sets_expiry_in_days(gateway_db):
    body = create_json("--expires-in", "7")

    token = ApiToken.objects.get(pk=body["id"])
    assert (token.expires_at - token.created_at).days == 7


def test_create_deduplicates_scopes(gateway_db):
    body = create_json("--scope", AUDIT_READ, "--scope", ACCOUNTS_READ)

    assert body["scopes"] == [ACCOUNTS_READ, AUDIT_READ]


def test_create_is_audited_with_token_hash(gateway_db):
    body = create_json()

    (event,) = events(gateway_db)
    key = correlation_key(get_runtime_config())
    assert event["event_type"] == "token_created"
    assert event["actor"] == {"kind": "cli", "id": "cli:dev"}
    assert event["token_hash"] == correlation_hash(key, TOKEN, str(body["id"]))
    assert event["metadata"]["scopes"] == [ACCOUNTS_READ]


def test_create_event_holds_no_secret(gateway_db):
    body = create_json()
    _token_id, secret = parse_token(body["token"])

    (event,) = events(gateway_db)

    assert secret not in json.dumps(event)


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["--scope", "ibkr:everything"], "ibkr:everything"),
        (["--scope", ACCOUNTS_READ, "--expires-in", "0"], "out of range"),
        (["--scope", ACCOUNTS_READ, "--expires-in", "ten"], "whole number"),
        (["--scope", ACCOUNTS_READ, "--expires-in", "3651"], "3650"),
        (["--scope", ACCOUNTS_READ, "--owner", "nobody"], "nobody"),
        ([], "--scope"),
    ],
    ids=[
        "unknown scope",
        "zero days",
        "days not a number",
        "too many days",
        "missing owner",
        "no scope",
    ],
)
def test_create_usage_errors_exit_64(gateway_db, args, mentions):
    with pytest.raises(CommandError) as raised:
        tokens("create", "--name", "x", *args)

    assert raised.value.returncode == 64
    assert mentions in str(raised.value)


def test_usage_error_creates_nothing(gateway_db):
    with pytest.raises(CommandError):
        tokens("create", "--name", "x", "--scope", ACCOUNTS_READ, "--owner", "nobody")

    assert ApiToken.objects.count() == 0
    assert events(gateway_db) == []


# list


def test_list_json_never_shows_secret(gateway_db):
    created = create_json()

    body = json.loads(tokens("list", "--json"))

    (row,) = body["tokens"]
    assert row["id"] == created["id"]
    assert "token" not in row
    assert "secret_hash" not in row
    assert created["token"].split("_", 2)[2] not in json.dumps(body)


def test_list_text_shows_state_and_scopes(gateway_db):
    created = create_json()

    output = tokens("list")

    assert str(created["id"]) in output
    assert "active" in output
    assert ACCOUNTS_READ in output


def test_list_is_audited(gateway_db):
    create_json()

    tokens("list")

    assert events(gateway_db)[-1]["event_type"] == "tokens_listed"
    assert events(gateway_db)[-1]["metadata"]["count"] == 1


# revoke


def test_revoke_rejects_token_at_once(gateway_db):
    created = create_json()

    tokens("revoke", str(created["id"]))
    response = call("/api/v1/accounts", created["token"])

    assert response.status_code == 401
    assert error_of(response)["code"] == "token_revoked"


def test_revoke_json_output(gateway_db):
    created = create_json()

    body = json.loads(tokens("revoke", str(created["id"]), "--json"))

    assert body["id"] == created["id"]
    assert body["already_revoked"] is False
    assert body["revoked_at"] is not None


def test_revoke_twice_changes_nothing(gateway_db):
    created = create_json()
    first = json.loads(tokens("revoke", str(created["id"]), "--json"))

    second = json.loads(tokens("revoke", str(created["id"]), "--json"))

    assert second["already_revoked"] is True
    assert second["revoked_at"] == first["revoked_at"]


def test_revoke_is_audited(gateway_db):
    created = create_json()

    tokens("revoke", str(created["id"]))

    event = events(gateway_db)[-1]
    assert event["event_type"] == "token_revoked"
    assert event["token_hash"] == events(gateway_db)[0]["token_hash"]


@pytest.mark.parametrize("token_id", ["999", "0", "abc"])
def test_revoke_unknown_id_exits_64(gateway_db, token_id):
    with pytest.raises(CommandError) as raised:
        tokens("revoke", token_id)

    assert raised.value.returncode == 64


# operator gate


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    """Return a writer of a runtime config with a given ``[cli] operator``."""
    monkeypatch.setenv("TEST_AUDIT_KEY", TEST_KEY)
    monkeypatch.setenv("TEST_CORRELATION_KEY", TEST_CORRELATION_KEY)

    def write(operator):
        path = tmp_path / "gateway.toml"
        path.write_text(
            "[audit]\n"
            'hmac_secret_env = "TEST_AUDIT_KEY"\n'
            'correlation_secret_env = "TEST_CORRELATION_KEY"\n'
            "[cli]\n"
            'principal = "desk"\n'
            'scopes = ["ibkr:audit:read"]\n'
            f"operator = {'true' if operator else 'false'}\n"
        )
        return str(path)

    return write


def test_non_operator_is_refused(gateway_db, config_file):
    with pytest.raises(CommandError) as raised:
        tokens("list", "--config", config_file(operator=False))

    assert raised.value.returncode == 4
    assert "operator = true" in str(raised.value)


def test_non_operator_refusal_is_audited(gateway_db, config_file):
    with pytest.raises(CommandError):
        tokens(
            "create",
            "--name",
            "x",
            "--scope",
            ACCOUNTS_READ,
            "--config",
            config_file(operator=False),
        )

    (event,) = events(gateway_db)
    assert event["event_type"] == "token_command_denied"
    assert event["decision"] == "deny"
    assert event["actor"] == {"kind": "cli", "id": "cli:desk"}
    assert ApiToken.objects.count() == 0


def test_operator_may_create(gateway_db, config_file):
    body = create_json("--config", config_file(operator=True))

    assert body["owner"] == "desk"


# as a subprocess


def test_subprocess_create_and_list(manage):
    created = manage(
        "tokens", "create", "--name", "cli", "--scope", ACCOUNTS_READ, "--json"
    )
    listed = manage("tokens", "list", "--json")

    assert created.returncode == 0, created.stderr
    token = json.loads(created.stdout)["token"]
    assert listed.returncode == 0, listed.stderr
    assert token.split("_", 2)[2] not in listed.stdout + listed.stderr


def test_subprocess_unknown_scope_exits_64(manage):
    result = manage("tokens", "create", "--name", "x", "--scope", "ibkr:nope")

    assert result.returncode == 64
    assert "unknown scope 'ibkr:nope'" in result.stderr
