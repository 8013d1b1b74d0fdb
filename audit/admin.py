"""Read-only admin pages over the audit log.

Nobody, superusers included, can add, change or delete audit rows here.
Every list, detail page, account lookup, export and verification request
appends its own audit event (see ``audit.admin_records``).
"""

import logging
import uuid

from django.contrib import admin, messages
from django.contrib.admin import ShowFacets
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.core.exceptions import (
    EmptyResultSet,
    FieldError,
    PermissionDenied,
    ValidationError,
)
from django.http import (
    Http404,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.urls import path, reverse
from django.utils import timezone
from django_q.tasks import async_task

from audit.admin_export import (
    CONTENT_TYPE,
    MAX_EXPORT_ROWS,
    ExportReader,
    ExportStream,
    ExportTooLarge,
    export_sql,
)
from audit.admin_filters import AccountHashFilter, EventTypeFilter, OccurredAtFilter
from audit.admin_paging import KeysetChangeList
from audit.admin_records import (
    AuditWriteFailed,
    chain_banner,
    payload_view,
    record,
    record_denied,
    record_refused,
    row_chain_status,
)
from audit.chain import format_occurred_at
from audit.correlation import ACCOUNT, correlation_hash
from audit.envelope import FAILED
from audit.keys import correlation_key
from audit.models import AuditEvent, ChainHead, VerificationRun
from audit.reader import AuditDatabaseError
from ibkr_gateway.broker.validation import ACCOUNT_ID_PATTERN
from ibkr_gateway.runtime_config import ConfigError, get_runtime_config

logger = logging.getLogger(__name__)

READ = "audit_read"
EXPORT = "audit_export"
VERIFICATION = "audit_verification"
VERIFICATION_TASK = "audit.verification_task.run_full_verification"
SEARCH_HELP = "Search by event id or request id: enter a whole UUID."


class ReadOnlyAdmin(admin.ModelAdmin):
    """Admin that can list and show rows but never add, change or delete them."""

    actions = None

    def has_add_permission(self, request, obj=None):
        # Rows are written only by audit.log_event, inside the chain.
        return False

    def has_change_permission(self, request, obj=None):
        # A changed row would break its MAC; the triggers reject it anyway.
        return False

    def has_delete_permission(self, request, obj=None):
        # The log is append-only; deletion is what verify exists to detect.
        return False


def _filters(request):
    return {name: value for name, value in request.GET.items()}


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = (
        "seq",
        "time",
        "event_type",
        "operation",
        "actor",
        "decision",
        "outcome",
        "error_code",
        "request_id",
    )
    list_filter = (
        EventTypeFilter,
        "decision",
        "outcome",
        OccurredAtFilter,
        AccountHashFilter,
    )
    # Search is an exact lookup of one UUID; see get_search_results.
    search_fields = ("event_id", "request_id")
    search_help_text = SEARCH_HELP
    # A full-table COUNT(*) grows with the log; the page count is not worth it.
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    sortable_by = ()
    list_per_page = 50
    actions = ["export_jsonl"]
    fields = (
        "seq",
        "event_id",
        "occurred_at",
        "event_type",
        "operation",
        "actor",
        "decision",
        "outcome",
        "error_code",
        "request_id",
        "account_hash",
        "key_id",
        "prev_mac",
        "mac",
    )
    readonly_fields = fields

    @admin.display(description="time")
    def time(self, obj):
        return format_occurred_at(obj.occurred_at)

    def has_export_permission(self, request):
        return request.user.has_perm("audit.export_auditevent")

    def has_verify_permission(self, request):
        return request.user.has_perm("audit.run_verification")

    def get_changelist(self, request, **kwargs):
        return KeysetChangeList

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            value = str(uuid.UUID(term))
        except ValueError:
            messages.warning(
                request,
                f"{term[:80]!r} is not a UUID. Search by event id or request id: "
                "enter a whole UUID such as 0b6f1c2e-9d4a-4c1e-8f7a-2d5e3b9c1a40.",
            )
            return queryset.none(), False
        # Two index lookups; LIKE would read every row.
        return queryset.filter(event_id=value) | queryset.filter(
            request_id=value
        ), False

    def get_urls(self):
        urls = [
            path(
                "find-account/",
                self.admin_site.admin_view(self.find_account_view),
                name="audit_auditevent_find_account",
            ),
            path(
                "verify/",
                self.admin_site.admin_view(self.verify_view),
                name="audit_auditevent_verify",
            ),
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="audit_auditevent_export",
            ),
        ]
        return urls + super().get_urls()

    # Change list and detail page

    def changelist_view(self, request, extra_context=None):
        context = {
            "chain": chain_banner(),
            "can_verify": self.has_verify_permission(request),
            "can_export": self.has_export_permission(request),
            **(extra_context or {}),
        }
        response = super().changelist_view(request, context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if request.method != "GET" or changelist is None:
            # Action posts record their own events; redirects show no rows.
            return response
        rows = changelist.result_list
        metadata = {
            "filters": _filters(request),
            "count": len(rows),
            "first_seq": rows[0].seq if rows else None,
            "last_seq": rows[-1].seq if rows else None,
        }
        try:
            record(request, READ, "admin.audit.list", metadata)
        except AuditWriteFailed as exc:
            return exc.response
        return response

    def response_action(self, request, queryset):
        # The admin turns the selected ids into a query before the action
        # runs, so a non-numeric id would otherwise end in a 500.
        try:
            return super().response_action(request, queryset)
        except (ValueError, ValidationError):
            return self._refuse_export(
                request,
                {"selected": request.POST.getlist("_selected_action")[:20]},
                "invalid_selection",
                "the selection is invalid.",
            )

    def history_view(self, request, object_id, extra_context=None):
        # Events are never changed, so the admin's change history is always
        # empty; serving it would be an unaudited view of the event.
        raise Http404("Audit events have no admin history.")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        event = self.get_object(request, unquote(object_id))
        if event is None or not self.has_view_permission(request, event):
            # Django returns its own redirect or 403 for these.
            return super().change_view(request, object_id, form_url, extra_context)
        pretty, redactions = payload_view(event)
        mac_status, link_status = row_chain_status(event)
        neighbours = AuditEvent.objects.values_list("seq", flat=True)
        context = {
            "payload_pretty": pretty,
            "redactions": redactions,
            "mac_status": mac_status,
            "link_status": link_status,
            "previous_seq": neighbours.filter(seq__lt=event.seq)
            .order_by("-seq")
            .first(),
            "next_seq": neighbours.filter(seq__gt=event.seq).order_by("seq").first(),
            **(extra_context or {}),
        }
        response = super().change_view(request, object_id, form_url, context)
        try:
            record(request, READ, "admin.audit.detail", {"seq": event.seq})
        except AuditWriteFailed as exc:
            return exc.response
        return response

    # Find by account

    def find_account_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist_url = reverse("admin:audit_auditevent_changelist")
        account_id = request.POST.get("account_id", "").strip()
        try:
            if not ACCOUNT_ID_PATTERN.fullmatch(account_id):
                # The rejected text is never stored: it may be a mistyped id.
                record_refused(
                    request,
                    READ,
                    "admin.audit.find_account",
                    {"length": len(account_id)},
                    "invalid_account_id",
                )
                messages.error(
                    request,
                    "The account id is invalid: enter an IBKR account id such as "
                    "U1234567 or DU1234567.",
                )
                return HttpResponseRedirect(changelist_url)
            try:
                key = correlation_key(get_runtime_config())
            except ConfigError as exc:
                logger.error("find by account failed: %s", exc)
                messages.error(
                    request,
                    "The correlation key is missing, so account ids cannot be "
                    "hashed; an operator should check the audit key settings.",
                )
                return HttpResponseRedirect(changelist_url)
            account_hash = correlation_hash(key, ACCOUNT, account_id)
            # The event stores only the hash of the account id it names.
            record(
                request,
                READ,
                "admin.audit.find_account",
                {"account_hash": account_hash},
                account_id=account_id,
            )
        except AuditWriteFailed as exc:
            return exc.response
        return HttpResponseRedirect(f"{changelist_url}?account_hash={account_hash}")

    # Verification

    def verify_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            if not self.has_verify_permission(request):
                record_denied(request, VERIFICATION, "admin.audit.verify", {})
                raise PermissionDenied
            run = VerificationRun.objects.create(
                requested_by=request.user.get_username(),
                requested_at=timezone.now(),
            )
            record(
                request,
                VERIFICATION,
                "admin.audit.verify",
                {"verification_run": run.pk},
            )
        except AuditWriteFailed as exc:
            return exc.response
        async_task(VERIFICATION_TASK, run.pk)
        logger.info(
            "verification run %s queued by %s", run.pk, request.user.get_username()
        )
        messages.info(request, "Verification queued.")
        return HttpResponseRedirect(reverse("admin:audit_auditevent_changelist"))

    # Export

    @admin.action(
        description="Export selected events as JSON Lines",
        permissions=["export"],
    )
    def export_jsonl(self, request, queryset):
        metadata = {"select_across": request.POST.get("select_across") == "1"}
        if metadata["select_across"]:
            metadata["filters"] = _filters(request)
        try:
            selected = sorted(
                int(pk) for pk in request.POST.getlist("_selected_action")
            )
        except ValueError:
            return self._refuse_export(
                request, metadata, "invalid_selection", "The selection is invalid."
            )
        metadata["selected"] = selected[:100]
        return self._export(request, queryset, metadata)

    def _refuse_export(self, request, metadata, error_code, message):
        """Record a refused export and go back to the list with ``message``."""
        try:
            record_refused(request, EXPORT, "admin.audit.export", metadata, error_code)
        except AuditWriteFailed as exc:
            return exc.response
        messages.error(request, f"Export rejected: {message}")
        return HttpResponseRedirect(reverse("admin:audit_auditevent_changelist"))

    def export_view(self, request):
        try:
            if not self.has_export_permission(request):
                record_denied(
                    request,
                    EXPORT,
                    "admin.audit.export",
                    {"filters": _filters(request)},
                )
                raise PermissionDenied
        except AuditWriteFailed as exc:
            return exc.response
        metadata = {"filters": _filters(request)}
        try:
            queryset = self.get_changelist_instance(request).queryset
        except (IncorrectLookupParameters, FieldError, ValidationError):
            return self._refuse_invalid_filter(request, metadata)
        return self._export(request, queryset, metadata)

    def _refuse_invalid_filter(self, request, metadata):
        return self._refuse_export(
            request,
            metadata,
            "invalid_filter",
            "a filter parameter is not known or invalid; export from the "
            "filtered list's own link.",
        )

    def _export(self, request, queryset, metadata):
        back = reverse("admin:audit_auditevent_changelist")
        operation = "admin.audit.export"
        metadata = {**metadata, "format": "jsonl"}
        try:
            sql = export_sql(queryset)
        except EmptyResultSet:
            return self._refuse_export(
                request, metadata, "no_events", "the filters match no events."
            )
        except (FieldError, ValidationError):
            return self._refuse_invalid_filter(request, metadata)
        try:
            reader = ExportReader(*sql)
        except AuditDatabaseError as exc:
            logger.error(
                "admin request %s: the audit log cannot be read: %s",
                getattr(request, "request_id", None),
                exc,
            )
            try:
                record(
                    request,
                    EXPORT,
                    operation,
                    metadata,
                    outcome=FAILED,
                    error_code="database_invalid",
                )
            except AuditWriteFailed as write_failure:
                return write_failure.response
            messages.error(request, "The audit log cannot be read; see the log.")
            return HttpResponseRedirect(back)

        try:
            scan = reader.scan()
        except ExportTooLarge:
            reader.close()
            try:
                record_refused(request, EXPORT, operation, metadata, "export_too_large")
            except AuditWriteFailed as exc:
                return exc.response
            messages.error(
                request,
                f"Export rejected: the selection has more than {MAX_EXPORT_ROWS} "
                "events. Narrow the filters, or use 'manage.py audit export'.",
            )
            return HttpResponseRedirect(back)
        except BaseException:
            reader.close()
            raise

        metadata.update(scan.summary())
        if scan.unsafe_count:
            reader.close()
            metadata["unsafe_count"] = scan.unsafe_count
            metadata["unsafe_rows"] = scan.unsafe_rows
            try:
                record_refused(request, EXPORT, operation, metadata, "unsafe_output")
            except AuditWriteFailed as exc:
                return exc.response
            rows = ", ".join(str(row["seq"]) for row in scan.unsafe_rows)
            messages.error(
                request,
                f"Export rejected: {scan.unsafe_count} event(s) look like they "
                f"contain secrets (seq {rows}). Nothing was exported; run "
                "'manage.py audit verify' and investigate those rows.",
            )
            return HttpResponseRedirect(back)

        try:
            record(request, EXPORT, operation, metadata)
        except AuditWriteFailed as exc:
            reader.close()
            return exc.response
        stream = ExportStream(reader, scan, getattr(request, "request_id", None))
        response = StreamingHttpResponse(stream, content_type=CONTENT_TYPE)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = (
            f'attachment; filename="audit-events-{stamp}.jsonl"'
        )
        response["X-Export-Count"] = str(scan.count)
        response["X-Export-SHA256"] = scan.sha256
        return response


@admin.register(ChainHead)
class ChainHeadAdmin(ReadOnlyAdmin):
    list_display = ("seq", "mac")

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        try:
            record(request, READ, "admin.audit.head", {"view": "list"})
        except AuditWriteFailed as exc:
            return exc.response
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        try:
            record(request, READ, "admin.audit.head", {"view": "detail"})
        except AuditWriteFailed as exc:
            return exc.response
        return response

    def history_view(self, request, object_id, extra_context=None):
        # The head row is never changed through the admin, so it has no
        # history to show.
        raise Http404("The chain head has no admin history.")
