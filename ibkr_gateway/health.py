"""Health page for load balancers and people: is the database reachable."""

import logging

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@require_GET
def health(request):
    """Return 200 with the audit head ``seq`` when the database responds, else 503."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT seq FROM audit_chain_head WHERE id = 1")
            row = cursor.fetchone()
    except DatabaseError:
        logger.exception("Health check failed: database unavailable")
        return JsonResponse({"status": "unavailable", "database": "error"}, status=503)

    return JsonResponse(
        {"status": "ok", "database": "ok", "audit_head_seq": row[0] if row else None}
    )
