"""``Principal``: who is asking, in the one identity form the audit log uses.

The REST API builds it from a bearer token, the ``orders`` command from the
``[cli]`` section. ``person`` is what four-eyes compares: the user that owns
a token, and for the CLI the user named after the ``[cli]`` principal.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    """An authenticated caller with its scopes; ``actor`` goes into events."""

    kind: str
    id: str
    person: str
    scopes: frozenset = field(default_factory=frozenset)
    operator: bool = False
    token_id: int | None = None
    request_id: str | None = None

    @property
    def actor(self):
        return {"kind": self.kind, "id": self.id}

    def has_scope(self, scope):
        return scope in self.scopes

    @classmethod
    def for_token(cls, token, request_id=None):
        owner = getattr(token, "owner", None)
        person = f"user:{owner.get_username()}" if owner is not None else None
        return cls(
            kind="token",
            id=f"token:{token.pk}",
            person=person or f"token:{token.pk}",
            scopes=frozenset(token.scopes),
            operator=False,
            token_id=token.pk,
            request_id=request_id,
        )

    @classmethod
    def for_cli(cls, cli_settings):
        # Tokens created without --owner belong to the user named after the
        # [cli] principal, so both count as that one person for four-eyes.
        return cls(
            kind="cli",
            id=cli_settings.actor_id,
            person=f"user:{cli_settings.principal}",
            scopes=frozenset(cli_settings.scopes),
            operator=cli_settings.operator,
        )
