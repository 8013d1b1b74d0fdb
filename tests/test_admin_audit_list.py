"""The audit event change list: read-only, filtered from indexes, paged by seq."""

import json
import sqlite3
import uuid

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.conftest import append_events

LIST_URL = "/admin/audit/auditevent/"


def audit_payloads(db_path):
    """Return every payload in the log, oldest first."""
    connections["default"].close()
    with sqlite3.connect(db_path) as db:
        return [
            json.loads(payload)
            for (payload,) in db.execute(
                "SELECT payload FROM audit_events ORDER BY seq"
            )
        ]


def admin_events(db_path, operation):
    return [
        event for event in audit_payloads(db_path) if event["operation"] == operation
    ]


@pytest.fixture
def superuser_client(gateway_db):
    user = User.objects.create_superuser("root", "root@example.invalid", "unused")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer_client(gateway_db):
    """Return a client of a staff user with only the view permission."""
    user = User.objects.create_user("viewer", "viewer@example.invalid", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client = Client()
    client.force_login(user)
    return client


def test_list_shows_columns(superuser_client):
    append_events(3)

    response = superuser_client.get(LIST_URL)

    assert response.status_code == 200
    content = response.content.decode()
    for header in (
        "seq",
        "time",
        "event type",
        "operation",
        "actor",
        "decision",
        "outcome",
        "error code",
        "request id",
    ):
        assert f">{header.capitalize()}<" in content or f">{header}<" in content


def test_list_offers_no_change_controls(superuser_client):
    append_events(2)

    listing = superuser_client.get(LIST_URL)
    adding = superuser_client.get(f"{LIST_URL}add/")
    deleting = superuser_client.get(f"{LIST_URL}1/delete/")
    changing = superuser_client.post(f"{LIST_URL}1/change/", {"operation": "x.y"})

    assert b"Delete selected" not in listing.content
    assert b"/admin/audit/auditevent/add/" not in listing.content
    assert adding.status_code == 403
    assert deleting.status_code == 403
    assert changing.status_code == 403


def test_viewer_can_list_but_not_export(viewer_client):
    append_events(2)

    response = viewer_client.get(LIST_URL)

    assert response.status_code == 200
    assert b'id="export-filtered"' not in response.content
    assert b"export_jsonl" not in response.content
    assert b"Verify now" not in response.content


def test_superuser_sees_export_and_verify(superuser_client):
    append_events(2)

    response = superuser_client.get(LIST_URL)

    assert b'id="export-filtered"' in response.content
    assert b"export_jsonl" in response.content
    assert b"Verify now" in response.content


def test_list_runs_no_count(superuser_client):
    append_events(60)

    with CaptureQueriesContext(connection) as queries:
        superuser_client.get(LIST_URL + "?decision=allow&occurred=week")

    statements = [query["sql"].upper() for query in queries.captured_queries]
    assert not any("COUNT(" in sql for sql in statements)


def test_list_pages_by_seq(superuser_client):
    # Signing in wrote seq 1; every list view appends one more event.
    append_events(119)

    first = superuser_client.get(LIST_URL)
    cl = first.context["cl"]
    first_seqs = [row.seq for row in cl.result_list]
    older = superuser_client.get(LIST_URL + cl.older_url)
    older_cl = older.context["cl"]
    older_seqs = [row.seq for row in older_cl.result_list]
    newer = superuser_client.get(LIST_URL + older_cl.newer_url)

    assert first_seqs == list(range(120, 70, -1))
    assert cl.newer_url is None
    assert older_seqs == list(range(70, 20, -1))
    assert [row.seq for row in newer.context["cl"].result_list] == first_seqs
    assert b'id="older-page"' in first.content


def test_last_page_has_no_older_link(superuser_client):
    append_events(10)

    response = superuser_client.get(LIST_URL + "?before=5")
    cl = response.context["cl"]

    assert [row.seq for row in cl.result_list] == [4, 3, 2, 1]
    assert cl.older_url is None
    assert cl.newer_url is not None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("decision=deny", {"deny"}),
        ("outcome=denied", {"deny"}),
        ("event_type=other_event", {"refuse"}),
    ],
)
def test_filters_select_rows(superuser_client, query, expected):
    append_events(3)
    append_events(2, decision="deny", outcome="denied", error_code="scope_denied")
    import audit

    audit.log_event(
        "other_event",
        operation="tests.other",
        actor={"kind": "system", "id": "tests"},
        decision="refuse",
        outcome="refused",
        error_code="policy",
    )

    response = superuser_client.get(f"{LIST_URL}?{query}")
    rows = response.context["cl"].result_list

    assert rows
    assert {row.decision for row in rows} == expected


