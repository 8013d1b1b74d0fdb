"""``manage.py tokens create | list | revoke``: manage the REST API's bearer tokens.

An operator command: with a runtime config, the ``[cli]`` principal needs
``operator = true``; development mode allows it. Every run past argument
parsing appends one audit event (``token_created``, ``tokens_listed``,
``token_revoked``, or ``token_command_denied`` for a non-operator). Usage
errors, such as an unknown scope, owner or token id, exit 64 and record
nothing.
"""

import json
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.utils import timezone

from api.models import ApiToken
from api.token_arguments import (
    DEFAULT_EXPIRY_DAYS,
    MAX_EXPIRY_DAYS,
    expiry_days,
    scope_name,
    token_id,
    token_name,
)
from api.token_operations import Operator, describe, iso
from audit.arguments import non_empty
from audit.cli import (
    EXIT_SCOPE_DENIED,
    EXIT_UNEXPECTED,
    EXIT_USAGE,
    SubcommandCommand,
    UsageErrorParser,
)
from audit.errors import AuditUnavailable
from ibkr_gateway.scopes import ALL_SCOPES

EXIT_CODES_HELP = (
    "Exit codes: 0 success, 1 unexpected error, 4 the [cli] principal is not "
    "an operator, 7 configuration or database invalid, 64 usage error."
)


class Command(SubcommandCommand):
    help = (
        "Create, list and revoke bearer tokens of the REST API. The secret is "
        "printed once, at creation; only its keyed hash is stored. " + EXIT_CODES_HELP
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(
            dest="action",
            required=True,
            metavar="{create,list,revoke}",
            parser_class=UsageErrorParser,
        )
        create = actions.add_parser(
            "create",
            is_subcommand=True,
            help="Create a token and print its secret once.",
            description="Create a token and print it once; store it at once, "
            "because it cannot be shown again. " + EXIT_CODES_HELP,
        )
        create.add_argument(
            "--name",
            type=token_name,
            required=True,
            help="Label of the token, such as the client that uses it.",
        )
        create.add_argument(
            "--scope",
            type=scope_name,
            action="append",
            required=True,
            dest="scopes",
            metavar="SCOPE",
            help="Scope the token grants; repeat for each. One of: "
            + ", ".join(sorted(ALL_SCOPES))
            + ".",
        )
        create.add_argument(
            "--owner",
            type=non_empty,
            metavar="USERNAME",
            help="Existing Django user that owns the token (default: a user named "
            "after the [cli] principal, such as 'dev' in development mode, created "
            "without a usable password if it does not exist).",
        )
        create.add_argument(
            "--expires-in",
            type=expiry_days,
            default=DEFAULT_EXPIRY_DAYS,
            metavar="DAYS",
            help=f"Days until the token expires, 1 to {MAX_EXPIRY_DAYS} "
            f"(default: {DEFAULT_EXPIRY_DAYS}).",
        )
        self._add_common(create)

        listing = actions.add_parser(
            "list",
            is_subcommand=True,
            help="List tokens without their secrets.",
            description="List every token with its state; secrets are never shown. "
            + EXIT_CODES_HELP,
        )
        self._add_common(listing)

        revoke = actions.add_parser(
            "revoke",
            is_subcommand=True,
            help="Revoke a token by id.",
            description="Revoke a token at once; revoking it again changes nothing. "
            + EXIT_CODES_HELP,
        )
        revoke.add_argument(
            "id", type=token_id, help="Id of the token, as tokens list shows it."
        )
        self._add_common(revoke)

    def _add_common(self, parser):
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print machine-readable JSON on standard output.",
        )
        parser.add_argument(
            "--config",
            type=non_empty,
            metavar="PATH",
            help="Runtime config file (default: $IBKR_GATEWAY_CONFIG, else "
            "development mode).",
        )

    def handle(self, *args, **options):
        operator = Operator(self.load_config(options["config"]))
        self.require_runtime_database()
        action = options["action"]
        try:
            if not operator.config.cli.operator:
                operator.deny(action)
                raise CommandError(
                    f"{operator.config.cli.actor_id} is not an operator, so it cannot "
                    f"manage API tokens; set operator = true under [cli] in "
                    f"{operator.config.source}.",
                    returncode=EXIT_SCOPE_DENIED,
                )
            getattr(self, f"_{action}")(operator, options)
        except AuditUnavailable as exc:
            raise CommandError(
                f"tokens {action} stopped because it could not be recorded in the "
                f"audit log, so nothing changed: {exc}",
                returncode=EXIT_UNEXPECTED,
            ) from None

    def _owner(self, operator, username):
        if username is None:
            return operator.default_owner()
        user_model = get_user_model()
        try:
            return user_model.objects.get(
                **{user_model.USERNAME_FIELD: username}
            ), False
        except user_model.DoesNotExist:
            raise CommandError(
                f"--owner {username!r} is not a Django user; create it first with "
                "'manage.py createsuperuser', or leave --owner out.",
                returncode=EXIT_USAGE,
            ) from None

    def _create(self, operator, options):
        owner, owner_created = self._owner(operator, options["owner"])
        token, token_string = operator.create(
            owner=owner,
            name=options["name"],
            scopes=options["scopes"],
            expires_in=timedelta(days=options["expires_in"]),
            owner_created=owner_created,
        )
        if options["json"]:
            body = {"token": token_string, **describe(token)}
            self.stdout.write(json.dumps(body, sort_keys=True))
            return
        self.stdout.write(
            f"Created API token {token.pk} {token.name!r} for user "
            f"{owner.get_username()} with scopes {', '.join(sorted(token.scopes))}, "
            f"expiring {iso(token.expires_at)}.\n"
            "Store this token now; it cannot be shown again:\n"
            f"{token_string}"
        )

    def _list(self, operator, options):
        tokens = operator.list()
        now = timezone.now()
        rows = [describe(token, now) for token in tokens]
        if options["json"]:
            self.stdout.write(json.dumps({"tokens": rows}, sort_keys=True))
            return
        if not rows:
            self.stdout.write("No API tokens.")
            return
        for row in rows:
            self.stdout.write(
                f"{row['id']:>6}  {row['state']:<8}  {row['name']!r}  owner "
                f"{row['owner']}  expires {row['expires_at'] or 'never'}  last used "
                f"{row['last_used_at'] or 'never'}  scopes {','.join(row['scopes'])}"
            )

    def _revoke(self, operator, options):
        try:
            token, already_revoked = operator.revoke(options["id"])
        except ApiToken.DoesNotExist:
            raise CommandError(
                f"API token {options['id']} does not exist; see 'manage.py tokens "
                "list'.",
                returncode=EXIT_USAGE,
            ) from None
        if options["json"]:
            body = {
                "id": token.pk,
                "revoked_at": iso(token.revoked_at),
                "already_revoked": already_revoked,
            }
            self.stdout.write(json.dumps(body, sort_keys=True))
        elif already_revoked:
            self.stdout.write(
                f"API token {token.pk} {token.name!r} was already revoked at "
                f"{iso(token.revoked_at)}; nothing changed."
            )
        else:
            self.stdout.write(f"Revoked API token {token.pk} {token.name!r}.")
