"""Approvals granted from the admin: permission, four-eyes, rejections and submit.

Previews are made through the REST API by a token owned by ``alice``, so
the admin user ``alice`` is the same person for four-eyes.
"""

import json
import secrets
import sqlite3
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from orders.models import Approval
from tests.orders_support import (
    LIVE_ACCOUNT,
    PAPER_ACCOUNT,
    approve,
    approver_token,
    body_of,
    order_fields,
    preview,
    submit,
    trader_token,
)


def sign_in(username, *codenames, superuser=False):
    """Return a client signed in as a staff user with ``codenames`` of orders."""
    password = secrets.token_urlsafe(24)
    user, _ = get_user_model().objects.get_or_create(username=username)
    user.is_staff = True
    user.is_superuser = superuser
    user.set_password(password)
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


def approve_url(preview_id):
    return f"/admin/orders/orderpreview/{preview_id}/approve/"


@pytest.fixture
def trader(trading_gateway):
    return trader_token("alice")


@pytest.fixture
def preview_id(trader):
    response = preview(trader, order_fields())
    assert response.status_code == 201, response.content
    return body_of(response)["preview_id"]


def test_grant_with_permission(trading_gateway, preview_id):
    client = sign_in("bob", "grant_approval", "view_orderpreview")

    response = client.post(
        approve_url(preview_id), {"account_id": PAPER_ACCOUNT, "reason": "checked"}
    )

    assert response.status_code == 302
    approval = Approval.objects.get()
    assert str(approval.preview_id) == preview_id
    assert approval.granted_by == "user:bob"
    assert approval.granted_by_person == "user:bob"
    assert approval.reason == "checked"
    assert approval.status == Approval.ACTIVE
    (event,) = events(trading_gateway, "approval_granted")
    assert event["actor"] == {"kind": "user", "id": "user:bob"}
    assert event["scopes"]["granted"] == ["ibkr:approvals:create"]
    assert event["metadata"]["approval_id"] == str(approval.approval_id)
    assert event["metadata"]["reason"] == "checked"
    assert event["request_id"] == response["X-Request-ID"]


def test_admin_approval_allows_submit(trader, preview_id):
    client = sign_in("bob", "grant_approval", "view_orderpreview")
    client.post(approve_url(preview_id), {"account_id": PAPER_ACCOUNT})
    approval = Approval.objects.get()
    body = {
        **order_fields(),
        "preview_id": preview_id,
        "approval_id": str(approval.approval_id),
    }

    placed = submit(trader, "paper", body, "admin-approved-1")

    assert placed.status_code == 201, placed.content
    approval.refresh_from_db()
    assert approval.status == Approval.CONSUMED


def test_approver_cannot_submit_own_approval(trading_gateway, preview_id):
    client = sign_in("bob", "grant_approval", "view_orderpreview")
    client.post(approve_url(preview_id), {"account_id": PAPER_ACCOUNT})
    approval = Approval.objects.get()
    body = {
        **order_fields(),
        "preview_id": preview_id,
        "approval_id": str(approval.approval_id),
    }

    placed = submit(trader_token("bob"), "paper", body, "self-approved-1")

    assert placed.status_code == 403
    assert body_of(placed)["error"]["code"] == "four_eyes_required"
    approval.refresh_from_db()
    assert approval.status == Approval.ACTIVE


def test_preview_author_cannot_approve(trading_gateway, preview_id):
    client = sign_in("alice", "grant_approval", "view_orderpreview")

    response = client.post(
        approve_url(preview_id), {"account_id": PAPER_ACCOUNT, "reason": "mine"}
    )

    assert response.status_code == 200
    assert b"Four-eyes is on" in response.content
    assert not Approval.objects.exists()
    assert events(trading_gateway, "approval_granted") == []
    (refused,) = events(trading_gateway, "approval_refused")
    assert refused["actor"] == {"kind": "user", "id": "user:alice"}
    assert refused["error_code"] == "four_eyes_required"


