"""``manage.py reconcile``: reconcile orders with the broker without the cluster.

``--once`` runs one pass and ``--loop`` keeps running passes at the
configured interval, for operators who run without django-q2.
``--rebuild`` only resolves unknown outcomes and rebuilds the live backlog;
``--report`` lists what needs a person and changes nothing. Every option
but ``--report`` needs an operator.
"""

import json
import logging
import time

from django.core.management.base import CommandError

import audit
from audit.arguments import non_empty
from audit.cli import EXIT_SCOPE_DENIED, EXIT_UNEXPECTED, SubcommandCommand
from audit.envelope import DENIED, DENY
from audit.errors import AuditUnavailable
from orders import reconcile, recovery
from orders.principal import Principal

logger = logging.getLogger(__name__)

EXIT_CODES_HELP = (
    "Exit codes: 0 success, 1 unexpected error or audit log unavailable, 4 "
    "the [cli] principal is not an operator, 7 configuration or database "
    "invalid, 64 usage error."
)


def positive_int(text):
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


class Command(SubcommandCommand):
    help = (
        "Reconcile live and paper orders with the broker: one pass, a loop, a "
        "backlog rebuild, or a report of orders that need a person. " + EXIT_CODES_HELP
    )

    def add_arguments(self, parser):
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument(
            "--once", action="store_true", help="Run one pass and print its report."
        )
        what.add_argument(
            "--loop",
            action="store_true",
            help="Run passes every live_trading.reconciler_interval_seconds until "
            "stopped with Ctrl-C (or --passes).",
        )
        what.add_argument(
            "--rebuild",
            action="store_true",
            help="Only resolve unknown outcomes by cOID and rebuild the live "
            "backlog from completed requests.",
        )
        what.add_argument(
            "--report",
            action="store_true",
            help="List orders not found for several passes, held orders, unknown "
            "statuses, unknown outcomes and outages; changes nothing.",
        )
        parser.add_argument(
            "--passes",
            type=positive_int,
            metavar="N",
            help="With --loop, stop after N passes (default: run until stopped).",
        )
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
        config = self.load_config(options["config"])
        self.require_runtime_database()
        principal = Principal.for_cli(config.cli)
        if options["report"]:
            self._print(reconcile.trouble_report(), options["json"])
            return
        self._require_operator(principal, config)
        actor = principal.actor
        try:
            if options["once"]:
                self._print(reconcile.run_pass(actor=actor), options["json"])
            elif options["rebuild"]:
                self._print(self._rebuild(principal), options["json"])
            else:
                self._loop(actor, options["passes"], options["json"])
        except AuditUnavailable as exc:
            raise CommandError(
                f"reconcile stopped because the audit log cannot be written: {exc}",
                returncode=EXIT_UNEXPECTED,
            ) from None

    def _require_operator(self, principal, config):
        if principal.operator:
            return
        audit.log_event(
            "operator_required",
            operation="reconcile.run",
            actor=principal.actor,
            decision=DENY,
            outcome=DENIED,
            error_code="operator_required",
            scopes={"required": [], "granted": sorted(principal.scopes)},
        )
        raise CommandError(
            f"{principal.id} is not an operator; set operator = true under [cli] "
            f"in {config.source}.",
            returncode=EXIT_SCOPE_DENIED,
        )

    def _rebuild(self, principal):
        recovered = recovery.recover_outcomes(principal)
        return {
            "recovered": [item.result for item in recovered],
            "rebuilt": reconcile.rebuild_backlog(),
        }

    def _loop(self, actor, passes, as_json):
        done = 0
        logger.info("reconcile --loop started")
        try:
            while passes is None or done < passes:
                self._print(reconcile.run_pass(actor=actor), as_json)
                done += 1
                if passes is not None and done >= passes:
                    break
                time.sleep(reconcile.delay_seconds())
        except KeyboardInterrupt:
            pass
        logger.info("reconcile --loop stopped after %d pass(es)", done)

    def _print(self, report, as_json):
        if as_json:
            self.stdout.write(json.dumps(report, sort_keys=True))
            return
        for key, value in report.items():
            self.stdout.write(f"{key}: {json.dumps(value, sort_keys=True)}")
