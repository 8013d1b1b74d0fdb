"""``manage.py audit tail | export | verify``: review the audit log."""

import hashlib
import json
import logging
import os
import signal
import tempfile
from pathlib import Path

from django.core.management.base import CommandError
from django.db import connections

from audit.arguments import (
    aware_datetime,
    key_mapping,
    non_empty,
    tail_limit,
    whole_number,
)
from audit.cli import (
    EXIT_CHAIN_BROKEN,
    EXIT_CODES_HELP,
    EXIT_INVALID,
    EXIT_TRIGGERS_MISSING,
    EXIT_UNEXPECTED,
    EXIT_UNSAFE_OUTPUT,
    EXIT_USAGE,
    AuditRun,
    SubcommandCommand,
    UsageErrorParser,
)
from audit.errors import AuditUnavailable
from audit.export import ExportRange, iter_lines, scan_range
from audit.keys import DEVELOPMENT_KEY_ID, verification_keys
from audit.progress import Progress
from audit.reader import (
    AuditDatabaseError,
    DatabaseUrlError,
    current_key_id,
    open_readonly,
    parse_database_url,
    read_transaction,
    tail_entry,
    tail_line,
    tail_rows,
)
from audit.verifier import verify_chain
from ibkr_gateway.runtime_config import (
    ConfigError,
)

logger = logging.getLogger(__name__)

OPERATIONS = {
    "tail": ("audit.tail", "audit_read"),
    "export": ("audit.export", "audit_export"),
    "verify": ("audit.verify", "audit_verification"),
}


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def _unknown_key_hint(key_ids):
    if not key_ids:
        return ""
    names = ", ".join(sorted(key_ids))
    hint = (
        f" Rows use key id(s) {names} with no key given; if those keys are "
        "genuine, pass --key KEY_ID=ENV_NAME or list them under "
        "[audit.fallback_keys]."
    )
    if DEVELOPMENT_KEY_ID in key_ids:
        hint += (
            f" Key id {DEVELOPMENT_KEY_ID!r} is the public development key: "
            "rows signed with it prove nothing, so start a configured "
            "installation on a new database."
        )
    return hint


