"""``ApiToken``: a named bearer credential of a Django user, with its scopes.

The row never contains the secret, only its keyed hash (see ``api.credentials``).
A token is active while it is neither revoked nor past ``expires_at``.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from ibkr_gateway.scopes import ALL_SCOPES

ACTIVE = "active"
REVOKED = "revoked"
EXPIRED = "expired"


def validate_scopes(value):
    """Raise ``ValidationError`` unless ``value`` is a non-empty list of scopes."""
    if not isinstance(value, list) or not value:
        raise ValidationError("Scopes must be a non-empty list of scope strings.")
    unknown = sorted(str(scope) for scope in value if scope not in ALL_SCOPES)
    if unknown:
        raise ValidationError(
            f"Unknown scope(s) {', '.join(unknown)}; use scopes from "
            f"{', '.join(sorted(ALL_SCOPES))}."
        )


class ApiToken(models.Model):
    """A bearer token of the REST API, identified by its id."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name="owner",
        help_text="Django user the token belongs to. A deactivated owner "
        "disables the token; deleting the owner deletes it.",
    )
    name = models.CharField(
        "name",
        max_length=100,
        help_text="Label for people, such as the client that uses the token.",
    )
    scopes = models.JSONField(
        "scopes",
        default=list,
        validators=[validate_scopes],
        help_text="Scope strings the token grants, such as ibkr:accounts:read. "
        "No scope implies another.",
    )
    secret_hash = models.CharField(
        "secret hash",
        max_length=64,
        editable=False,
        help_text="HMAC-SHA256 of the secret under a key derived from "
        "SECRET_KEY. The secret itself is never stored.",
    )
    created_at = models.DateTimeField(
        "created at",
        default=timezone.now,
        editable=False,
        help_text="Time the token was created.",
    )
    expires_at = models.DateTimeField(
        "expires at",
        null=True,
        blank=True,
        help_text="Time from which the token is rejected; empty means never.",
    )
    revoked_at = models.DateTimeField(
        "revoked at",
        null=True,
        blank=True,
        help_text="Time the token was revoked; empty while it is not revoked.",
    )
    last_used_at = models.DateTimeField(
        "last used at",
        null=True,
        blank=True,
        help_text="Time of an authenticated request with this token, updated "
        "at most once a minute.",
    )

    class Meta:
        verbose_name = "API token"
        verbose_name_plural = "API tokens"
        ordering = ["id"]

    def __str__(self):
        return f"token:{self.pk} ({self.name})"

    def state(self, now=None):
        """Return ``"active"``, ``"revoked"`` or ``"expired"`` at ``now``."""
        now = now or timezone.now()
        if self.revoked_at is not None:
            return REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return EXPIRED
        return ACTIVE
