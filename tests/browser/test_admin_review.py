"""Reviewing the audit log in the admin, driven in headless Chromium.

Each test signs in as a superuser on a live server over its own database,
which contains the events of ``audit_log`` and the sign-in event.
"""

import json
import re
import sqlite3
from contextlib import closing

import pytest

import audit
from audit.models import AuditEvent
from audit.triggers import CREATE_STATEMENTS
from tests.conftest import append_events

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="playwright is not installed; run pip install -r requirements-dev.txt",
)
expect = sync_api.expect

pytestmark = pytest.mark.browser

LIST_URL = "/admin/audit/auditevent/"
ACCOUNT_ID = "DU5550101"
REQUEST_ID = "5d0c7a52-3f4e-4d55-9a0e-2f1b8c6e7a10"
OTHER_REQUEST_ID = "0b6f2e1d-8c4a-4f3b-a1e9-7d2c5b8a9f04"
TOKEN_ACTOR = {"kind": "token", "id": "token:7"}


@pytest.fixture
def audit_log(gateway_db):
    """Append allowed, denied and refused events and return the notable ones.

    Two events carry ``REQUEST_ID``, three ``OTHER_REQUEST_ID``, and the
    denied and the refused event carry the account ``ACCOUNT_ID``.
    """
    append_events(4)
    append_events(2, request_id=REQUEST_ID)
    append_events(3, request_id=OTHER_REQUEST_ID)
    denied = audit.log_event(
        "scope_denied",
        operation="audit.tail",
        actor=TOKEN_ACTOR,
        decision="deny",
        outcome="denied",
        error_code="scope_missing",
        account_id=ACCOUNT_ID,
    )
    refused = audit.log_event(
        "order_refused",
        operation="orders.live.submit",
        actor=TOKEN_ACTOR,
        decision="refuse",
        outcome="refused",
        error_code="trading_halted",
        account_id=ACCOUNT_ID,
        metadata={"broker_message": f"account {ACCOUNT_ID} is halted"},
    )
    return {"denied": denied, "refused": refused}


@pytest.fixture
def inline_tasks(settings, monkeypatch):
    """Run django-q2 tasks inside the request that queues them."""
    from django_q.conf import Conf

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    # Conf reads Q_CLUSTER once, at import.
    monkeypatch.setattr(Conf, "SYNC", True)


def result_rows(page):
    return page.locator("#result_list tbody tr")


def tamper_payload(db_path, seq):
    """Change one stored payload as a writer with file access would.

    The triggers are dropped for the UPDATE and created again after it, so
    only the row's MAC can show the change.
    """
    with closing(sqlite3.connect(db_path)) as db, db:
        for name in CREATE_STATEMENTS:
            db.execute(f"DROP TRIGGER {name}")
        db.execute(
            "UPDATE audit_events SET payload = replace(payload, 'audit.tail', "
            "'audit.read') WHERE seq = ?",
            (seq,),
        )
        for statement in CREATE_STATEMENTS.values():
            db.execute(statement)


def test_change_list_shows_appended_events(admin_page, audit_log):
    stored = set(AuditEvent.objects.values_list("seq", flat=True))
    admin_page.goto(LIST_URL)

    seq_cells = result_rows(admin_page).locator(".field-seq")
    expect(seq_cells.first).to_be_visible()
    shown = {int(text) for text in seq_cells.all_inner_texts()}
    assert stored <= shown
    expect(admin_page.locator("#result_list")).to_contain_text("order_refused")


@pytest.mark.parametrize(
    ("filter_title", "choice", "query", "field", "value"),
    [
        ("decision", "Deny", "decision__exact", "decision", "deny"),
        ("outcome", "Refused", "outcome__exact", "outcome", "refused"),
        ("event type", "order_refused", "event_type", "event_type", "order_refused"),
    ],
    ids=["decision", "outcome", "event-type"],
)
def test_sidebar_filter_narrows_list(
    admin_page, audit_log, filter_title, choice, query, field, value
):
    admin_page.goto(LIST_URL)

    sidebar = admin_page.locator(
        f'#changelist-filter details[data-filter-title="{filter_title}"]'
    )
    sidebar.get_by_role("link", name=choice, exact=True).click()

    expect(admin_page).to_have_url(re.compile(rf"[?&]{query}={value}(&|$)"))
    expected = AuditEvent.objects.filter(**{field: value}).count()
    expect(result_rows(admin_page)).to_have_count(expected)


