"""Shared steps of ``manage.py audit``: exit codes, the scope gate, self-audit.

Every subcommand runs as the ``[cli]`` principal, needs ``ibkr:audit:read``
when a runtime config is in use, and appends one event describing its own
run (the read, the export or the verification) to the runtime log.
"""

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

import audit
from audit.envelope import ALLOW, COMPLETED, DENIED, DENY, FAILED, REFUSE, REFUSED
from audit.keys import check_keys
from audit.reader import AuditDatabaseError, runtime_database_path
from ibkr_gateway.runtime_config import (
    ConfigError,
    get_runtime_config,
    load_runtime_config,
    set_runtime_config,
)
from ibkr_gateway.scopes import AUDIT_READ

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_CHAIN_BROKEN = 2
EXIT_TRIGGERS_MISSING = 3
EXIT_SCOPE_DENIED = 4
EXIT_UNSAFE_OUTPUT = 6
EXIT_INVALID = 7
EXIT_USAGE = 64

EXIT_CODES_HELP = (
    "Exit codes: 0 success, 1 unexpected error, 2 chain broken, 3 append-only "
    "triggers missing, 4 scope denied, 6 unsafe output refused, 7 "
    "configuration or database invalid, 64 usage error."
)


class UsageErrorParser(CommandParser):
    """Argument parser that exits 64 on a usage error.

    argparse exits 2, which ``audit verify`` uses for a broken chain. A
    subcommand's parser also rejects options it does not know itself, so the
    error shows that subcommand's usage rather than the parent's.
    """

    is_subcommand = False

    def __init__(self, *args, is_subcommand=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.is_subcommand = is_subcommand

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and self.is_subcommand:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras

    def error(self, message):
        if not self.called_from_command_line:
            raise CommandError(f"Error: {message}", returncode=EXIT_USAGE)
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


class SubcommandCommand(BaseCommand):
    """Base of management commands with subcommands and exit 64 on misuse.

    ``add_arguments`` must create its subparsers with
    ``parser_class=UsageErrorParser`` and ``is_subcommand=True``.
    """

    requires_system_checks = []

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # BaseCommand builds a plain CommandParser; this makes the top level
        # exit 64 on a usage error too.
        parser.__class__ = UsageErrorParser
        return parser

    def load_config(self, path):
        """Return the runtime config from ``--config`` or the environment.

        A config or key error becomes ``CommandError`` with exit 7.
        """
        try:
            if path is not None:
                config = load_runtime_config(path)
                set_runtime_config(config)
            else:
                config = get_runtime_config()
            check_keys(config)
        except ConfigError as exc:
            raise CommandError(str(exc), returncode=exc.exit_code) from None
        return config

    def require_runtime_database(self):
        """Return the gateway's database file, which records the command.

        A missing file is an error (exit 7) instead of being opened, because
        opening it through Django would create an empty file.
        """
        try:
            path = runtime_database_path()
        except AuditDatabaseError as exc:
            raise CommandError(str(exc), returncode=EXIT_INVALID) from None
        if not path.is_file():
            raise CommandError(
                f"the gateway database {path} does not exist, so this command "
                "cannot record itself in the audit log. Run 'python manage.py "
                "migrate', or fix DATABASE_URL (an absolute path takes four "
                "slashes: sqlite:////srv/gateway/gateway.sqlite3).",
                returncode=EXIT_INVALID,
            )
        return path


class AuditRun:
    """One run of an ``audit`` subcommand as the ``[cli]`` principal."""

    def __init__(self, config, operation, event_type):
        self.config = config
        self.operation = operation
        self.event_type = event_type
        self.required_scopes = [AUDIT_READ]

    @property
    def actor(self):
        return {"kind": "cli", "id": self.config.cli.actor_id}

    @property
    def scopes(self):
        return {
            "required": self.required_scopes,
            "granted": sorted(self.config.cli.scopes),
        }

    def check_scope(self, metadata):
        """Raise ``CommandError`` (exit 4) after auditing a missing scope."""
        if AUDIT_READ in self.config.cli.scopes:
            return
        audit.log_event(
            "scope_denied",
            operation=self.operation,
            actor=self.actor,
            decision=DENY,
            outcome=DENIED,
            error_code="scope_denied",
            scopes=self.scopes,
            metadata=metadata,
        )
        raise CommandError(
            f"{self.config.cli.actor_id} lacks the scope {AUDIT_READ}; add it to "
            f"scopes under [cli] in {self.config.source}.",
            returncode=EXIT_SCOPE_DENIED,
        )

    def completed(self, metadata, output=None):
        return audit.log_event(
            self.event_type,
            operation=self.operation,
            actor=self.actor,
            decision=ALLOW,
            outcome=COMPLETED,
            scopes=self.scopes,
            output=output,
            metadata=metadata,
        )

    def refused(self, error_code, metadata):
        return audit.log_event(
            self.event_type,
            operation=self.operation,
            actor=self.actor,
            decision=REFUSE,
            outcome=REFUSED,
            error_code=error_code,
            scopes=self.scopes,
            metadata=metadata,
        )

    def failed(self, error_code, metadata):
        return audit.log_event(
            self.event_type,
            operation=self.operation,
            actor=self.actor,
            decision=ALLOW,
            outcome=FAILED,
            error_code=error_code,
            scopes=self.scopes,
            metadata=metadata,
        )
