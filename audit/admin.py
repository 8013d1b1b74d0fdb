"""Read-only admin pages over the audit log."""

from django.contrib import admin

from audit.models import AuditEvent, ChainHead


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


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = (
        "seq",
        "occurred_at",
        "event_type",
        "operation",
        "actor",
        "decision",
        "outcome",
        "error_code",
        "request_id",
    )
    list_filter = ("decision", "outcome")
    # A full-table COUNT(*) grows with the log; the page count is not worth it.
    show_full_result_count = False
    list_per_page = 50


@admin.register(ChainHead)
class ChainHeadAdmin(ReadOnlyAdmin):
    list_display = ("seq", "mac")
