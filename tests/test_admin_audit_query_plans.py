"""Every audit admin query is an index search, never a scan of audit_events.

The plans come from ``EXPLAIN QUERY PLAN`` on the exact statements that the
change list runs, captured from real requests, so a change to the admin that
adds a scan (a COUNT(*), a LIKE, a date function per row) fails here.
"""

import uuid

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit.correlation import ACCOUNT, correlation_hash
from audit.keys import correlation_key
from ibkr_gateway.runtime_config import get_runtime_config
from tests.conftest import append_events

LIST_URL = "/admin/audit/auditevent/"


@pytest.fixture
def client(gateway_db):
    user = User.objects.create_superuser("root", "root@example.invalid", "unused")
    client = Client()
    client.force_login(user)
    append_events(5, account_id="U1234567")
    append_events(5, decision="deny", outcome="denied", error_code="scope_denied")
    return client


def audit_statements(client, url):
    """Return the SELECTs on audit_events that a GET of ``url`` runs."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith(("SELECT", "WITH"))
        and "audit_events" in query["sql"]
    ]


def query_plan(sql):
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return [row[3] for row in cursor.fetchall()]


def assert_no_scan(statements):
    for sql in statements:
        plan = query_plan(sql)
        scans = [step for step in plan if step.startswith("SCAN audit_events")]
        assert scans == [], f"{sql}\n{plan}"


def plan_steps(statements):
    return [step for sql in statements for step in query_plan(sql)]


def account_hash():
    key = correlation_key(get_runtime_config())
    return correlation_hash(key, ACCOUNT, "U1234567")


FILTERS = {
    "list": "",
    "older page": "?before=5",
    "newer page": "?after=3",
    "event type": "?event_type=test_event",
    "decision": "?decision=deny",
    "outcome": "?outcome=denied",
    "last hour": "?occurred=hour",
    "last day": "?occurred=day",
    "last week": "?occurred=week",
    "from/to": "?occurred_from=2000-01-01&occurred_to=2999-01-01T10:00",
    "combined": "?decision=allow&outcome=completed&occurred=day",
}


@pytest.mark.parametrize("query", FILTERS.values(), ids=FILTERS.keys())
def test_filter_searches_index(client, query):
    statements = audit_statements(client, LIST_URL + query)

    assert statements
    assert_no_scan(statements)


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("?event_type=test_event", "audit_type_seq_idx"),
        ("?decision=deny", "audit_decision_seq_idx"),
        ("?outcome=denied", "audit_outcome_seq_idx"),
        ("?occurred=week", "audit_occurred_at_idx"),
    ],
)
def test_filter_uses_its_index(client, query, index):
    steps = plan_steps(audit_statements(client, LIST_URL + query))

    assert any(index in step for step in steps), steps


def test_page_query_needs_no_sort(client):
    steps = plan_steps(audit_statements(client, LIST_URL + "?decision=deny"))

    assert not any("TEMP B-TREE" in step for step in steps), steps


def test_uuid_search_uses_both_indexes(client):
    statements = audit_statements(client, f"{LIST_URL}?q={uuid.uuid4()}")
    steps = plan_steps(statements)

    assert_no_scan(statements)
    event_index = "sqlite_autoindex_audit_events_1 (event_id=?"
    assert any(event_index in step for step in steps), steps
    assert any("audit_request_id_idx (request_id=?" in step for step in steps), steps


def test_account_hash_uses_index(client):
    statements = audit_statements(client, f"{LIST_URL}?account_hash={account_hash()}")
    steps = plan_steps(statements)

    assert_no_scan(statements)
    assert any("audit_account_seq_idx (account_hash=?" in step for step in steps)


def test_detail_page_searches_index(client):
    statements = audit_statements(client, f"{LIST_URL}3/change/")

    assert statements
    assert_no_scan(statements)
