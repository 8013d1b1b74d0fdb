"""``manage.py orders``: the order workflows of the REST API at the command line.

Every subcommand runs as the ``[cli]`` principal with its scopes, through the
same workflow functions, gates and server-side counters as the API.
``approve``, ``resolve`` and ``recover`` are operator commands.
"""

import json
from argparse import ArgumentTypeError

from django.core.management.base import CommandError

import audit
from audit.arguments import non_empty
from audit.cli import (
    EXIT_SCOPE_DENIED,
    EXIT_UNEXPECTED,
    SubcommandCommand,
    UsageErrorParser,
)
from audit.envelope import DENIED, DENY
from audit.errors import AuditUnavailable
from ibkr_gateway import scopes
from ibkr_gateway.broker.errors import BrokerError
from orders import approvals, cancel, modify, previews, recovery, submit
from orders.errors import OrderError
from orders.principal import Principal

EXIT_REFUSED = 5
EXIT_CODES_HELP = (
    "Exit codes: 0 success, 1 unexpected error or audit log unavailable, 4 "
    "scope or operator rights missing, 5 refused or failed (the message "
    "gives the code), 7 configuration or database invalid, 64 usage error."
)
OPERATOR_ACTIONS = ("approve", "resolve", "recover")
SCOPE_OF = {
    "preview": lambda options: scopes.ORDERS_PREVIEW,
    "submit": lambda options: submit.SUBMIT_SCOPES[options["mode"]],
    "modify": lambda options: modify.MODIFY_SCOPES[options["mode"]],
    "cancel": lambda options: cancel.CANCEL_SCOPES[options["mode"]],
    "unresolved": lambda options: scopes.ORDERS_READ,
}


