"""The read-only audit event page: payload, redactions, row MAC and neighbours."""

import html
import sqlite3

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connections
from django.test import Client

from audit.triggers import CREATE_STATEMENTS
from tests.conftest import append_events
from tests.test_admin_audit_list import admin_events

PAGE = "/admin/audit/auditevent/{seq}/change/"


@pytest.fixture
def viewer_client(gateway_db):
    user = User.objects.create_user("viewer", "viewer@example.invalid", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client = Client()
    client.force_login(user)
    return client


def element_text(content, element_id):
    """Return the text after the element with ``element_id`` up to its close."""
    text = content.decode()
    start = text.index(f'id="{element_id}"')
    start = text.index(">", start) + 1
    return html.unescape(text[start : text.index("</", start)])


def test_detail_shows_pretty_payload(viewer_client):
    append_events(3)

    response = viewer_client.get(PAGE.format(seq=3))

    assert response.status_code == 200
    payload = element_text(response.content, "event-payload")
    assert '\n  "event_type": "test_event",' in payload
    assert '"note": "event 1"' in payload


def test_detail_lists_redactions(viewer_client):
    append_events(1, metadata={"password": "hunter2-hunter2"})

    response = viewer_client.get(PAGE.format(seq=2))

    assert b'id="event-redactions"' in response.content
    assert b"metadata.password" in response.content
    assert b"hunter2" not in response.content


def test_detail_without_redactions(viewer_client):
    append_events(2)

    response = viewer_client.get(PAGE.format(seq=2))

    assert "No redactions" in element_text(response.content, "event-redactions")


def test_intact_row_mac_valid(viewer_client):
    append_events(3)

    response = viewer_client.get(PAGE.format(seq=2))

    status = element_text(response.content, "row-chain-status")
    assert "MAC valid" in status
    assert "Linked to seq 1." in status


def test_tampered_row_mac_invalid(viewer_client, gateway_db):
    append_events(3)
    connections["default"].close()
    with sqlite3.connect(gateway_db) as db:
        for name in CREATE_STATEMENTS:
            db.execute(f"DROP TRIGGER {name}")
        db.execute(
            "UPDATE audit_events SET payload = replace(payload, 'event 1', "
            "'event X') WHERE seq = 3"
        )

    response = viewer_client.get(PAGE.format(seq=3))

    assert "MAC invalid" in element_text(response.content, "row-chain-status")


def test_detail_links_neighbours(viewer_client):
    append_events(3)

    middle = viewer_client.get(PAGE.format(seq=2)).content
    first = viewer_client.get(PAGE.format(seq=1)).content

    assert b'href="/admin/audit/auditevent/1/change/">Previous event' in middle
    assert b'href="/admin/audit/auditevent/3/change/">Next event' in middle
    assert b"Previous event" not in first


def test_detail_offers_no_save(viewer_client):
    append_events(1)

    response = viewer_client.get(PAGE.format(seq=2))

    assert b'name="_save"' not in response.content


def test_detail_view_is_audited(viewer_client, gateway_db):
    append_events(2)

    viewer_client.get(PAGE.format(seq=2))

    (event,) = admin_events(gateway_db, "admin.audit.detail")
    assert event["event_type"] == "audit_read"
    assert event["actor"] == {"kind": "user", "id": "user:viewer"}
    assert event["metadata"] == {"seq": 2}
