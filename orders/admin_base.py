"""Shared parts of the order admin: a read-only base and the signed-in principal."""

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.core.exceptions import ValidationError
from django.db.models import Q

from orders.principal import Principal


def user_actor(user):
    """Return the audit actor of a signed-in Django user, as sign-in events name it."""
    return {"kind": "user", "id": f"user:{user.get_username()}"}


def user_principal(request, scopes=()):
    """Return the ``Principal`` of the admin user of ``request`` with ``scopes``.

    ``person`` equals ``id``, the form a token owner's ``person`` takes, so
    four-eyes compares the admin user and that user's tokens as one person.
    """
    actor = user_actor(request.user)
    return Principal(
        kind=actor["kind"],
        id=actor["id"],
        person=actor["id"],
        scopes=frozenset(scopes),
        operator=False,
        request_id=getattr(request, "request_id", None),
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    """Admin that lists and shows rows but never adds, changes or deletes them.

    ``search_fields`` name id fields that the search box matches exactly,
    never with ``icontains``, so a search uses the field's index where it
    has one and a partial id finds nothing.
    """

    actions = None
    # Order tables grow with trading, so the "N total" link is not worth a
    # second COUNT(*) over the whole table on every page load.
    show_full_result_count = False
    list_per_page = 50

    def has_add_permission(self, request, obj=None):
        # Rows are written only by the order workflows, with their audit events.
        return False

    def has_change_permission(self, request, obj=None):
        # An edit here would bypass the workflow and leave no audit event.
        return False

    def has_delete_permission(self, request, obj=None):
        # Deleting would erase the record that the audit events refer to.
        return False

    def get_search_results(self, request, queryset, search_term):
        """Filter ``queryset`` to rows where any search field equals the term."""
        term = search_term.strip()
        if not term or not self.search_fields:
            return queryset, False
        matches = Q()
        for path in self.search_fields:
            field = get_fields_from_path(self.model, path)[-1]
            try:
                value = field.to_python(term)
            except ValidationError:
                # A term that is not a valid value of this field (say, not
                # a UUID) cannot equal it.
                continue
            matches |= Q(**{path: value})
        if not matches:
            return queryset.none(), False
        # The search fields of the order admins are local fields or follow
        # a foreign key forward, so the filter cannot repeat rows.
        return queryset.filter(matches), False