def json_object(text):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArgumentTypeError(f"not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ArgumentTypeError('must be a JSON object, such as \'{"why": "..."}\'')
    return value


class Command(SubcommandCommand):
    help = (
        "Preview, approve, submit, modify, cancel and resolve orders as the "
        "[cli] principal, through the same gates as the REST API. " + EXIT_CODES_HELP
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(
            dest="action",
            required=True,
            metavar="{preview,approve,submit,modify,cancel,resolve,recover,unresolved}",
            parser_class=UsageErrorParser,
        )
        preview = self._subparser(
            actions, "preview", "Check an order against the risk policy."
        )
        self._order_arguments(preview)

        approve = self._subparser(
            actions, "approve", "Approve a preview for one account (operator)."
        )
        approve.add_argument("preview_id", metavar="PREVIEW_ID", help="Preview id.")
        approve.add_argument(
            "--account", required=True, help="Account id the preview is for."
        )
        approve.add_argument(
            "--reason", default="", help="Why the order is approved (default: none)."
        )

        place = self._subparser(
            actions, "submit", "Place a previewed and approved order."
        )
        self._write_arguments(place)
        self._order_arguments(place)
        self._approval_arguments(place)

        modify = self._subparser(
            actions, "modify", "Change a working order (new preview and approval)."
        )
        modify.add_argument("broker_order_id", metavar="BROKER_ORDER_ID")
        self._write_arguments(modify)
        self._order_arguments(modify)
        self._approval_arguments(modify)

        cancel_parser = self._subparser(
            actions, "cancel", "Cancel an order; never blocked by a halt."
        )
        cancel_parser.add_argument("broker_order_id", metavar="BROKER_ORDER_ID")
        self._write_arguments(cancel_parser)
        cancel_parser.add_argument("--account", required=True, help="Account id.")

        resolve = self._subparser(
            actions,
            "resolve",
            "Record what the broker did with a request whose outcome is "
            "unknown (operator).",
        )
        resolve.add_argument("coid", metavar="COID", help="cOID of the request.")
        outcome = resolve.add_mutually_exclusive_group(required=True)
        outcome.add_argument(
            "--as-placed",
            metavar="BROKER_ORDER_ID",
            help="The broker placed (or changed) the order under this id.",
        )
        outcome.add_argument(
            "--as-not-placed",
            action="store_true",
            help="The broker did nothing; the approval is released.",
        )
        resolve.add_argument(
            "--reason", type=non_empty, required=True, help="How this was established."
        )
        resolve.add_argument(
            "--record",
            type=int,
            metavar="ID",
            help="Idempotency record id, when several unresolved requests share "
            "the cOID (default: the only one).",
        )

        self._subparser(
            actions,
            "recover",
            "Look every unknown-outcome submit up at the broker by cOID (operator).",
        )
        self._subparser(
            actions, "unresolved", "List requests whose broker outcome is unknown."
        )

    def _subparser(self, actions, name, summary):
        parser = actions.add_parser(
            name,
            is_subcommand=True,
            help=summary,
            description=f"{summary} {EXIT_CODES_HELP}",
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
        return parser

    def _order_arguments(self, parser):
        parser.add_argument("--account", required=True, help="Account id.")
        parser.add_argument("--symbol", required=True, help="Symbol, such as AAPL.")
        parser.add_argument(
            "--side", required=True, choices=["BUY", "SELL"], help="Order side."
        )
        parser.add_argument("--quantity", required=True, help="Whole number of shares.")
        parser.add_argument(
            "--type",
            dest="order_type",
            required=True,
            choices=["LMT", "MKT", "STP"],
            help="Order type.",
        )
        parser.add_argument(
            "--limit-price", help="Limit (or stop) price as a decimal, such as 190.25."
        )
        parser.add_argument(
            "--tif", default="DAY", choices=["DAY", "GTC"], help="Default DAY."
        )
        parser.add_argument(
            "--take-profit", help="Bracket take-profit price (with --stop-loss)."
        )
        parser.add_argument(
            "--stop-loss", help="Bracket stop-loss price (with --take-profit)."
        )
        parser.add_argument(
            "--context",
            type=json_object,
            help="client_context as a JSON object, at most 8 KiB (default: none).",
        )

    def _write_arguments(self, parser):
        parser.add_argument(
            "--mode", required=True, choices=["paper", "live"], help="Trading mode."
        )
        parser.add_argument(
            "--idempotency-key",
            required=True,
            help="Unique per request; reuse it only to retry the same request.",
        )

    def _approval_arguments(self, parser):
        parser.add_argument("--preview-id", required=True, help="Preview id.")
        parser.add_argument("--approval-id", required=True, help="Approval id.")

    def handle(self, *args, **options):
        config = self.load_config(options["config"])
        self.require_runtime_database()
        action = options["action"]
        principal = Principal.for_cli(config.cli)
        self._check_rights(principal, action, options, config)
        try:
            result = getattr(self, f"_{action}")(principal, options)
        except OrderError as error:
            raise CommandError(
                f"{error.code}: {error.message}", returncode=EXIT_REFUSED
            ) from None
        except BrokerError as error:
            raise CommandError(
                f"{error.code}: {error.message}", returncode=EXIT_REFUSED
            ) from None
        except AuditUnavailable as exc:
            raise CommandError(
                f"orders {action} stopped because the audit log cannot be "
                f"written, so nothing was sent to the broker: {exc}",
                returncode=EXIT_UNEXPECTED,
            ) from None
        self._print(result, options["json"])

    def _check_rights(self, principal, action, options, config):
        if action in OPERATOR_ACTIONS:
            if principal.operator:
                return
            required, missing = [], "operator rights"
            fix = "set operator = true under [cli]"
        else:
            scope = SCOPE_OF[action](options)
            if principal.has_scope(scope):
                return
            required, missing = [scope], f"the scope {scope}"
            fix = "add it to scopes under [cli]"
        audit.log_event(
            "scope_denied" if required else "operator_required",
            operation=f"orders.{action}",
            actor=principal.actor,
            decision=DENY,
            outcome=DENIED,
            error_code="scope_denied" if required else "operator_required",
            scopes={"required": required, "granted": sorted(principal.scopes)},
        )
        raise CommandError(
            f"{principal.id} lacks {missing}; {fix} in {config.source}.",
            returncode=EXIT_SCOPE_DENIED,
        )

    def _order_data(self, options):
        data = {
            "account_id": options["account"],
            "symbol": options["symbol"],
            "side": options["side"],
            "quantity": options["quantity"],
            "order_type": options["order_type"],
            "tif": options["tif"],
        }
        optional = (
            ("limit_price", "limit_price"),
            ("take_profit", "take_profit_price"),
            ("stop_loss", "stop_loss_price"),
            ("context", "client_context"),
        )
        for option, field in optional:
            if options.get(option) is not None:
                data[field] = options[option]
        return data

    def _preview(self, principal, options):
        data = self._order_data(options)
        bracket = "take_profit_price" in data or "stop_loss_price" in data
        preview = previews.create_preview(principal, data, bracket=bracket)
        return 201, previews.preview_view(preview)

    def _approve(self, principal, options):
        data = {
            "preview_id": options["preview_id"],
            "account_id": options["account"],
            "reason": options["reason"],
        }
        approval = approvals.grant(principal, data)
        return 201, approvals.approval_view(approval)

    def _submit(self, principal, options):
        data = self._order_data(options)
        data["preview_id"] = options["preview_id"]
        data["approval_id"] = options["approval_id"]
        outcome = submit.submit(
            principal, options["mode"], data, options["idempotency_key"]
        )
        return outcome.status, outcome.body

    def _modify(self, principal, options):
        data = self._order_data(options)
        data["preview_id"] = options["preview_id"]
        data["approval_id"] = options["approval_id"]
        outcome = modify.modify(
            principal,
            options["mode"],
            options["broker_order_id"],
            data,
            options["idempotency_key"],
        )
        return outcome.status, outcome.body

    def _cancel(self, principal, options):
        outcome = cancel.cancel(
            principal,
            options["mode"],
            options["broker_order_id"],
            {"account_id": options["account"]},
            options["idempotency_key"],
        )
        return outcome.status, outcome.body

    def _resolve(self, principal, options):
        record = recovery.resolve(
            principal,
            options["coid"],
            broker_order_id=options["as_placed"],
            reason=options["reason"],
            record_id=options["record"],
        )
        return 200, {
            "coid": record.coid,
            "status": record.status,
            "broker_order_id": record.broker_order_id or None,
        }

    def _recover(self, principal, options):
        results = recovery.recover_outcomes(principal)
        return 200, {
            "records": [
                {"record": item.record_id, "coid": item.coid, "result": item.result}
                for item in results
            ]
        }

    def _unresolved(self, principal, options):
        return 200, {
            "records": [
                {
                    "record": record.pk,
                    "coid": record.coid,
                    "operation": record.operation,
                    "status": record.status,
                    "created_at": record.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
                for record in recovery.unresolved()
            ]
        }

    def _print(self, result, as_json):
        status, body = result
        if as_json:
            self.stdout.write(json.dumps(body, sort_keys=True))
        else:
            self.stdout.write(_plain(body))
        if status >= 400:
            error = body.get("error", {})
            raise CommandError(
                f"{error.get('code')}: {error.get('message')}", returncode=EXIT_REFUSED
            )


def _plain(body):
    if "error" in body:
        return f"error {body['error']['code']}"
    if "preview_id" in body and "approval_id" not in body:
        return (
            f"preview {body['preview_id']} ({body['mode']}, {body['kind']}), "
            f"notional {body['notional']}, expires {body['expires_at']}"
        )
    if "approval_id" in body:
        return f"approval {body['approval_id']} expires {body['expires_at']}"
    if "orders" in body:
        return "\n".join(
            f"{order['broker_order_id']} {order['leg']} {order['side']} "
            f"{order['quantity']} {order['symbol']} {order['status']}"
            for order in body["orders"]
        )
    if "records" in body:
        lines = [f"{item['record']} {item['coid']}" for item in body["records"]]
        return "\n".join(lines) or "No unresolved requests."
    return json.dumps(body, sort_keys=True)