def test_approval_denied_without_permission(trading_gateway, preview_id):
    client = sign_in("carol", "view_orderpreview")

    page = client.get(approve_url(preview_id))
    response = client.post(
        approve_url(preview_id), {"account_id": PAPER_ACCOUNT, "reason": "checked"}
    )

    assert page.status_code == 403
    assert response.status_code == 403
    assert not Approval.objects.exists()
    (refused,) = events(trading_gateway, "approval_refused")
    assert refused["actor"] == {"kind": "user", "id": "user:carol"}
    assert refused["error_code"] == "approver_required"
    assert refused["decision"] == "deny"
    assert refused["scopes"]["granted"] == []


def test_other_account_is_rejected(trading_gateway, preview_id):
    client = sign_in("bob", "grant_approval", "view_orderpreview")

    response = client.post(approve_url(preview_id), {"account_id": LIVE_ACCOUNT})

    assert response.status_code == 200
    assert b"was made for another account or mode" in response.content
    assert not Approval.objects.exists()
    (refused,) = events(trading_gateway, "approval_refused")
    assert refused["error_code"] == "preview_account_mismatch"


def test_missing_account_is_rejected(trading_gateway, preview_id):
    client = sign_in("bob", "grant_approval", "view_orderpreview")

    response = client.post(approve_url(preview_id), {"account_id": ""})

    assert response.status_code == 200
    assert b"account_id must be an IBKR account id" in response.content
    assert not Approval.objects.exists()


def test_long_reason_is_rejected(trading_gateway, preview_id):
    client = sign_in("bob", "grant_approval", "view_orderpreview")

    response = client.post(
        approve_url(preview_id), {"account_id": PAPER_ACCOUNT, "reason": "x" * 501}
    )

    assert response.status_code == 200
    assert b"reason must be a string of at most 500 characters" in response.content
    assert not Approval.objects.exists()


def test_approve_page_shows_the_order(trading_gateway, preview_id):
    client = sign_in("bob", "grant_approval", "view_orderpreview")

    response = client.get(approve_url(preview_id))

    assert response.status_code == 200
    assert preview_id.encode() in response.content
    assert b"AAPL" in response.content
    assert b'name="account_id"' in response.content
    assert b'name="reason"' in response.content


@pytest.mark.parametrize("object_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_unknown_preview_redirects(trading_gateway, object_id):
    client = sign_in("bob", "grant_approval", "view_orderpreview")

    response = client.post(approve_url(object_id), {"account_id": PAPER_ACCOUNT})

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert not Approval.objects.exists()


def test_approve_link_matches_permission(trading_gateway, preview_id):
    change_url = f"/admin/orders/orderpreview/{preview_id}/change/"
    approver = sign_in("bob", "grant_approval", "view_orderpreview")
    viewer = sign_in("carol", "view_orderpreview")

    with_link = approver.get(change_url)
    without_link = viewer.get(change_url)

    assert with_link.status_code == 200
    assert approve_url(preview_id).encode() in with_link.content
    assert without_link.status_code == 200
    assert approve_url(preview_id).encode() not in without_link.content


def test_grant_redirects_to_preview_with_message(trading_gateway, preview_id):
    client = sign_in("bob", "grant_approval", "view_orderpreview")

    response = client.post(
        approve_url(preview_id), {"account_id": PAPER_ACCOUNT}, follow=True
    )

    approval = Approval.objects.get()
    assert response.redirect_chain[-1][0] == (
        f"/admin/orders/orderpreview/{preview_id}/change/"
    )
    assert f"Approval {approval.approval_id} granted".encode() in response.content


def test_unknown_preview_needs_permission(trading_gateway):
    client = sign_in("carol", "view_orderpreview")

    response = client.post(approve_url(uuid.uuid4()), {"account_id": PAPER_ACCOUNT})

    # The permission is checked before the lookup, so no id leaks as existing.
    assert response.status_code == 403
    (refused,) = events(trading_gateway, "approval_refused")
    assert refused["error_code"] == "approver_required"


def test_grant_without_view_permission_is_forbidden(preview_id):
    client = sign_in("dave", "grant_approval")

    response = client.get(approve_url(preview_id))

    assert response.status_code == 403


def test_second_approval_of_one_preview_is_refused(preview_id):
    first = approve(approver_token("bob"), preview_id, PAPER_ACCOUNT)

    second = approve(approver_token("erin"), preview_id, PAPER_ACCOUNT)

    assert first.status_code == 201
    assert second.status_code == 409
    assert json.loads(second.content)["error"]["code"] == "preview_already_approved"