def test_event_type_filter_lists_types(superuser_client):
    append_events(2)
    append_events(1, decision="deny", outcome="denied", error_code="scope_denied")

    response = superuser_client.get(LIST_URL)

    assert b"?event_type=test_event" in response.content


def test_time_presets_and_range(superuser_client):
    append_events(3)

    for preset in ("hour", "day", "week"):
        response = superuser_client.get(f"{LIST_URL}?occurred={preset}")
        rows = response.context["cl"].result_list
        assert [row.seq for row in rows if row.event_type == "test_event"] == [
            4,
            3,
            2,
        ], preset

    past = superuser_client.get(f"{LIST_URL}?occurred_to=2000-01-01")
    future = superuser_client.get(f"{LIST_URL}?occurred_from=2999-01-01")
    open_range = superuser_client.get(
        f"{LIST_URL}?occurred_from=2000-01-01&occurred_to=2999-01-01"
    )

    assert len(past.context["cl"].result_list) == 0
    assert len(future.context["cl"].result_list) == 0
    assert len(open_range.context["cl"].result_list) >= 4


def test_time_range_uses_plain_comparisons(superuser_client):
    append_events(3)

    with CaptureQueriesContext(connection) as queries:
        superuser_client.get(f"{LIST_URL}?occurred_from=2000-01-01T10:00")

    statements = [query["sql"] for query in queries.captured_queries]
    bound = [sql for sql in statements if '"occurred_at" >=' in sql]
    assert bound
    assert not any("django_datetime" in sql for sql in statements)


def test_invalid_time_shows_message(superuser_client):
    append_events(3)

    response = superuser_client.get(f"{LIST_URL}?occurred_from=yesterday")

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 0
    assert b"is invalid; enter a date" in response.content


def test_search_by_event_id(superuser_client):
    records = append_events(3)
    event_id = audit_payloads(connections["default"].settings_dict["NAME"])[1][
        "event_id"
    ]

    response = superuser_client.get(f"{LIST_URL}?q={event_id.upper()}")

    assert len(records) == 3
    assert [row.event_id for row in response.context["cl"].result_list] == [event_id]


def test_search_by_request_id(superuser_client):
    request_id = str(uuid.uuid4())
    append_events(2, request_id=request_id)
    append_events(2)

    response = superuser_client.get(f"{LIST_URL}?q={request_id}")

    rows = response.context["cl"].result_list
    assert [row.seq for row in rows] == [3, 2]


def test_search_never_uses_like(superuser_client):
    append_events(2)

    with CaptureQueriesContext(connection) as queries:
        superuser_client.get(f"{LIST_URL}?q={uuid.uuid4()}")

    assert not any(" LIKE " in query["sql"] for query in queries.captured_queries)


def test_search_rejects_non_uuid(superuser_client):
    append_events(2)

    response = superuser_client.get(f"{LIST_URL}?q=alice")

    assert len(response.context["cl"].result_list) == 0
    assert b"Search by event id or request id" in response.content


def test_list_view_is_audited(superuser_client, gateway_db):
    append_events(3)

    superuser_client.get(f"{LIST_URL}?decision=allow")

    (event,) = admin_events(gateway_db, "admin.audit.list")
    assert event["event_type"] == "audit_read"
    assert event["actor"] == {"kind": "user", "id": "user:root"}
    assert event["metadata"]["filters"] == {"decision": "allow"}
    # Three appended events and the sign-in event.
    assert event["metadata"]["count"] == 4
    assert event["metadata"]["first_seq"] == 4
