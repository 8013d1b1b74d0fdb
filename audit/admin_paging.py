"""Keyset paging of the audit event change list, with no COUNT(*).

A page is the ``list_per_page`` rows below a ``seq`` (``?before=N``, older)
or above one (``?after=N``, newer), read from the primary key or from an
index that ends in ``seq``. Paging cost therefore does not grow with the
size of the log, while Django's paginator would count the filtered rows on
every page.
"""

from django.contrib.admin.views.main import ChangeList
from django.db.models import Max

BEFORE = "before"
AFTER = "after"
KEYSET_PARAMETERS = (BEFORE, AFTER)


def _seq_parameter(request, name):
    value = request.GET.get(name)
    if value is None or not value.isascii() or not value.isdigit():
        return None
    return int(value)


class KeysetChangeList(ChangeList):
    """Change list that pages by ``seq`` and never counts the filtered rows."""

    def __init__(self, request, *args, **kwargs):
        self.before_seq = _seq_parameter(request, BEFORE)
        self.after_seq = _seq_parameter(request, AFTER)
        self.has_older = self.has_newer = False
        super().__init__(request, *args, **kwargs)

    def get_filters_params(self, params=None):
        lookup_params = super().get_filters_params(params)
        for name in KEYSET_PARAMETERS:
            lookup_params.pop(name, None)
        return lookup_params

    def get_query_string(self, new_params=None, remove=None):
        # Links to another filter or search start again at the newest page.
        remove = list(remove or [])
        remove += [name for name in KEYSET_PARAMETERS if name not in (new_params or {})]
        return super().get_query_string(new_params, remove)

    def get_ordering(self, request, queryset):
        # Keyset paging needs one total order; other orders would also sort
        # every matching row.
        return ["-seq"]

    def get_results(self, request):
        per_page = self.list_per_page
        queryset = self.queryset
        if self.after_seq is not None:
            rows = list(
                queryset.filter(seq__gt=self.after_seq).order_by("seq")[: per_page + 1]
            )
            self.has_newer = len(rows) > per_page
            rows = rows[:per_page]
            rows.reverse()
            oldest = rows[-1].seq if rows else self.after_seq + 1
            self.has_older = queryset.filter(seq__lt=oldest).exists()
        else:
            before = self.before_seq
            if before is None:
                # An explicit bound makes even the unfiltered first page a
                # range search on the primary key; MAX(seq) reads one entry.
                newest = self.root_queryset.aggregate(newest=Max("seq"))["newest"]
                before = (newest or 0) + 1
            else:
                self.has_newer = queryset.filter(seq__gte=before).exists()
            rows = list(queryset.filter(seq__lt=before)[: per_page + 1])
            self.has_older = len(rows) > per_page
            rows = rows[:per_page]

        self.result_list = rows
        self.result_count = len(rows)
        self.full_result_count = None
        self.show_full_result_count = False
        self.show_admin_actions = True
        self.can_show_all = False
        self.multi_page = self.has_older or self.has_newer
        self.paginator = None
        self.older_url = (
            self.get_query_string({BEFORE: rows[-1].seq})
            if self.has_older and rows
            else None
        )
        if self.has_older and not rows:
            self.older_url = self.get_query_string({BEFORE: self.after_seq + 1})
        self.newer_url = (
            self.get_query_string({AFTER: rows[0].seq})
            if self.has_newer and rows
            else None
        )
        if self.has_newer and not rows:
            self.newer_url = self.get_query_string({AFTER: self.before_seq - 1})
