"""Order admin pages: read-only for superusers, exact id search, reconcile report.

Rows come from the real workflows (REST preview, approval and submit on the
simulated broker), so each page is exercised on data as the gateway writes it.
"""

import secrets

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client, RequestFactory

from orders import lease, trading_halt
from orders.models import (
    Approval,
    IdempotencyRecord,
    LiveOrder,
    LiveOrderPending,
    OrderGroup,
    OrderPreview,
    PaperOrder,
    ReconcileHealth,
    ReconcileLease,
    TradingHalt,
    TradingHaltChange,
)
from tests.orders_support import (
    CLOCK,
    LIVE_ACCOUNT,
    PAPER_ACCOUNT,
    approved,
    approver_token,
    body_of,
    bracket_fields,
    order_fields,
    submit,
    trader_token,
)

ORDER_MODELS = [
    OrderPreview,
    Approval,
    IdempotencyRecord,
    PaperOrder,
    LiveOrder,
    OrderGroup,
    LiveOrderPending,
    ReconcileHealth,
    ReconcileLease,
    TradingHalt,
    TradingHaltChange,
]


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


def admin_url(model, view="changelist", *args):
    name = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    if view == "changelist":
        return name
    if view == "add":
        return name + "add/"
    (object_id,) = args
    return f"{name}{object_id}/{view}/"


@pytest.fixture
def placed(trading_gateway):
    """Place a paper order, a paper bracket and a live order; return their rows."""
    trader = trader_token("alice")
    approver = approver_token("bob")
    paper = body_of(
        submit(trader, "paper", approved(trader, approver, order_fields()), "paper-1")
    )
    bracket_body = approved(trader, approver, bracket_fields(), bracket=True)
    submit(trader, "paper", bracket_body, "bracket-1")
    live_body = approved(
        trader, approver, order_fields(LIVE_ACCOUNT, limit_price="190")
    )
    live = body_of(submit(trader, "live", live_body, "live-1"))
    lease.acquire("reconcile-live-orders", "host-1-test", 60, now=CLOCK.now)
    ReconcileHealth.objects.create(mode="live", last_pass_at=CLOCK.now)
    return {
        "paper": PaperOrder.objects.get(
            broker_order_id=paper["orders"][0]["broker_order_id"]
        ),
        "live": LiveOrder.objects.get(
            broker_order_id=live["orders"][0]["broker_order_id"]
        ),
    }


def test_every_order_model_is_registered(gateway_db):
    for model in ORDER_MODELS:
        assert model in admin.site._registry, model.__name__


def test_permission_methods_refuse_superuser(gateway_db):
    superuser = get_user_model().objects.create_superuser("root", None, "unused")
    request = RequestFactory().get("/admin/")
    request.user = superuser

    for model in ORDER_MODELS:
        model_admin = admin.site._registry[model]
        name = model.__name__
        assert model_admin.has_view_permission(request), name
        assert not model_admin.has_add_permission(request), name
        assert not model_admin.has_change_permission(request), name
        assert not model_admin.has_delete_permission(request), name
        assert model_admin.show_full_result_count is False, name
        assert not model_admin.get_actions(request), name


def test_lists_offer_no_change_controls(placed):
    client = sign_in("root", superuser=True)

    for model in ORDER_MODELS:
        response = client.get(admin_url(model))
        name = model.__name__
        assert response.status_code == 200, name
        assert model.objects.exists(), name
        # The navigation sidebar links other apps' add pages, so look for
        # this model's own add URL.
        assert admin_url(model, "add").encode() not in response.content, name
        assert b"Delete selected" not in response.content, name
        assert b'name="_save"' not in response.content, name


def test_add_change_delete_are_forbidden(placed):
    client = sign_in("root", superuser=True)

    for model in ORDER_MODELS:
        row = model.objects.first()
        name = model.__name__
        change = admin_url(model, "change", row.pk)
        delete = admin_url(model, "delete", row.pk)
        assert client.get(admin_url(model, "add")).status_code == 403, name
        assert client.post(admin_url(model, "add"), {}).status_code == 403, name
        assert client.post(change, {}).status_code == 403, name
        assert client.get(delete).status_code == 403, name
        assert client.post(delete, {"post": "yes"}).status_code == 403, name
        assert model.objects.filter(pk=row.pk).exists(), name


def test_detail_page_shows_row_read_only(placed):
    client = sign_in("root", superuser=True)
    order = placed["live"]

    response = client.get(admin_url(LiveOrder, "change", order.pk))

    assert response.status_code == 200
    assert order.coid.encode() in response.content
    assert b'name="_save"' not in response.content
    assert b"deletelink" not in response.content


