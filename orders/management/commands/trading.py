"""``manage.py trading status | halt | resume | cancel-all``: the trading halt.

``halt`` and ``resume`` need an operator: with a runtime config, the
``[cli]`` principal needs ``operator = true``; development mode allows it.
Each of them appends one audit event (``trading_halted``,
``trading_resumed``, or ``trading_halt_denied`` for a non-operator).
``status`` only reads the state and records nothing.
"""

import json
from argparse import ArgumentTypeError
from datetime import UTC

from django.core.management.base import CommandError

from audit.arguments import non_empty
from audit.cli import (
    EXIT_SCOPE_DENIED,
    EXIT_UNEXPECTED,
    SubcommandCommand,
    UsageErrorParser,
)
from audit.errors import AuditUnavailable
from orders import trading_halt
from orders.cancel_all import cancel_all
from orders.models import MAX_REASON_LENGTH

EXIT_CODES_HELP = (
    "Exit codes: 0 success, 1 unexpected error, 4 the [cli] principal is not "
    "an operator, 7 configuration or database invalid, 64 usage error."
)


def reason_text(text):
    """Return the validated ``--reason``; argparse makes an error exit 64."""
    try:
        return trading_halt.validate_reason(text)
    except trading_halt.InvalidReason as exc:
        raise ArgumentTypeError(str(exc)) from None


def iso(value):
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Command(SubcommandCommand):
    help = (
        "Show, halt or resume trading. The state is kept in the gateway "
        "database, and a new installation starts halted. " + EXIT_CODES_HELP
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(
            dest="action",
            required=True,
            metavar="{status,halt,resume,cancel-all}",
            parser_class=UsageErrorParser,
        )
        status = actions.add_parser(
            "status",
            is_subcommand=True,
            help="Show whether trading is halted, why, and who changed it.",
            description="Show the trading halt state; records nothing. "
            + EXIT_CODES_HELP,
        )
        status.add_argument(
            "--json",
            action="store_true",
            help="Print machine-readable JSON on standard output.",
        )
        self._add_config(status)

        for action, summary in (
            ("halt", "Halt trading until an operator resumes it."),
            ("resume", "Resume trading after a halt."),
            ("cancel-all", "Cancel every working live order at the broker."),
        ):
            subparser = actions.add_parser(
                action,
                is_subcommand=True,
                help=summary,
                description=summary
                + " Needs an operator ([cli] operator = true). Repeating it "
                "is recorded as no change. " + EXIT_CODES_HELP,
            )
            subparser.add_argument(
                "--reason",
                type=reason_text,
                required=True,
                metavar="TEXT",
                help=f"Why you run {action}, stored in the audit log; 1 to "
                f"{MAX_REASON_LENGTH} characters on one line.",
            )
            subparser.add_argument(
                "--json",
                action="store_true",
                help="Print machine-readable JSON on standard output.",
            )
            self._add_config(subparser)

    def _add_config(self, parser):
        parser.add_argument(
            "--config",
            type=non_empty,
            metavar="PATH",
            help="Runtime config file (default: $IBKR_GATEWAY_CONFIG, else "
            "development mode).",
        )

    def handle(self, *args, **options):
        config = self.load_config(options["config"])
        self.require_runtime_database()
        action = options["action"]
        if action == "status":
            self._status(options)
            return
        actor = {"kind": "cli", "id": config.cli.actor_id}
        try:
            if not config.cli.operator:
                trading_halt.record_denied(
                    actor,
                    action,
                    scopes={"required": [], "granted": sorted(config.cli.scopes)},
                )
                raise CommandError(
                    f"{config.cli.actor_id} is not an operator, so it cannot "
                    f"{action} trading; set operator = true under [cli] in "
                    f"{config.source}.",
                    returncode=EXIT_SCOPE_DENIED,
                )
            if action == "cancel-all":
                results = cancel_all(actor, options["reason"])
                self._report_cancel_all(results, options["json"])
                return
            change = getattr(trading_halt, action)(actor, options["reason"])
        except AuditUnavailable as exc:
            raise CommandError(
                f"trading {action} stopped because it could not be recorded in the "
                f"audit log, so nothing changed: {exc}",
                returncode=EXIT_UNEXPECTED,
            ) from None
        self._report_change(action, change, options["json"])

    def _report_cancel_all(self, results, as_json):
        if as_json:
            self.stdout.write(json.dumps(results, sort_keys=True))
        else:
            for item in results["cancelled"]:
                self.stdout.write(f"{item['broker_order_id']} {item['status']}")
            self.stdout.write(
                f"Cancel requested for {len(results['cancelled'])} order(s); "
                f"{len(results['failed'])} failure(s)."
            )
        if results["failed"]:
            raise CommandError(
                "Some cancels failed; see the list and the gateway log, then "
                "run cancel-all again.",
                returncode=EXIT_UNEXPECTED,
            )

    def _status(self, options):
        state = trading_halt.current_state()
        body = {
            "halted": state.halted,
            "reason": state.reason,
            "changed_by": state.changed_by,
            "changed_at": iso(state.changed_at),
        }
        if options["json"]:
            self.stdout.write(json.dumps(body, sort_keys=True))
            return
        word = "halted" if state.halted else "running"
        self.stdout.write(
            f"Trading is {word} since {body['changed_at']}, set by "
            f"{state.changed_by}: {state.reason}"
        )

    def _report_change(self, action, change, as_json):
        word = "halted" if change.halted else "running"
        if as_json:
            body = {
                "action": action,
                "halted": change.halted,
                "changed": change.changed,
                "reason": change.reason,
                "changed_by": change.changed_by,
                "changed_at": iso(change.changed_at),
                "event_id": change.event_id,
            }
            self.stdout.write(json.dumps(body, sort_keys=True))
        elif change.changed:
            self.stdout.write(f"Trading is now {word}.")
        else:
            self.stdout.write(f"Trading was already {word}; nothing changed.")
