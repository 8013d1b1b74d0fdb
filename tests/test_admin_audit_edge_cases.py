"""Odd parameters and views of the audit admin: clear refusals, never a 500."""

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from audit.admin_filters import parse_bound
from tests.conftest import append_events
from tests.test_admin_audit_list import admin_events

LIST_URL = "/admin/audit/auditevent/"
EXPORT_URL = LIST_URL + "export/"


@pytest.fixture
def root(gateway_db):
    user = User.objects.create_superuser("root", "root@example.invalid", "unused")
    client = Client()
    client.force_login(user)
    return client


def test_to_date_includes_the_named_day(root):
    append_events(2)
    today = timezone.now().strftime("%Y-%m-%d")

    response = root.get(f"{LIST_URL}?occurred_to={today}")

    assert response.status_code == 200
    assert b"tests.append" in response.content


def test_bound_with_overflowing_offset_is_invalid():
    assert parse_bound("0001-01-01T00:00:00+14:00", end=False) is None
    assert parse_bound("9999-12-31T23:59:59-14:00", end=True) is None


def test_overflowing_offset_gets_a_message_not_500(root):
    append_events(1)

    response = root.get(f"{LIST_URL}?occurred_from=0001-01-01T00:00:00%2B14:00")

    assert response.status_code == 200


@pytest.mark.parametrize(
    "query", ["account_hash=bad", "q=notuuid", "occurred=bogus", "foo=bar"]
)
def test_filtered_export_refuses_odd_filters(root, gateway_db, query):
    append_events(2)

    response = root.get(f"{EXPORT_URL}?{query}")

    assert response.status_code == 302
    exports = admin_events(gateway_db, "admin.audit.export")
    assert exports[-1]["decision"] == "refuse"


def test_export_action_refuses_non_numeric_selection(root):
    append_events(2)

    response = root.post(
        LIST_URL, {"action": "export_jsonl", "_selected_action": ["abc"]}
    )

    assert response.status_code == 302


def test_export_action_records_select_across(root, gateway_db):
    append_events(3)

    response = root.post(
        LIST_URL,
        {"action": "export_jsonl", "_selected_action": ["1"], "select_across": "1"},
    )
    b"".join(response.streaming_content)

    exports = admin_events(gateway_db, "admin.audit.export")
    assert exports[-1]["metadata"]["select_across"] is True


def test_event_history_is_not_served(root):
    append_events(1)

    assert root.get(f"{LIST_URL}1/history/").status_code == 404


def test_chain_head_views_are_audited(root, gateway_db):
    append_events(1)

    root.get("/admin/audit/chainhead/")

    assert admin_events(gateway_db, "admin.audit.head")
