"""Halt and resume from the admin: permissions, the required reason, audit events."""

import json
import secrets
import sqlite3

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from orders import trading_halt
from orders.models import TradingHaltChange

HALT_URL = "/admin/orders/tradinghalt/halt/"
RESUME_URL = "/admin/orders/tradinghalt/resume/"
LIST_URL = "/admin/orders/tradinghalt/"


def sign_in(username, *codenames, superuser=False):
    """Return a client signed in as a staff user with ``codenames`` of orders."""
    password = secrets.token_urlsafe(24)
    user = get_user_model().objects.create_user(username, password=password)
    user.is_staff = True
    user.is_superuser = superuser
    user.save()
    for codename in codenames:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="orders", codename=codename)
        )
    client = Client()
    assert client.login(username=username, password=password)
    return client


def events(db_path, event_type):
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT payload FROM audit_events WHERE event_type = ? ORDER BY seq",
            (event_type,),
        ).fetchall()
    return [json.loads(payload) for (payload,) in rows]


def test_halt_with_permission_and_reason(trading_gateway):
    client = sign_in("ops", "halt_trading")

    response = client.post(HALT_URL, {"reason": "  broker incident  "})

    assert response.status_code == 302
    assert response["Location"] == LIST_URL
    state = trading_halt.current_state()
    assert state.halted is True
    assert state.reason == "broker incident"
    assert state.changed_by == "user:ops"
    change = TradingHaltChange.objects.order_by("-id").first()
    assert change.changed_by == "user:ops"
    assert change.changed is True
    (event,) = events(trading_gateway, "trading_halted")
    assert event["actor"] == {"kind": "user", "id": "user:ops"}
    assert event["metadata"]["reason"] == "broker incident"
    assert event["metadata"]["changed"] is True
    assert event["request_id"] == response["X-Request-ID"]
    assert event["event_id"] == change.event_id


def test_halt_shows_success_message(trading_gateway):
    client = sign_in("ops", "halt_trading", "view_tradinghalt")

    response = client.post(HALT_URL, {"reason": "broker incident"}, follow=True)

    assert b"Trading is now halted. Reason: broker incident" in response.content


@pytest.mark.parametrize(
    "data",
    [{}, {"reason": ""}, {"reason": "   "}],
    ids=["absent", "empty", "blank"],
)
def test_halt_without_reason_is_rejected(trading_gateway, data):
    client = sign_in("ops", "halt_trading")

    response = client.post(HALT_URL, data)

    assert response.status_code == 200
    assert b"Reason is missing; say why trading is halted or resumed." in (
        response.content
    )
    assert trading_halt.current_state().halted is False
    assert events(trading_gateway, "trading_halted") == []


def test_halt_rejects_multiline_reason(trading_gateway):
    client = sign_in("ops", "halt_trading")

    response = client.post(HALT_URL, {"reason": "first\nsecond"})

    assert response.status_code == 200
    assert b"write it on one line" in response.content
    assert trading_halt.current_state().halted is False


def test_halt_rejects_long_reason(trading_gateway):
    client = sign_in("ops", "halt_trading")

    response = client.post(HALT_URL, {"reason": "x" * 501})

    assert response.status_code == 200
    assert b"reason is 501 characters" in response.content.lower()
    assert trading_halt.current_state().halted is False


def test_halt_denied_without_permission(trading_gateway):
    client = sign_in("viewer", "view_tradinghalt", "resume_trading")

    page = client.get(HALT_URL)
    response = client.post(HALT_URL, {"reason": "broker incident"})

    assert page.status_code == 403
    assert response.status_code == 403
    assert trading_halt.current_state().halted is False
    assert events(trading_gateway, "trading_halted") == []
    (denied,) = events(trading_gateway, "trading_halt_denied")
    assert denied["actor"] == {"kind": "user", "id": "user:viewer"}
    assert denied["metadata"]["action"] == "halt"
    assert denied["request_id"] == response["X-Request-ID"]


