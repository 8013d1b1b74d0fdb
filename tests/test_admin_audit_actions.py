"""Find by account, Verify now and the JSON Lines export of the audit admin."""

import json

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from audit.correlation import ACCOUNT, correlation_hash
from audit.keys import correlation_key
from audit.models import VerificationRun
from ibkr_gateway.runtime_config import get_runtime_config
from tests.conftest import append_events, run_manage
from tests.test_admin_audit_list import admin_events

LIST_URL = "/admin/audit/auditevent/"
ACCOUNT_ID = "U1234567"


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def superuser_client(gateway_db):
    user = User.objects.create_superuser("root", "root@example.invalid", "unused")
    return client_for(user)


@pytest.fixture
def viewer_client(gateway_db):
    user = User.objects.create_user("viewer", "viewer@example.invalid", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    return client_for(user)


@pytest.fixture
def sync_tasks(monkeypatch):
    """Run django-q2 tasks inline, inside the request that queues them.

    django-q2 reads Q_CLUSTER once at import into ``Conf``, so changing the
    setting in a test has no effect; the class attribute is patched instead.
    """
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


def account_hash(account_id):
    return correlation_hash(correlation_key(get_runtime_config()), ACCOUNT, account_id)


# Find by account


def test_find_account_redirects_to_hash(viewer_client):
    append_events(2, account_id=ACCOUNT_ID)
    append_events(2)

    response = viewer_client.post(
        f"{LIST_URL}find-account/", {"account_id": ACCOUNT_ID}
    )

    assert response.status_code == 302
    assert response["Location"] == f"{LIST_URL}?account_hash={account_hash(ACCOUNT_ID)}"
    assert ACCOUNT_ID not in response["Location"]


def test_account_filter_selects_rows(viewer_client):
    append_events(2, account_id=ACCOUNT_ID)
    append_events(2)

    response = viewer_client.get(f"{LIST_URL}?account_hash={account_hash(ACCOUNT_ID)}")

    assert [row.seq for row in response.context["cl"].result_list] == [3, 2]


def test_find_account_rejects_invalid_id(viewer_client, gateway_db):
    response = viewer_client.post(
        f"{LIST_URL}find-account/", {"account_id": "not an id"}, follow=True
    )

    assert b"The account id is invalid" in response.content
    (event,) = admin_events(gateway_db, "admin.audit.find_account")
    assert event["outcome"] == "refused"
    assert event["error_code"] == "invalid_account_id"


def test_find_account_requires_post(viewer_client):
    response = viewer_client.get(f"{LIST_URL}find-account/?account_id={ACCOUNT_ID}")

    assert response.status_code == 405


def test_find_account_is_audited_by_hash(viewer_client, gateway_db):
    viewer_client.post(f"{LIST_URL}find-account/", {"account_id": ACCOUNT_ID})

    (event,) = admin_events(gateway_db, "admin.audit.find_account")
    assert event["actor"] == {"kind": "user", "id": "user:viewer"}
    assert event["account_hash"] == account_hash(ACCOUNT_ID)
    assert ACCOUNT_ID not in json.dumps(event)


def test_list_shows_find_account_form(viewer_client):
    response = viewer_client.get(LIST_URL)

    assert b'action="/admin/audit/auditevent/find-account/"' in response.content
    assert b'name="account_id"' in response.content
    assert b"Find by account" in response.content


# Verification


def test_banner_before_any_run(viewer_client):
    response = viewer_client.get(LIST_URL)

    assert b'id="chain-status"' in response.content
    assert b"Not verified yet" in response.content


def test_verify_now_runs_task(superuser_client, sync_tasks):
    append_events(3)

    response = superuser_client.post(f"{LIST_URL}verify/", follow=True)

    (run,) = VerificationRun.objects.all()
    assert b"Verification queued" in response.content
    assert run.requested_by == "root"
    assert run.finished_at is not None
    assert run.chain_valid is True
    assert run.events_scanned >= 4
    assert b"Chain verified" in response.content


def test_verify_needs_permission(viewer_client, gateway_db):
    response = viewer_client.post(f"{LIST_URL}verify/")

    assert response.status_code == 403
    assert not VerificationRun.objects.exists()
    (event,) = admin_events(gateway_db, "admin.audit.verify")
    assert event["decision"] == "deny"


def test_verify_permission_grants_button(gateway_db, sync_tasks):
    user = User.objects.create_user("auditor", "a@example.invalid", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="view_auditevent"),
        Permission.objects.get(codename="run_verification"),
    )
    client = client_for(user)

    listing = client.get(LIST_URL)
    response = client.post(f"{LIST_URL}verify/")

    assert b"Verify now" in listing.content
    assert response.status_code == 302
    assert VerificationRun.objects.get().requested_by == "auditor"