class Command(SubcommandCommand):
    help = (
        "Review the tamper-evident audit log: tail the newest events, export "
        "a range as JSON Lines, or verify the whole chain. " + EXIT_CODES_HELP
    )

    def add_arguments(self, parser):
        subcommands = parser.add_subparsers(
            dest="action",
            required=True,
            metavar="{tail,export,verify}",
            parser_class=UsageErrorParser,
        )
        tail = subcommands.add_parser(
            "tail",
            is_subcommand=True,
            help="Print the newest events, newest first.",
            description="Print the newest events, newest first. " + EXIT_CODES_HELP,
        )
        tail.add_argument(
            "--limit",
            type=tail_limit,
            default=100,
            help="Number of events to print, 1 to 10000 (default: 100).",
        )
        self._add_common(tail)

        export = subcommands.add_parser(
            "export",
            is_subcommand=True,
            help="Write events as JSON Lines in ascending seq.",
            description=(
                "Write the newest --limit events, or a range, as JSON Lines in "
                "ascending seq, after a secret scan of the range. " + EXIT_CODES_HELP
            ),
        )
        export.add_argument(
            "--limit",
            type=whole_number,
            default=500,
            help="Number of events: the newest N, or the first N of a range given "
            "by --after-seq, --since or --until; 0 means no limit (default: 500).",
        )
        export.add_argument(
            "--output",
            type=non_empty,
            metavar="FILE",
            help="Write the lines to FILE (created new, renamed into place at the "
            "end) instead of standard output.",
        )
        export.add_argument(
            "--after-seq",
            type=whole_number,
            metavar="N",
            help="Export events with seq greater than N (default: none).",
        )
        export.add_argument(
            "--since",
            type=aware_datetime,
            metavar="T",
            help="Export events that occurred at or after T (RFC 3339 with zone).",
        )
        export.add_argument(
            "--until",
            type=aware_datetime,
            metavar="T",
            help="Export events that occurred before T (RFC 3339 with zone).",
        )
        self._add_common(export)

        verify = subcommands.add_parser(
            "verify",
            is_subcommand=True,
            help="Verify every MAC, the projection, the head row and the triggers.",
            description=(
                "Verify the whole chain inside one read transaction. " + EXIT_CODES_HELP
            ),
        )
        verify.add_argument(
            "--hmac-secret-env",
            type=non_empty,
            metavar="NAME",
            help="Environment variable holding the key of the log's current key "
            "id (default: from the runtime config).",
        )
        verify.add_argument(
            "--key",
            action="append",
            type=key_mapping,
            default=[],
            metavar="KEY_ID=NAME",
            help="Environment variable holding the key of an older key id; "
            "repeat for each (default: [audit.fallback_keys] of the config).",
        )
        self._add_common(verify)

    def _add_common(self, parser):
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print machine-readable JSON on standard output.",
        )
        parser.add_argument(
            "--database-url",
            type=non_empty,
            metavar="sqlite:PATH",
            help="Read this audit database, opened read-only, instead of the "
            "gateway's own (default: DATABASE_URL).",
        )
        parser.add_argument(
            "--config",
            type=non_empty,
            metavar="PATH",
            help="Runtime config file (default: $IBKR_GATEWAY_CONFIG, else "
            "development mode).",
        )

    def handle(self, *args, **options):
        action = options["action"]
        config = self.load_config(options["config"])
        runtime_path = self.require_runtime_database()
        # Django's connection switches the runtime database to WAL; a scan's
        # read transaction on a rollback-journal file would block this
        # command's own audit write.
        connections["default"].ensure_connection()
        external_path = self._external_path(options["database_url"])
        if action == "export":
            self._check_output(options["output"])

        operation, event_type = OPERATIONS[action]
        run = AuditRun(config, operation, event_type)
        source = "external" if external_path else "runtime"
        metadata = {
            "database": source,
            "output_format": "json" if options["json"] else "text",
        }
        if external_path:
            metadata["database_file"] = external_path.name

        logger.info(
            "audit %s started as %s on the %s database",
            action,
            config.cli.actor_id,
            source,
        )
        try:
            run.check_scope(metadata)
            connection = self._open(external_path or runtime_path, run, metadata)
            try:
                handler = getattr(self, f"_{action}")
                handler(run, connection, options, metadata)
            finally:
                connection.close()
        except CommandError:
            raise
        except AuditUnavailable as exc:
            raise CommandError(
                f"This command could not be recorded in the audit log of "
                f"{runtime_path}, so it stopped: {exc}",
                returncode=EXIT_UNEXPECTED,
            ) from None
        except Exception as exc:
            logger.exception("audit %s failed unexpectedly", action)
            self._record_failure(run, metadata, exc)
            raise CommandError(
                f"audit {action} failed unexpectedly: {type(exc).__name__}. Run "
                "again with --traceback for details.",
                returncode=EXIT_UNEXPECTED,
            ) from exc
        logger.info("audit %s finished", action)

    def _record_failure(self, run, metadata, exc):
        metadata["exception"] = type(exc).__name__
        try:
            run.failed("unexpected_error", metadata)
        except Exception:
            # The original error is the one to report; logger.exception has
            # recorded this one.
            logger.exception("audit failure event could not be written")

    def _external_path(self, database_url):
        if not database_url:
            return None
        try:
            return parse_database_url(database_url)
        except DatabaseUrlError as exc:
            raise CommandError(str(exc), returncode=EXIT_USAGE) from None

    def _check_output(self, output):
        if output is None:
            return
        target = Path(output)
        if target.is_dir():
            raise CommandError(
                f"--output {output} is a directory; name a file inside it.",
                returncode=EXIT_USAGE,
            )
        if target.exists():
            raise CommandError(
                f"output file {output} already exists; choose a new name or "
                "remove it first.",
                returncode=EXIT_USAGE,
            )
        if not target.parent.is_dir():
            raise CommandError(
                f"the directory of --output {output} does not exist; create it first.",
                returncode=EXIT_USAGE,
            )

    def _open(self, path, run, metadata):
        try:
            return open_readonly(path)
        except AuditDatabaseError as exc:
            run.failed("database_invalid", metadata)
            raise CommandError(str(exc), returncode=EXIT_INVALID) from None

    # tail

    def _tail(self, run, connection, options, metadata):
        limit = options["limit"]
        metadata["limit"] = limit
        with read_transaction(connection):
            # First pass: digest what will be printed, so the event that
            # records this read is written before anything is shown.
            digest, count = hashlib.sha256(), 0
            for chunk in self._render_tail(connection, limit, options["json"]):
                digest.update(chunk.encode())
                count += 1
            metadata["output_sha256"] = digest.hexdigest()
            run.completed(metadata)

            for chunk in self._render_tail(connection, limit, options["json"]):
                self.stdout.write(chunk, ending="")
        self.stdout.flush()

    def _render_tail(self, connection, limit, as_json):
        if as_json:
            yield '{"events": ['
        for index, row in enumerate(tail_rows(connection, limit)):
            entry = tail_entry(row)
            if as_json:
                yield ("" if index == 0 else ", ") + json.dumps(entry, sort_keys=True)
            else:
                yield tail_line(entry)
        if as_json:
            yield "]}\n"

    # export

    def _export(self, run, connection, options, metadata):
        export_range = ExportRange(
            limit=options["limit"],
            after_seq=options["after_seq"],
            since=options["since"],
            until=options["until"],
        )
        metadata.update(export_range.as_metadata())
        output = options["output"]
        metadata["output"] = "file" if output else "stdout"

        progress = Progress("export scan")
        with read_transaction(connection):
            scan = scan_range(connection, export_range, progress)
            progress.finish()
            metadata.update(scan.summary())
            if scan.unsafe_count:
                metadata["unsafe_count"] = scan.unsafe_count
                metadata["unsafe_rows"] = scan.unsafe_rows
                run.refused("unsafe_output", metadata)
                rows = ", ".join(str(row["seq"]) for row in scan.unsafe_rows)
                raise CommandError(
                    f"export refused: {scan.unsafe_count} row(s) look like they "
                    f"hold secrets (seq {rows}). Nothing was written; run "
                    "'audit verify' and investigate those rows.",
                    returncode=EXIT_UNSAFE_OUTPUT,
                )

            if output:
                self._export_to_file(
                    run, connection, export_range, scan, output, metadata
                )
            else:
                run.completed(metadata)
                self._export_to_stdout(connection, export_range, scan, options)

        if output:
            summary = scan.summary()
            if options["json"]:
                self.stdout.write(json.dumps(summary, sort_keys=True))
            else:
                self.stdout.write(
                    f"exported {scan.count} events (seq {scan.first_seq} to "
                    f"{scan.last_seq}) to {output}, sha256 {scan.sha256}"
                )

    def _export_to_stdout(self, connection, export_range, scan, options):
        stream = self.stdout
        as_json = options["json"]
        if as_json:
            head = json.dumps(scan.summary(), sort_keys=True)[:-1]
            stream.write(head + ', "events": [', ending="")
        digest = hashlib.sha256()
        for index, (_seq, line) in enumerate(iter_lines(connection, export_range)):
            digest.update(line)
            text = line.decode("utf-8")
            if as_json:
                text = ("" if index == 0 else ", ") + text.rstrip("\n")
            stream.write(text, ending="")
        if as_json:
            stream.write("]}")
        stream.flush()
        self._check_digest(digest, scan)

    def _export_to_file(self, run, connection, export_range, scan, output, metadata):
        target = Path(output)
        directory = target.parent if str(target.parent) else Path(".")
        handle = tempfile.NamedTemporaryFile(
            dir=directory, prefix=f".{target.name}.", suffix=".tmp", delete=False
        )
        temporary = Path(handle.name)
        progress = Progress("export write")
        # SIGTERM becomes SystemExit, so the cleanup below removes the
        # partial file instead of leaving audit rows in a stray temp file.
        previous_handler = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            with handle:
                digest = hashlib.sha256()
                for index, (_seq, line) in enumerate(
                    iter_lines(connection, export_range), start=1
                ):
                    digest.update(line)
                    handle.write(line)
                    progress(index, scan.count)
                handle.flush()
                os.fsync(handle.fileno())
            progress.finish()
            self._check_digest(digest, scan)
            # The event is written before the file appears under its name, so
            # an export that could not be audited leaves nothing behind.
            run.completed(metadata)
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        finally:
            signal.signal(signal.SIGTERM, previous_handler)

    def _check_digest(self, digest, scan):
        if digest.hexdigest() != scan.sha256:
            raise CommandError(
                "export changed between the scan and the write; the read "
                "transaction did not hold one snapshot. Retry the export.",
                returncode=EXIT_UNEXPECTED,
            )

    # verify

    def _verify(self, run, connection, options, metadata):
        config = run.config
        current = current_key_id(connection) or config.audit.key_id
        try:
            keys = verification_keys(
                config,
                current_key_id=current,
                secret_env=options["hmac_secret_env"],
                extra=dict(options["key"]),
            )
        except ConfigError as exc:
            run.failed("key_missing", metadata)
            raise CommandError(str(exc), returncode=EXIT_INVALID) from None

        progress = Progress("verify")
        report = verify_chain(connection, keys, progress)
        progress.finish()
        result = report.as_dict()
        metadata.update(
            {
                "chain_valid": result["chain_valid"],
                "events_scanned": result["events_scanned"],
                "breaks": result["breaks"],
                "first_break": result["first_break"],
                "head_seq": result["head"]["seq"],
                "triggers_present": result["triggers_present"],
            }
        )
        # The verification itself ran, but a broken chain or missing triggers
        # is recorded as a failure so that a reviewer finds it in the log.
        if not report.chain_valid:
            run.failed("chain_broken", metadata)
        elif not report.triggers_present:
            run.failed("triggers_missing", metadata)
        else:
            run.completed(metadata)

        if options["json"]:
            self.stdout.write(json.dumps(result, sort_keys=True))
        else:
            self.stdout.write(self._describe(report))

        if not report.chain_valid:
            first = report.first_break
            raise CommandError(
                f"audit chain is broken: {report.breaks} break(s), first at seq "
                f"{first.seq} ({first.reason})."
                + _unknown_key_hint(report.key_ids - set(keys)),
                returncode=EXIT_CHAIN_BROKEN,
            )
        if not report.triggers_present:
            raise CommandError(
                "audit chain is intact but append-only triggers are missing: "
                f"{', '.join(report.missing_triggers)}. Find out who removed "
                "them, then restore the database from a backup or recreate them "
                "with the statements in audit/triggers.py.",
                returncode=EXIT_TRIGGERS_MISSING,
            )

    def _describe(self, report):
        lines = []
        if report.chain_valid:
            lines.append(
                f"chain valid: {report.events_scanned} events, head at seq "
                f"{report.head_seq}"
            )
        else:
            first = report.first_break
            lines.append(
                f"CHAIN BROKEN: {report.breaks} break(s) in "
                f"{report.events_scanned} events"
            )
            lines.append(
                f"first break: seq {first.seq}, event {first.event_id or '-'}, "
                f"{first.reason}"
            )
        if report.triggers_present:
            lines.append("append-only triggers: present")
        else:
            lines.append(
                f"append-only triggers: MISSING ({', '.join(report.missing_triggers)})"
            )
        return "\n".join(lines)
