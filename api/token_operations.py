"""Create, list and revoke API tokens, each with its audit event.

Creation and revocation write the row and the event in one transaction, so
a token never exists or stops working without a record of it. The event
stores the token id only as its correlation hash and never the secret.
"""

from datetime import UTC

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

import audit
from api.credentials import format_token, hash_secret, new_secret
from api.models import ApiToken, validate_scopes
from audit.envelope import ALLOW, COMPLETED, DENIED, DENY


def iso(value):
    """Return ``value`` as an RFC 3339 UTC string, or None."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(token, now=None):
    """Return the JSON-ready description of ``token``, without any secret."""
    return {
        "id": token.pk,
        "name": token.name,
        "owner": token.owner.get_username(),
        "scopes": sorted(token.scopes),
        "state": token.state(now),
        "created_at": iso(token.created_at),
        "expires_at": iso(token.expires_at),
        "revoked_at": iso(token.revoked_at),
        "last_used_at": iso(token.last_used_at),
    }


class Operator:
    """The ``[cli]`` principal that runs a token command, as audit events name it."""

    def __init__(self, config):
        self.config = config
        self.actor = {"kind": "cli", "id": config.cli.actor_id}
        self.scopes = {"required": [], "granted": sorted(config.cli.scopes)}

    def log(self, event_type, operation, **fields):
        fields.setdefault("decision", ALLOW)
        fields.setdefault("outcome", COMPLETED)
        return audit.log_event(
            event_type,
            operation=operation,
            actor=self.actor,
            scopes=self.scopes,
            **fields,
        )

    def deny(self, action):
        """Record that this principal may not run ``tokens action``."""
        self.log(
            "token_command_denied",
            f"tokens.{action}",
            decision=DENY,
            outcome=DENIED,
            error_code="operator_required",
            metadata={"action": action},
        )

    def default_owner(self):
        """Return the user named after the ``[cli]`` principal, created if missing.

        A created user has no usable password, so it cannot sign in to the
        admin; it only owns tokens.
        """
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            **{user_model.USERNAME_FIELD: self.config.cli.principal}
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        return user, created

    def create(self, *, owner, name, scopes, expires_in, owner_created=False):
        """Create a token; return ``(token, token_string)``.

        ``expires_in`` is a ``timedelta`` from now. The returned string is
        the only copy of the secret.
        """
        scopes = sorted(set(scopes))
        validate_scopes(scopes)
        secret = new_secret()
        now = timezone.now()
        expires_at = now + expires_in
        with transaction.atomic():
            token = ApiToken.objects.create(
                owner=owner,
                name=name,
                scopes=scopes,
                secret_hash=hash_secret(secret),
                created_at=now,
                expires_at=expires_at,
            )
            self.log(
                "token_created",
                "tokens.create",
                token_id=token.pk,
                metadata={
                    "name": name,
                    "owner": owner.get_username(),
                    "owner_created": owner_created,
                    "scopes": scopes,
                    "expires_at": iso(expires_at),
                },
            )
        return token, format_token(token.pk, secret)

    def list(self):
        tokens = list(ApiToken.objects.select_related("owner").order_by("id"))
        self.log("tokens_listed", "tokens.list", metadata={"count": len(tokens)})
        return tokens

    def revoke(self, token_id):
        """Revoke token ``token_id``; return ``(token, already_revoked)``.

        Raises ``ApiToken.DoesNotExist`` for an unknown id. Revoking a
        revoked token changes nothing but is recorded all the same.
        """
        with transaction.atomic():
            token = ApiToken.objects.select_related("owner").get(pk=token_id)
            already_revoked = token.revoked_at is not None
            if not already_revoked:
                token.revoked_at = timezone.now()
                token.save(update_fields=["revoked_at"])
            self.log(
                "token_revoked",
                "tokens.revoke",
                token_id=token.pk,
                metadata={"name": token.name, "already_revoked": already_revoked},
            )
        return token, already_revoked
