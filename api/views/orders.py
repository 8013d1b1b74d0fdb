"""Order endpoints: previews, approvals, submits, modifies, cancels, reads, halt.

Each view authenticates and checks its scope through ``ApiView``, then hands
the request to the workflow in ``orders``, which audits its own decisions.
Bodies are parsed by ``orders.intent`` rather than DRF, so prices stay
exact decimals. The final ``api_request`` event is written by the base
class as for every other endpoint.
"""

from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from api import order_serializers as docs
from api import params
from api.errors import ErrorDescription, error_response
from api.openapi import BROKER_STATUSES, error_responses
from api.views.base import ApiView
from ibkr_gateway import scopes
from orders import (
    approvals,
    cancel,
    intent,
    modify,
    previews,
    reads,
    submit,
    trading_halt,
)
from orders.errors import InvalidOrder, OrderError
from orders.models.choices import Mode
from orders.principal import Principal

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="Unique per order request (1 to 128 letters, digits, '.', '_', "
    "':' or '-'); send the same key only to retry the same request.",
)
BROKER_ORDER_ID_PARAMETER = OpenApiParameter(
    "broker_order_id", str, OpenApiParameter.PATH, description="The broker's order id."
)
WRITE_STATUSES = (400, 404, 409, 413, 422, 429, *BROKER_STATUSES)


class OrderApiView(ApiView):
    """Base of the order views: JSON bodies, principals and ``OrderError`` responses."""

    http_method_names = ["post"]
    parser_classes = [JSONParser]
    mode = None

    def principal(self):
        return Principal.for_token(self.call.token, self.request.request_id)

    def body(self):
        try:
            raw = self.request.body
        except RequestDataTooBig:
            raise InvalidOrder(
                "The request body is too large. Send only the documented fields.",
                code="request_too_large",
                status=413,
            ) from None
        return intent.parse_body(raw)

    def handle_exception(self, exc):
        if isinstance(exc, OrderError):
            self.call.error_code = exc.code
            error = ErrorDescription(exc.status, exc.code, exc.message, exc.headers)
            return error_response(self.request, error)
        return super().handle_exception(exc)

    def note_account(self, data):
        account_id = data.get("account_id") if isinstance(data, dict) else None
        try:
            self.call.account_id = intent.account_id(account_id)
        except OrderError:
            self.call.account_id = None

    def outcome_response(self, outcome):
        self.call.reached_broker = True
        if "error" not in outcome.body:
            return Response(
                outcome.body, status=outcome.status, headers=outcome.headers
            )

        # Errors after the write-ahead use the same JSON error shape as
        # every other API error.
        error = outcome.body["error"]
        self.call.error_code = error["code"]
        if outcome.status >= 500:
            self.call.broker_failure = True
        description = ErrorDescription(
            outcome.status, error["code"], error["message"], outcome.headers
        )
        return error_response(self.request, description)

    def idempotency_key(self):
        return self.request.headers.get("Idempotency-Key")


class PreviewView(OrderApiView):
    """Check an order against the risk policy and return a preview with an expiry."""

    operation = "api.orders.preview"
    required_scopes = (scopes.ORDERS_PREVIEW,)
    bracket = False

    @extend_schema(
        request=docs.OrderFieldsSerializer,
        responses={
            201: docs.PreviewSerializer,
            **error_responses(400, 404, 413, 422, *BROKER_STATUSES),
        },
    )
    def post(self, request):
        data = self.body()
        self.note_account(data)
        preview = previews.create_preview(self.principal(), data, bracket=self.bracket)
        return Response(previews.preview_view(preview), status=201)


class BracketPreviewView(PreviewView):
    """Check a bracket (parent, take-profit, stop-loss) and return its preview."""

    operation = "api.orders.preview.bracket"
    bracket = True

    @extend_schema(
        request=docs.BracketFieldsSerializer,
        responses={
            201: docs.PreviewSerializer,
            **error_responses(400, 404, 413, 422, *BROKER_STATUSES),
        },
    )
    def post(self, request):
        return super().post(request)


class ApprovalView(OrderApiView):
    """Approve a preview for one account; with four-eyes, by another person."""

    operation = "api.approvals.create"
    required_scopes = (scopes.APPROVALS_CREATE,)

    @extend_schema(
        request=docs.ApprovalRequestSerializer,
        responses={201: docs.ApprovalSerializer, **error_responses(400, 404, 409)},
    )
    def post(self, request):
        data = self.body()
        self.note_account(data)
        approval = approvals.grant(self.principal(), data)
        return Response(approvals.approval_view(approval), status=201)


class SubmitView(OrderApiView):
    """Place a previewed and approved order or bracket."""

    @extend_schema(
        parameters=[IDEMPOTENCY_PARAMETER],
        request=docs.SubmitRequestSerializer,
        responses={
            201: docs.OrderResultSerializer,
            **error_responses(*WRITE_STATUSES),
        },
    )
    def post(self, request):
        data = self.body()
        self.note_account(data)
        outcome = submit.submit(
            self.principal(), self.mode, data, self.idempotency_key()
        )
        return self.outcome_response(outcome)