@pytest.mark.parametrize(
    "model", [IdempotencyRecord, PaperOrder, LiveOrder, LiveOrderPending]
)
def test_lists_show_account_hash_not_id(placed, model):
    client = sign_in("root", superuser=True)
    order = placed["live"] if model in (LiveOrder, LiveOrderPending) else None
    order = order or placed["paper"]

    content = client.get(admin_url(model)).content

    assert order.account_hash.encode() in content
    assert LIVE_ACCOUNT.encode() not in content
    assert PAPER_ACCOUNT.encode() not in content


def test_search_matches_whole_coid_only(placed):
    client = sign_in("root", superuser=True)
    coid = placed["live"].coid

    whole = client.get(admin_url(LiveOrder), {"q": coid})
    prefix = client.get(admin_url(LiveOrder), {"q": coid[:-1]})

    assert list(whole.context["cl"].result_list) == [placed["live"]]
    assert list(prefix.context["cl"].result_list) == []


def test_search_ignores_raw_account_id(placed):
    client = sign_in("root", superuser=True)

    for model in (IdempotencyRecord, LiveOrder, LiveOrderPending):
        response = client.get(admin_url(model), {"q": LIVE_ACCOUNT})
        assert list(response.context["cl"].result_list) == [], model.__name__


def test_search_by_account_hash(placed):
    client = sign_in("root", superuser=True)
    order = placed["live"]

    response = client.get(admin_url(LiveOrder), {"q": order.account_hash})

    assert list(response.context["cl"].result_list) == [order]


def test_search_by_preview_id(placed):
    client = sign_in("root", superuser=True)
    preview = OrderPreview.objects.first()

    found = client.get(admin_url(OrderPreview), {"q": str(preview.preview_id)})
    not_uuid = client.get(admin_url(OrderPreview), {"q": "not-a-uuid"})

    assert list(found.context["cl"].result_list) == [preview]
    assert not_uuid.status_code == 200
    assert list(not_uuid.context["cl"].result_list) == []


def test_search_by_record_id_on_orders(placed):
    client = sign_in("root", superuser=True)
    order = placed["paper"]

    response = client.get(admin_url(PaperOrder), {"q": str(order.record_id)})

    assert list(response.context["cl"].result_list) == [order]


def test_view_permission_alone_lists_rows(placed):
    client = sign_in("viewer", "view_liveorder")

    listing = client.get(admin_url(LiveOrder))
    other = client.get(admin_url(PaperOrder))

    assert listing.status_code == 200
    assert other.status_code == 403


def test_report_lists_reconcile_trouble(placed):
    order = placed["live"]
    LiveOrderPending.objects.filter(order=order).update(
        why_held="locate", not_found_count=3, last_status="Inactive"
    )
    ReconcileHealth.objects.filter(mode="live").update(
        degraded_since=CLOCK.now, reason="broker_login_required"
    )
    record = IdempotencyRecord.objects.get(pk=order.record_id)
    record.status = IdempotencyRecord.UNKNOWN_OUTCOME
    record.save(update_fields=["status"])
    client = sign_in("root", superuser=True)

    response = client.get("/admin/orders/reconcilehealth/report/")

    assert response.status_code == 200
    report = response.context["report"]
    assert [item["broker_order_id"] for item in report["held"]] == [
        order.broker_order_id
    ]
    assert [item["broker_order_id"] for item in report["not_found"]] == [
        order.broker_order_id
    ]
    assert report["degraded"][0]["reason"] == "broker_login_required"
    assert b"locate" in response.content
    assert b"broker_login_required" in response.content
    assert f"/admin/orders/idempotencyrecord/{record.pk}/".encode() in response.content
    assert b"Nothing needs attention" not in response.content


def test_report_without_trouble(trading_gateway):
    client = sign_in("root", superuser=True)

    response = client.get("/admin/orders/reconcilehealth/report/")

    assert response.status_code == 200
    assert b"Nothing needs attention" in response.content


def test_report_needs_view_permission(trading_gateway):
    viewer = sign_in("viewer", "view_reconcilehealth")
    outsider = sign_in("outsider", "view_liveorder")

    assert viewer.get("/admin/orders/reconcilehealth/report/").status_code == 200
    assert outsider.get("/admin/orders/reconcilehealth/report/").status_code == 403


def test_report_is_linked_from_health_list(trading_gateway):
    client = sign_in("root", superuser=True)

    response = client.get(admin_url(ReconcileHealth))

    assert b'href="/admin/orders/reconcilehealth/report/"' in response.content


def test_report_is_read_only(trading_gateway):
    client = sign_in("root", superuser=True)

    response = client.post("/admin/orders/reconcilehealth/report/", {})

    assert response.status_code == 405


def test_halt_history_lists_newest_first(trading_gateway):
    trading_halt.halt({"kind": "cli", "id": "cli:dev"}, "second change")
    client = sign_in("root", superuser=True)

    response = client.get(admin_url(TradingHaltChange))

    reasons = [change.reason for change in response.context["cl"].result_list]
    assert reasons == ["second change", "test setup"]
