"""Admin sign-ins are audited with the user name and never the password."""

import json
import secrets
import sqlite3

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client


@pytest.fixture
def staff(gateway_db):
    password = secrets.token_urlsafe(24)
    User.objects.create_superuser("reviewer", "reviewer@example.invalid", password)
    return password


def audit_rows(db_path):
    connections["default"].close()
    with sqlite3.connect(db_path) as db:
        return [
            json.loads(payload)
            for (payload,) in db.execute(
                "SELECT payload FROM audit_events ORDER BY seq"
            )
        ]


def test_failed_sign_in_is_audited(gateway_db, staff):
    wrong = secrets.token_urlsafe(24)

    Client().post("/admin/login/", {"username": "reviewer", "password": wrong})

    (event,) = audit_rows(gateway_db)
    assert event["event_type"] == "login_failed"
    assert event["decision"] == "deny"
    assert event["metadata"]["username"] == "reviewer"


def test_failed_sign_in_never_stores_password(gateway_db, staff):
    wrong = secrets.token_urlsafe(24)

    Client().post("/admin/login/", {"username": "reviewer", "password": wrong})
    connections["default"].close()

    data = gateway_db.read_bytes()
    wal = gateway_db.with_name(gateway_db.name + "-wal")
    if wal.exists():
        data += wal.read_bytes()
    assert wrong.encode() not in data


def test_successful_sign_in_is_audited(gateway_db, staff):
    response = Client().post(
        "/admin/login/", {"username": "reviewer", "password": staff}
    )

    assert response.status_code == 302
    (event,) = audit_rows(gateway_db)
    assert event["event_type"] == "login_succeeded"
    assert event["actor"] == {"kind": "user", "id": "user:reviewer"}
    assert event["request_id"] == response["X-Request-ID"]
    assert staff not in json.dumps(event)


def test_client_request_id_is_not_trusted(gateway_db, staff):
    response = Client().post(
        "/admin/login/",
        {"username": "reviewer", "password": staff},
        HTTP_X_REQUEST_ID="client-chosen-id",
    )

    (event,) = audit_rows(gateway_db)
    assert response["X-Request-ID"] != "client-chosen-id"
    assert event["request_id"] == response["X-Request-ID"]
    assert event["metadata"]["client_request_id"] == "client-chosen-id"


def test_admin_offers_no_audit_change_controls(gateway_db, staff):
    client = Client()
    client.login(username="reviewer", password=staff)

    listing = client.get("/admin/audit/auditevent/")
    adding = client.get("/admin/audit/auditevent/add/")

    assert listing.status_code == 200
    assert adding.status_code == 403
    assert b"Delete selected" not in listing.content