def test_halt_page_shows_form_and_state(trading_gateway):
    client = sign_in("ops", "halt_trading")

    response = client.get(HALT_URL)

    assert response.status_code == 200
    assert b'name="reason"' in response.content
    assert b"Trading is <strong>running</strong>" in response.content
    assert b"cli:test-operator" in response.content


def test_halt_when_halted_records_no_change(trading_gateway):
    trading_halt.halt({"kind": "cli", "id": "cli:dev"}, "first halt")
    client = sign_in("ops", "halt_trading", "view_tradinghalt")

    response = client.post(HALT_URL, {"reason": "again"}, follow=True)

    assert b"Trading was already halted, so nothing changed" in response.content
    assert trading_halt.current_state().reason == "first halt"
    change = TradingHaltChange.objects.order_by("-id").first()
    assert change.changed is False
    assert change.changed_by == "user:ops"


def test_resume_with_permission_and_reason(gateway_db):
    client = sign_in("ops", "resume_trading")

    response = client.post(RESUME_URL, {"reason": "checks done"})

    assert response.status_code == 302
    state = trading_halt.current_state()
    assert state.halted is False
    assert state.changed_by == "user:ops"
    (event,) = events(gateway_db, "trading_resumed")
    assert event["actor"] == {"kind": "user", "id": "user:ops"}
    assert event["metadata"]["reason"] == "checks done"
    assert event["metadata"]["previous_halted"] is True


def test_resume_without_reason_is_rejected(gateway_db):
    client = sign_in("ops", "resume_trading")

    response = client.post(RESUME_URL, {"reason": ""})

    assert response.status_code == 200
    assert b"Reason is missing" in response.content
    assert trading_halt.current_state().halted is True
    assert events(gateway_db, "trading_resumed") == []


def test_resume_denied_without_permission(gateway_db):
    client = sign_in("halter", "halt_trading", "view_tradinghalt")

    response = client.post(RESUME_URL, {"reason": "checks done"})

    assert response.status_code == 403
    assert trading_halt.current_state().halted is True
    assert events(gateway_db, "trading_resumed") == []
    (denied,) = events(gateway_db, "trading_halt_denied")
    assert denied["actor"] == {"kind": "user", "id": "user:halter"}
    assert denied["metadata"]["action"] == "resume"


def test_superuser_may_halt_and_resume(gateway_db):
    client = sign_in("root", superuser=True)

    resumed = client.post(RESUME_URL, {"reason": "open"})
    halted = client.post(HALT_URL, {"reason": "close"})

    assert resumed.status_code == 302
    assert halted.status_code == 302
    assert trading_halt.current_state().halted is True
    assert [
        event["actor"]["id"] for event in events(gateway_db, "trading_resumed")
    ] == ["user:root"]
    assert [event["actor"]["id"] for event in events(gateway_db, "trading_halted")] == [
        "user:root"
    ]


def test_list_links_match_permissions(gateway_db):
    both = sign_in("root", superuser=True).get(LIST_URL).content
    halt_only = sign_in("halter", "halt_trading", "view_tradinghalt").get(LIST_URL)
    view_only = sign_in("viewer", "view_tradinghalt").get(LIST_URL).content

    assert HALT_URL.encode() in both
    assert RESUME_URL.encode() in both
    assert HALT_URL.encode() in halt_only.content
    assert RESUME_URL.encode() not in halt_only.content
    assert HALT_URL.encode() not in view_only
    assert RESUME_URL.encode() not in view_only


def test_staff_flag_is_required(trading_gateway):
    password = secrets.token_urlsafe(24)
    user = get_user_model().objects.create_user("outsider", password=password)
    user.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="orders", codename="halt_trading"
        )
    )
    client = Client()
    assert client.login(username="outsider", password=password)

    response = client.post(HALT_URL, {"reason": "broker incident"})

    # admin_view sends a non-staff user to the sign-in page before the view runs.
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert trading_halt.current_state().halted is False