class ModifyView(OrderApiView):
    """Change a working order to a newly previewed and approved order."""

    @extend_schema(
        parameters=[IDEMPOTENCY_PARAMETER, BROKER_ORDER_ID_PARAMETER],
        request=docs.SubmitRequestSerializer,
        responses={
            200: docs.OrderResultSerializer,
            **error_responses(*WRITE_STATUSES),
        },
    )
    def post(self, request, broker_order_id):
        data = self.body()
        self.note_account(data)
        outcome = modify.modify(
            self.principal(), self.mode, broker_order_id, data, self.idempotency_key()
        )
        return self.outcome_response(outcome)


class CancelView(OrderApiView):
    """Cancel an order; never blocked by a halt, a preview or an approval."""

    @extend_schema(
        parameters=[IDEMPOTENCY_PARAMETER, BROKER_ORDER_ID_PARAMETER],
        request=docs.CancelRequestSerializer,
        responses={
            200: docs.OrderResultSerializer,
            **error_responses(400, 404, 409, 413, 422, *BROKER_STATUSES),
        },
    )
    def post(self, request, broker_order_id):
        data = self.body()
        self.note_account(data)
        outcome = cancel.cancel(
            self.principal(), self.mode, broker_order_id, data, self.idempotency_key()
        )
        return self.outcome_response(outcome)


class OrderListView(OrderApiView):
    """List the gateway's orders of one mode, refreshed from the broker."""

    operation = "api.orders.list"
    required_scopes = (scopes.ORDERS_READ,)
    http_method_names = ["get"]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "mode", str, enum=["paper", "live"], description="Default live."
            ),
            OpenApiParameter("account_id", str, description="Only this account."),
        ],
        responses={200: docs.OrderListSerializer, **error_responses(400, 404)},
    )
    def get(self, request):
        params.check_known(request, ("mode", "account_id"))
        mode = _mode_param(request)
        account_id = request.GET.get("account_id")
        if account_id is not None:
            account_id = intent.account_id(account_id)
            self.call.account_id = account_id
        orders = reads.list_orders(self.principal(), mode, account_id)
        return Response({"mode": mode, "orders": orders})


class OrderStatusView(OrderApiView):
    """Read one order's status from the broker and record any transition."""

    operation = "api.orders.status"
    required_scopes = (scopes.ORDERS_READ,)
    http_method_names = ["get"]

    @extend_schema(
        parameters=[BROKER_ORDER_ID_PARAMETER],
        responses={200: docs.OrderListSerializer, **error_responses(400, 404)},
    )
    def get(self, request, broker_order_id):
        params.check_known(request, ())
        order = reads.order_status(self.principal(), self.mode, broker_order_id)
        self.call.account_id = None
        return Response({"mode": self.mode, "orders": [order]})


class HaltView(OrderApiView):
    """Halt trading; only an operator can resume it."""

    operation = "api.trading.halt"
    required_scopes = (scopes.TRADING_HALT,)

    @extend_schema(
        request=docs.HaltRequestSerializer,
        responses={200: docs.HaltSerializer, **error_responses(400)},
    )
    def post(self, request):
        data = self.body()
        intent.check_fields(data, ("reason",))
        try:
            reason = trading_halt.validate_reason(data["reason"])
        except trading_halt.InvalidReason as exc:
            raise InvalidOrder(
                f"{str(exc).capitalize()}.", code="invalid_reason"
            ) from None
        principal = self.principal()
        change = trading_halt.halt(principal.actor, reason, request.request_id)
        return Response(
            {
                "halted": change.halted,
                "changed": change.changed,
                "reason": change.reason,
                "changed_by": change.changed_by,
                "changed_at": change.changed_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )


def _mode_param(request):
    value = request.GET.get("mode", Mode.LIVE)
    if value not in (Mode.PAPER, Mode.LIVE):
        raise InvalidOrder(
            "Query parameter mode must be paper or live.", code="invalid_parameter"
        )
    return value


def mode_views(mode):
    """Return the submit, modify, cancel and status views of ``mode``."""
    return {
        "submit": SubmitView.as_view(
            mode=mode,
            operation=f"api.orders.{mode}.submit",
            required_scopes=(submit.SUBMIT_SCOPES[mode],),
        ),
        "modify": ModifyView.as_view(
            mode=mode,
            operation=f"api.orders.{mode}.modify",
            required_scopes=(modify.MODIFY_SCOPES[mode],),
        ),
        "cancel": CancelView.as_view(
            mode=mode,
            operation=f"api.orders.{mode}.cancel",
            required_scopes=(cancel.CANCEL_SCOPES[mode],),
        ),
        "status": OrderStatusView.as_view(
            mode=mode, operation=f"api.orders.{mode}.status"
        ),
    }