def test_search_by_request_id_finds_its_events(admin_page, audit_log):
    admin_page.goto(LIST_URL)

    admin_page.fill("input[name=q]", REQUEST_ID)
    admin_page.press("input[name=q]", "Enter")

    rows = result_rows(admin_page)
    expect(rows).to_have_count(2)
    for index in range(2):
        expect(rows.nth(index)).to_contain_text(REQUEST_ID)


def test_find_by_account_lists_by_hash(admin_page, audit_log):
    admin_page.goto(LIST_URL)

    admin_page.fill("input[name=account_id]", ACCOUNT_ID)
    admin_page.get_by_role("button", name="Find by account").click()

    expect(admin_page).to_have_url(re.compile(r"[?&]account_hash=[0-9a-f]{64}"))
    assert ACCOUNT_ID not in admin_page.url
    expect(admin_page.locator("body")).not_to_contain_text(ACCOUNT_ID)
    account_hash = re.search(r"account_hash=([0-9a-f]{64})", admin_page.url)[1]
    # The lookup's own audit event names the account too, by its hash.
    expected = set(
        AuditEvent.objects.filter(account_hash=account_hash).values_list(
            "seq", flat=True
        )
    )
    shown = result_rows(admin_page).locator(".field-seq").all_inner_texts()
    assert {int(text) for text in shown} == expected
    assert {audit_log["denied"].seq, audit_log["refused"].seq} <= expected


def test_event_page_shows_payload_and_mac(admin_page, audit_log, save_screenshot):
    seq = audit_log["refused"].seq
    admin_page.goto(f"{LIST_URL}{seq}/change/")

    expect(admin_page.locator("#event-payload")).to_contain_text(
        audit_log["refused"].event_id
    )
    expect(admin_page.locator("#event-redactions")).to_contain_text(
        "metadata.broker_message"
    )
    expect(admin_page.locator("#row-chain-status")).to_contain_text("MAC valid")
    save_screenshot(admin_page, "audit-detail.png")


def test_chain_banner_starts_not_verified(admin_page, audit_log):
    admin_page.goto(LIST_URL)

    expect(admin_page.locator("#chain-status")).to_contain_text("Not verified yet")


def test_verify_now_reports_chain_verified(
    admin_page, audit_log, inline_tasks, save_screenshot
):
    admin_page.goto(LIST_URL)

    admin_page.get_by_role("button", name="Verify now").click()

    expect(admin_page.locator("#chain-status")).to_contain_text("Chain verified")
    save_screenshot(admin_page, "audit-list.png")


def test_verify_now_reports_tampered_row(
    admin_page, audit_log, inline_tasks, gateway_db
):
    seq = audit_log["denied"].seq
    tamper_payload(gateway_db, seq)
    admin_page.goto(LIST_URL)

    admin_page.get_by_role("button", name="Verify now").click()

    expect(admin_page.locator("#chain-status")).to_contain_text(
        f"Chain broken at seq {seq}"
    )


def test_export_link_downloads_filtered_lines(admin_page, audit_log):
    admin_page.goto(f"{LIST_URL}?decision__exact=deny")

    with admin_page.expect_download() as download_info:
        admin_page.click("#export-filtered")

    download = download_info.value
    assert download.suggested_filename.endswith(".jsonl")
    text = download.path().read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]
    denied = AuditEvent.objects.filter(decision="deny")
    assert sorted(line["seq"] for line in lines) == sorted(
        denied.values_list("seq", flat=True)
    )
    assert sorted(line["mac"] for line in lines) == sorted(
        denied.values_list("mac", flat=True)
    )


def test_change_list_offers_no_add_or_delete(admin_page, audit_log):
    admin_page.goto(LIST_URL)

    # The navigation sidebar lists other models' Add links, so look in
    # #content only.
    content = admin_page.locator("#content")
    expect(result_rows(admin_page).first).to_be_visible()
    expect(content.get_by_role("link", name=re.compile("^Add"))).to_have_count(0)
    actions = admin_page.locator("select[name=action] option")
    expect(actions.filter(has_text=re.compile("delete", re.I))).to_have_count(0)


def test_event_page_offers_no_save_or_delete(admin_page, audit_log):
    admin_page.goto(f"{LIST_URL}{audit_log['denied'].seq}/change/")

    content = admin_page.locator("#content")
    expect(content).to_contain_text("scope_denied")
    expect(content.get_by_role("button", name=re.compile("Save"))).to_have_count(0)
    expect(content.get_by_role("link", name=re.compile("Delete"))).to_have_count(0)