def test_banner_shows_broken_chain(viewer_client):
    from django.utils import timezone

    VerificationRun.objects.create(
        requested_by="root",
        requested_at=timezone.now(),
        finished_at=timezone.now(),
        chain_valid=False,
        events_scanned=10,
        breaks=2,
        first_break_seq=7,
    )

    response = viewer_client.get(LIST_URL)

    assert b"Chain broken at seq 7" in response.content


def test_verify_run_is_audited(superuser_client, sync_tasks, gateway_db):
    superuser_client.post(f"{LIST_URL}verify/")

    (request_event,) = admin_events(gateway_db, "admin.audit.verify")
    (run_event,) = admin_events(gateway_db, "admin.audit.verify.run")
    assert request_event["event_type"] == "audit_verification"
    assert run_event["outcome"] == "completed"
    assert run_event["metadata"]["chain_valid"] is True


# Export


def export_lines(response):
    return b"".join(response.streaming_content).decode().splitlines()


def test_export_filtered_matches_cli(superuser_client, gateway_db):
    append_events(3)
    append_events(2, decision="deny", outcome="denied", error_code="scope_denied")

    response = superuser_client.get(f"{LIST_URL}export/?decision=deny")
    lines = export_lines(response)
    cli = run_manage("audit", "export", "--limit", "0", "--json", db_path=gateway_db)
    cli_events = json.loads(cli.stdout)["events"]

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    assert [json.loads(line)["seq"] for line in lines] == [5, 6]
    by_seq = {event["seq"]: event for event in cli_events}
    for line in lines:
        record = json.loads(line)
        assert line == json.dumps(by_seq[record["seq"]], separators=(",", ":"))


def test_export_action_selected_rows(superuser_client):
    append_events(4)

    response = superuser_client.post(
        LIST_URL,
        {"action": "export_jsonl", "_selected_action": ["2", "4"]},
    )

    assert response.status_code == 200
    assert [json.loads(line)["seq"] for line in export_lines(response)] == [2, 4]


def test_export_needs_permission(viewer_client, gateway_db):
    append_events(2)

    response = viewer_client.get(f"{LIST_URL}export/")

    assert response.status_code == 403
    (event,) = admin_events(gateway_db, "admin.audit.export")
    assert event["decision"] == "deny"


def test_export_rejects_secrets(superuser_client, gateway_db):
    append_events(2)
    import sqlite3

    from django.db import connections

    from audit.triggers import CREATE_STATEMENTS

    connections["default"].close()
    with sqlite3.connect(gateway_db) as db:
        for name in CREATE_STATEMENTS:
            db.execute(f"DROP TRIGGER {name}")
        db.execute(
            "UPDATE audit_events SET payload = replace(payload, 'event 0', "
            "'password=hunter2hunter2') WHERE seq = 2"
        )

    response = superuser_client.get(f"{LIST_URL}export/", follow=True)

    assert b"Export rejected" in response.content
    assert response["Content-Type"].startswith("text/html")
    (event,) = admin_events(gateway_db, "admin.audit.export")
    assert event["error_code"] == "unsafe_output"


def test_export_is_audited(superuser_client, gateway_db):
    append_events(3)

    response = superuser_client.get(f"{LIST_URL}export/?decision=allow")
    body = b"".join(response.streaming_content)

    (event,) = admin_events(gateway_db, "admin.audit.export")
    assert event["event_type"] == "audit_export"
    assert event["metadata"]["filters"] == {"decision": "allow"}
    assert event["metadata"]["count"] == 4
    assert event["metadata"]["sha256"] == response["X-Export-SHA256"]
    import hashlib

    assert hashlib.sha256(body).hexdigest() == response["X-Export-SHA256"]
