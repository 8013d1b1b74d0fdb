"""Benchmark the audit log's append, verify, export and tail against baselines.

Run from the repository root with ``.venv/bin/python bench/audit_bench.py``
(``--quick`` for a CI smoke run, ``--json`` for machine output). Every
database lives in a new temporary directory that is removed at the end. The
script drops ``DATABASE_URL`` and every ``DJANGO_*`` and ``IBKR_*`` variable
from its environment, so it never opens the gateway's own database.

The figures, each with its target:

1. Append: ``audit.log_event`` with a typical order event against plain
   ``sqlite3`` inserting and committing the same 15 column values into an
   identical table, both in WAL mode with the same ``PRAGMA synchronous``,
   at FULL and at NORMAL.
2. Verify: ``audit.verifier.verify_chain`` against a plain loop that reads
   each row, parses its payload and recomputes its HMAC.
3. Peak RSS of ``manage.py audit verify`` and ``manage.py audit export``,
   each in a fresh child process, on a small and a large log.
4. Tail: ``audit.reader.tail_rows(connection, 100)`` plus the ``--json``
   rendering, on a large log against a small one.

The exit status is 0 whenever the measurements complete, whether the
targets pass or not, and 1 when a check of the data (a broken chain, a
failed child process, a wrong row count) fails.
"""

import argparse
import hashlib
import hmac
import json
import logging
import os
import platform
import secrets
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack, closing, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

logger = logging.getLogger("bench.audit_bench")

# Targets: a time ratio is the benchmarked path's time over its baseline's.
APPEND_FULL_MAX_RATIO = 1.5
APPEND_NORMAL_MAX_RATIO = 5.0
VERIFY_MAX_RATIO = 1.5
TAIL_MAX_RATIO = 1.5
RSS_MAX_GROWTH_MB = 10.0

TAIL_LIMIT = 100
# Appends per transaction while building the large logs. The writer joins
# the caller's transaction as a savepoint, so the rows are the ones that
# single appends would store, with fewer commits.
BUILD_BATCH = 500

# Variants of the append benchmark, timed in rotating order in every round.
# The first and last give the target ratio, and the middle two show where
# the time between them goes.
BARE_INSERT = "bare INSERT + COMMIT"
BARE_WITH_HEAD = "bare head SELECT/INSERT/head UPDATE + COMMIT, triggers on"
WRITER_APPEND = "SqliteAuditWriter.append, payload built beforehand"
LOG_EVENT = "audit.log_event"
APPEND_VARIANTS = (BARE_INSERT, BARE_WITH_HEAD, WRITER_APPEND, LOG_EVENT)

SYNCHRONOUS_VALUES = {"FULL": 2, "NORMAL": 1}

# Django database aliases of the two writer variants, so that each variant
# appends to its own file and every file grows at the same pace.
LOG_EVENT_ALIAS = "bench_log_event"
WRITER_APPEND_ALIAS = "bench_writer_append"

AUDIT_KEY_ENV = "BENCH_AUDIT_KEY"
CORRELATION_KEY_ENV = "BENCH_CORR_KEY"


@dataclass(frozen=True)
class Sizes:
    """Row counts and repetitions of one run."""

    rows_tail: int
    rows_small: int
    rows_large: int
    rounds: int
    # Appends of each variant per round. A commit of this schema writes about
    # 10 WAL pages (measured with SQLite 3.40.1), so the automatic checkpoint
    # at 1000 pages runs about every 100 appends. Rounds span several
    # checkpoints, so that their fsync does not land in some rounds only.
    appends_per_round: dict
    tail_runs: int


DEFAULT_SIZES = Sizes(
    rows_tail=2_000,
    rows_small=20_000,
    rows_large=200_000,
    rounds=15,
    appends_per_round={"FULL": 200, "NORMAL": 1000},
    tail_runs=300,
)
QUICK_SIZES = Sizes(
    rows_tail=200,
    rows_small=2_000,
    rows_large=20_000,
    rounds=5,
    appends_per_round={"FULL": 50, "NORMAL": 300},
    tail_runs=50,
)


@dataclass
class Workspace:
    """Files of one run, all under ``root``."""

    root: Path
    template: Path
    configs: dict
    secret_key: str
    snapshots: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Figure:
    """One line of the result table."""

    name: str
    value: str
    target: str
    passed: bool


class BenchCheckFailed(Exception):
    """A result that shows the benchmark measured the wrong thing."""


# Command line and machine


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=(
            "Benchmark the audit log's append, verify, export and tail paths "
            "against plain sqlite3 baselines, in a temporary directory."
        )
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Use small logs and few rounds for a CI smoke run (under a minute).",
    )
    parser.add_argument(
        "--rows-tail",
        type=int,
        metavar="ROWS",
        help="Rows of the small log for the tail ratio "
        f"(default: {DEFAULT_SIZES.rows_tail}, quick: {QUICK_SIZES.rows_tail}).",
    )
    parser.add_argument(
        "--rows-small",
        type=int,
        metavar="ROWS",
        help="Rows of the log for the verify rate and the small peak RSS "
        f"(default: {DEFAULT_SIZES.rows_small}, quick: {QUICK_SIZES.rows_small}).",
    )
    parser.add_argument(
        "--rows-large",
        type=int,
        metavar="ROWS",
        help="Rows of the log for the large peak RSS and the tail ratio "
        f"(default: {DEFAULT_SIZES.rows_large}, quick: {QUICK_SIZES.rows_large}).",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        metavar="N",
        help="Timed rounds of the append and verify comparisons "
        f"(default: {DEFAULT_SIZES.rounds}, quick: {QUICK_SIZES.rounds}).",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="Print the results as one JSON document instead of a table.",
    )
    parser.add_argument(
        "--tmpdir",
        metavar="DIR",
        help="Directory in which to create the temporary work directory "
        "(default: the system temporary directory). Its file system decides "
        "what an fsync costs.",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="Keep the temporary work directory and log its path.",
    )
    args = parser.parse_args(argv)

    base = QUICK_SIZES if args.quick else DEFAULT_SIZES
    sizes = Sizes(
        rows_tail=args.rows_tail or base.rows_tail,
        rows_small=args.rows_small or base.rows_small,
        rows_large=args.rows_large or base.rows_large,
        rounds=args.rounds or base.rounds,
        appends_per_round=base.appends_per_round,
        tail_runs=base.tail_runs,
    )
    if not TAIL_LIMIT <= sizes.rows_tail < sizes.rows_small < sizes.rows_large:
        parser.error(
            f"row counts must satisfy {TAIL_LIMIT} <= --rows-tail < --rows-small "
            f"< --rows-large; got {sizes.rows_tail}, {sizes.rows_small} and "
            f"{sizes.rows_large}"
        )
    if sizes.rounds < 3:
        parser.error(f"--rounds {sizes.rounds} is too few for a median; use 3 or more")
    args.sizes = sizes
    return args


def cpu_model():
    """Return the CPU model name from /proc/cpuinfo, or the machine type elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def file_system_of(path):
    """Return ``"TYPE (DEVICE)"`` of the mount that contains ``path``."""
    best, description = "", "unknown"
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                device, mount_point, kind = line.split()[:3]
                inside = str(path) == mount_point or str(path).startswith(
                    mount_point.rstrip("/") + "/"
                )
                if inside and len(mount_point) > len(best):
                    best, description = mount_point, f"{kind} ({device})"
    except OSError:
        pass
    return description


def machine_info(work_dir):
    import django

    available = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    )
    return {
        "nproc": available or os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "django": django.get_version(),
        "work_dir_file_system": file_system_of(work_dir),
        "load_average_start": list(os.getloadavg()),
    }


# Workspace, Django and the runtime config


def clean_environment():
    """Remove the variables that could point this process at a real gateway."""
    for name in list(os.environ):
        if name.startswith(("IBKR_", "DJANGO_")) or name == "DATABASE_URL":
            del os.environ[name]


def write_config(path, synchronous):
    path.write_text(
        "[audit]\n"
        f'synchronous = "{synchronous}"\n'
        f'correlation_secret_env = "{CORRELATION_KEY_ENV}"\n'
        f'hmac_secret_env = "{AUDIT_KEY_ENV}"\n'
        "\n"
        "[cli]\n"
        'principal = "bench"\n'
        'scopes = ["ibkr:audit:read"]\n',
        encoding="utf-8",
    )
    return path


def create_workspace(tmpdir):
    root = Path(tempfile.mkdtemp(prefix="audit-bench-", dir=tmpdir)).resolve()
    os.environ[AUDIT_KEY_ENV] = secrets.token_hex(20)
    os.environ[CORRELATION_KEY_ENV] = secrets.token_hex(20)
    configs = {
        mode: write_config(root / f"{mode.lower()}.toml", mode)
        for mode in SYNCHRONOUS_VALUES
    }
    return Workspace(
        root=root,
        template=root / "template.sqlite3",
        configs=configs,
        secret_key=secrets.token_urlsafe(40),
    )


def setup_django(workspace):
    os.environ["DJANGO_SETTINGS_MODULE"] = "ibkr_gateway.settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{workspace.template}"
    sys.path.insert(0, str(REPO_ROOT))
    import django
    from django.conf import settings

    # The aliases must exist before django.db.connections first reads them.
    default = settings.DATABASES["default"]
    for alias in (LOG_EVENT_ALIAS, WRITER_APPEND_ALIAS):
        settings.DATABASES[alias] = {**default, "OPTIONS": dict(default["OPTIONS"])}
    django.setup()


@contextmanager
def use_database(path, alias="default"):
    """Point Django's connection ``alias`` at ``path`` until the block ends."""
    from django.db import connections

    connection = connections[alias]
    connection.close()
    previous = connection.settings_dict["NAME"]
    connection.settings_dict["NAME"] = str(path)
    try:
        yield path
    finally:
        connections[alias].close()
        connection.settings_dict["NAME"] = previous


def use_synchronous(workspace, mode):
    """Install the runtime config with ``[audit] synchronous = mode``.

    Only connections opened afterwards get the new pragma, so the caller
    opens Django's connection after this call.
    """
    from django.db import connections

    from ibkr_gateway.runtime_config import load_runtime_config, set_runtime_config

    for connection in connections.all(initialized_only=True):
        connection.close()
    set_runtime_config(load_runtime_config(workspace.configs[mode]))


def check_pragmas(cursor, mode, label):
    """Raise ``BenchCheckFailed`` unless the connection uses WAL and ``mode``."""
    cursor.execute("PRAGMA journal_mode")
    journal_mode = cursor.fetchone()[0]
    cursor.execute("PRAGMA synchronous")
    synchronous = cursor.fetchone()[0]
    if journal_mode != "wal" or synchronous != SYNCHRONOUS_VALUES[mode]:
        raise BenchCheckFailed(
            f"{label}: expected journal_mode wal and synchronous {mode} "
            f"({SYNCHRONOUS_VALUES[mode]}), got {journal_mode} and {synchronous}"
        )


def checkpoint(path):
    """Fold the WAL of ``path`` into the main file, so a file copy gets every row."""
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()


def migrate_template(workspace):
    from django.core.management import call_command

    use_synchronous(workspace, "NORMAL")
    with use_database(workspace.template):
        call_command("migrate", verbosity=0, interactive=False)
    checkpoint(workspace.template)


def copy_database(source, target):
    shutil.copyfile(source, target)
    return target


def row_count(path):
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as raw:
        count = raw.execute("SELECT count(*) FROM audit_events").fetchone()[0]
    raw.close()
    return count


# The event


def order_event(index):
    """Return ``log_event`` keyword arguments of a typical paper order submission.

    The event has an actor, scopes, an account id and 11 metadata fields.
    """
    return {
        "operation": "orders.paper.submit",
        "actor": {"kind": "token", "id": "token:17"},
        "decision": "allow",
        "outcome": "completed",
        "account_id": "DU1234567",
        "request_id": str(uuid.UUID(int=index)),
        "scopes": {
            "required": ["ibkr:orders:paper:submit"],
            "granted": [
                "ibkr:orders:paper:submit",
                "ibkr:orders:read",
                "ibkr:positions:read",
            ],
        },
        "metadata": {
            "symbol": "AAPL",
            "side": "BUY",
            "order_type": "LMT",
            "quantity": 150,
            "limit_price": "187.25",
            "time_in_force": "DAY",
            "con_id": 265598,
            "exchange": "SMART",
            "client_order_id": f"bench-order-{index}",
            "policy_version": "2026-11-30.1",
            "checks": [
                "symbol_allowlist",
                "notional_limit",
                "trading_hours",
                "max_open_orders",
            ],
        },
    }


def log_order_event(index, using="default"):
    import audit

    return audit.log_event("order_submitted", using=using, **order_event(index))


# Append


_EVENT_COLUMNS_SQL = (
    "seq, event_id, event_type, occurred_at, actor, request_id, account_hash, "
    "operation, decision, outcome, error_code, payload, key_id, prev_mac, mac"
)
_BARE_INSERT = (
    f"INSERT INTO audit_events ({_EVENT_COLUMNS_SQL}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_HEAD_QUERY = (
    "SELECT h.seq, h.mac, e.occurred_at FROM audit_chain_head AS h "
    "LEFT JOIN audit_events AS e ON e.seq = h.seq WHERE h.id = 1"
)
_ADVANCE_HEAD = "UPDATE audit_chain_head SET seq = ?, mac = ? WHERE id = 1"


def create_bare_table(template, path):
    """Create ``audit_events`` and its indexes in a new file, without triggers."""
    with sqlite3.connect(f"file:{template}?mode=ro", uri=True) as source:
        statements = [
            row[0]
            for row in source.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'audit_events' "
                "AND type IN ('table', 'index') AND sql IS NOT NULL "
                "ORDER BY type DESC"
            )
        ]
    source.close()
    target = sqlite3.connect(path)
    for statement in statements:
        target.execute(statement)
    target.commit()
    target.close()


def open_bare(path, mode):
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={mode}")
    check_pragmas(connection.cursor(), mode, f"plain sqlite3 on {path.name}")
    return connection


class BareInsert:
    """Insert and commit a copy of one stored row, with fresh seq and event_id."""

    def __init__(self, connection, row):
        self.connection = connection
        self.row = list(row)
        self.seq = 0

    def prepare(self, count):
        return [str(uuid.uuid4()) for _ in range(count)]

    def run(self, event_id):
        self.seq += 1
        row = self.row
        row[0] = self.seq
        row[1] = event_id
        self.connection.execute("BEGIN IMMEDIATE")
        self.connection.execute(_BARE_INSERT, row)
        self.connection.execute("COMMIT")


class BareInsertWithHead:
    """Run the writer's SQL from plain sqlite3 on a migrated database.

    It reads the head, inserts a copy of one stored row and advances the
    head in one IMMEDIATE transaction, with the append-only triggers in
    place. The MACs are random hex, because only the SQL is timed.
    """

    def __init__(self, connection, row):
        self.connection = connection
        self.row = list(row)

    def prepare(self, count):
        return [(str(uuid.uuid4()), secrets.token_hex(32)) for _ in range(count)]

    def run(self, ids):
        event_id, mac = ids
        connection = self.connection
        row = self.row
        connection.execute("BEGIN IMMEDIATE")
        head_seq, head_mac, _ = connection.execute(_HEAD_QUERY).fetchone()
        row[0] = head_seq + 1
        row[1] = event_id
        row[13] = head_mac
        row[14] = mac
        connection.execute(_BARE_INSERT, row)
        connection.execute(_ADVANCE_HEAD, (head_seq + 1, mac))
        connection.execute("COMMIT")


class WriterAppend:
    """``SqliteAuditWriter.append`` with a payload that ``build_event`` made once."""

    def __init__(self, payload, signing_key, using):
        from audit.writer import SqliteAuditWriter

        self.writer = SqliteAuditWriter(using)
        self.payload = payload
        self.signing_key = signing_key

    def prepare(self, count):
        return [dict(self.payload, event_id=str(uuid.uuid4())) for _ in range(count)]

    def run(self, payload):
        self.writer.append(payload, self.signing_key)


class LogEvent:
    """The full ``audit.log_event`` path: envelope, redaction and append."""

    def __init__(self, using, first_index):
        self.using = using
        self.index = first_index

    def prepare(self, count):
        start = self.index
        self.index += count
        return range(start, start + count)

    def run(self, index):
        log_order_event(index, self.using)


def stored_row(cursor, seq):
    cursor.execute(
        f"SELECT {_EVENT_COLUMNS_SQL} FROM audit_events WHERE seq = %s", [seq]
    )
    return cursor.fetchone()


def time_round(variant, count):
    """Run ``variant`` ``count`` times and return the total and per-call seconds."""
    arguments = variant.prepare(count)
    run = variant.run
    clock = time.perf_counter
    latencies = []
    round_start = clock()
    for argument in arguments:
        start = clock()
        run(argument)
        latencies.append(clock() - start)
    return clock() - round_start, latencies


def bench_append(workspace, mode, sizes):
    """Time the four append variants at ``PRAGMA synchronous = mode``.

    Each variant appends to its own database file, so all four files contain
    the same number of rows at the start of every round.
    """
    from django.db import connections

    from audit.envelope import build_event
    from audit.keys import correlation_key, signing_key
    from ibkr_gateway.runtime_config import get_runtime_config

    logger.info("append at synchronous=%s: preparing databases", mode)
    prefix = workspace.root / f"append-{mode.lower()}"
    log_event_path = Path(f"{prefix}-log-event.sqlite3")
    writer_path = Path(f"{prefix}-writer-append.sqlite3")
    head_path = Path(f"{prefix}-bare-head.sqlite3")
    bare_path = Path(f"{prefix}-bare.sqlite3")
    for path in (log_event_path, writer_path, head_path):
        copy_database(workspace.template, path)
    create_bare_table(workspace.template, bare_path)

    appends_per_round = sizes.appends_per_round[mode]
    use_synchronous(workspace, mode)
    with ExitStack() as stack:
        stack.enter_context(use_database(log_event_path, LOG_EVENT_ALIAS))
        stack.enter_context(use_database(writer_path, WRITER_APPEND_ALIAS))
        for alias in (LOG_EVENT_ALIAS, WRITER_APPEND_ALIAS):
            with connections[alias].cursor() as cursor:
                check_pragmas(cursor, mode, f"Django's connection {alias}")

        # The last warm-up append of log_event is the row the bare variants copy.
        warm_up = 20
        log_event = LogEvent(LOG_EVENT_ALIAS, first_index=1)
        time_round(log_event, warm_up)
        with connections[LOG_EVENT_ALIAS].cursor() as cursor:
            row = stored_row(cursor, warm_up)

        config = get_runtime_config()
        payload = build_event(
            "order_submitted", correlation_key=correlation_key(config), **order_event(0)
        )
        bare_connection = stack.enter_context(closing(open_bare(bare_path, mode)))
        head_connection = stack.enter_context(closing(open_bare(head_path, mode)))
        variants = {
            BARE_INSERT: BareInsert(bare_connection, row),
            BARE_WITH_HEAD: BareInsertWithHead(head_connection, row),
            WRITER_APPEND: WriterAppend(
                payload, signing_key(config), WRITER_APPEND_ALIAS
            ),
            LOG_EVENT: log_event,
        }
        for name in (BARE_INSERT, BARE_WITH_HEAD, WRITER_APPEND):
            time_round(variants[name], warm_up)

        round_seconds = {name: [] for name in variants}
        latencies = {name: [] for name in variants}
        names = list(variants)
        for round_index in range(sizes.rounds):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                seconds, calls = time_round(variants[name], appends_per_round)
                round_seconds[name].append(seconds)
                latencies[name].extend(calls)
            logger.info(
                "append at synchronous=%s: round %d of %d done",
                mode,
                round_index + 1,
                sizes.rounds,
            )
    summary = summarize_append(mode, sizes, round_seconds, latencies)
    summary["payload_bytes"] = len(row[11].encode())
    return summary


def summarize_append(mode, sizes, round_seconds, latencies):
    appends_per_round = sizes.appends_per_round[mode]
    per_variant = {}
    for name in APPEND_VARIANTS:
        rates = [appends_per_round / seconds for seconds in round_seconds[name]]
        per_variant[name] = {
            "rows_per_second_median": statistics.median(rates),
            "per_append_median_us": statistics.median(latencies[name]) * 1e6,
            "per_append_p90_us": statistics.quantiles(latencies[name], n=10)[-1] * 1e6,
        }
    paired = [
        writer / bare
        for writer, bare in zip(
            round_seconds[LOG_EVENT], round_seconds[BARE_INSERT], strict=True
        )
    ]
    return {
        "synchronous": mode,
        "rounds": sizes.rounds,
        "appends_per_round": appends_per_round,
        "ratio_median": statistics.median(paired),
        "per_append_median_ratio": (
            per_variant[LOG_EVENT]["per_append_median_us"]
            / per_variant[BARE_INSERT]["per_append_median_us"]
        ),
        "ratio_min": min(paired),
        "ratio_max": max(paired),
        "variants": per_variant,
    }


# Building the logs


def build_logs(workspace, sizes):
    """Append ``rows_large`` events and copy the file at each size."""
    from django.db import connection, transaction

    build_path = workspace.root / "build.sqlite3"
    copy_database(workspace.template, build_path)
    targets = sorted({sizes.rows_tail, sizes.rows_small, sizes.rows_large})
    use_synchronous(workspace, "NORMAL")
    start = time.perf_counter()
    with use_database(build_path):
        appended = 0
        for target in targets:
            while appended < target:
                batch = min(BUILD_BATCH, target - appended)
                with transaction.atomic():
                    for index in range(appended, appended + batch):
                        log_order_event(index)
                appended += batch
                if appended % 20_000 == 0:
                    logger.info("build: %d of %d rows", appended, sizes.rows_large)
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            snapshot = workspace.root / f"log-{target}.sqlite3"
            copy_database(build_path, snapshot)
            workspace.snapshots[target] = snapshot
    elapsed = time.perf_counter() - start
    build_path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{build_path}{suffix}").unlink(missing_ok=True)

    for target, snapshot in workspace.snapshots.items():
        count = row_count(snapshot)
        if count != target:
            raise BenchCheckFailed(
                f"{snapshot.name} contains {count} rows; expected {target}"
            )
    logger.info("build: %d rows in %.1f s", sizes.rows_large, elapsed)
    return {
        "method": (
            "audit.log_event with the benchmark's order event at "
            f"synchronous=NORMAL, {BUILD_BATCH} appends per transaction "
            "(each append a savepoint), copied after a WAL checkpoint at each size"
        ),
        "rows": sizes.rows_large,
        "seconds": elapsed,
        "rows_per_second": sizes.rows_large / elapsed,
    }


# Verify


def verify_bare(connection, keys):
    """Read every row, parse its payload and check its MAC.

    Returns the number of rows and the number of MAC mismatches.
    """
    previous_mac = "0" * 64
    rows = mismatches = 0
    connection.execute("BEGIN")
    try:
        for row in connection.execute(
            f"SELECT {_EVENT_COLUMNS_SQL} FROM audit_events ORDER BY seq"
        ):
            seq, payload_text, key_id, mac = row[0], row[11], row[12], row[14]
            json.loads(payload_text)
            digest = hashlib.sha256(payload_text.encode()).hexdigest()
            message = b"ibkr-audit/v1\n%d\n%s\n%s" % (
                seq,
                previous_mac.encode(),
                digest.encode(),
            )
            computed = hmac.new(keys[key_id], message, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(computed, mac):
                mismatches += 1
            previous_mac = mac
            rows += 1
    finally:
        connection.execute("ROLLBACK")
    return rows, mismatches


def bench_verify(workspace, sizes, keys):
    from audit.reader import open_readonly
    from audit.verifier import verify_chain

    rows = sizes.rows_small
    path = workspace.snapshots[rows]
    connection = open_readonly(path)
    verify_seconds, bare_seconds = [], []
    for round_index in range(sizes.rounds):
        for name in ("verify", "bare") if round_index % 2 == 0 else ("bare", "verify"):
            start = time.perf_counter()
            if name == "verify":
                report = verify_chain(connection, keys)
                elapsed = time.perf_counter() - start
                if not report.chain_valid or report.events_scanned != rows:
                    raise BenchCheckFailed(
                        f"verify_chain on {path.name}: chain_valid "
                        f"{report.chain_valid} after {report.events_scanned} rows; "
                        f"expected True after {rows}"
                    )
                verify_seconds.append(elapsed)
            else:
                scanned, mismatches = verify_bare(connection, keys)
                elapsed = time.perf_counter() - start
                if mismatches or scanned != rows:
                    raise BenchCheckFailed(
                        f"bare verify on {path.name}: {mismatches} MAC mismatches "
                        f"in {scanned} rows; expected 0 in {rows}"
                    )
                bare_seconds.append(elapsed)
    connection.close()
    logger.info("verify: %d rounds over %d rows done", sizes.rounds, rows)
    paired = [
        verify / bare for verify, bare in zip(verify_seconds, bare_seconds, strict=True)
    ]
    return {
        "rows": rows,
        "rounds": sizes.rounds,
        "verify_rows_per_second": rows / statistics.median(verify_seconds),
        "bare_rows_per_second": rows / statistics.median(bare_seconds),
        "verify_seconds_median": statistics.median(verify_seconds),
        "bare_seconds_median": statistics.median(bare_seconds),
        "ratio_median": statistics.median(paired),
        "ratio_min": min(paired),
        "ratio_max": max(paired),
    }


# Tail


def render_tail_json(connection, limit):
    """Return the ``audit tail --json`` text of the newest ``limit`` rows."""
    from audit.reader import read_transaction, tail_entry, tail_rows

    with read_transaction(connection):
        entries = [
            json.dumps(tail_entry(row), sort_keys=True)
            for row in tail_rows(connection, limit)
        ]
    return '{"events": [' + ", ".join(entries) + "]}\n"


def bench_tail(workspace, sizes):
    from audit.reader import open_readonly

    connections = {
        rows: open_readonly(workspace.snapshots[rows])
        for rows in (sizes.rows_tail, sizes.rows_large)
    }
    samples = {rows: [] for rows in connections}
    for connection in connections.values():
        render_tail_json(connection, TAIL_LIMIT)
    order = list(connections)
    for run_index in range(sizes.tail_runs):
        for rows in order if run_index % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            text = render_tail_json(connections[rows], TAIL_LIMIT)
            samples[rows].append(time.perf_counter() - start)
            rendered = text.count('"seq": ')
            if rendered != TAIL_LIMIT:
                raise BenchCheckFailed(
                    f"tail on {rows} rows rendered {rendered} rows; "
                    f"expected {TAIL_LIMIT}"
                )
    for connection in connections.values():
        connection.close()
    logger.info("tail: %d runs on each log done", sizes.tail_runs)
    small = statistics.median(samples[sizes.rows_tail])
    large = statistics.median(samples[sizes.rows_large])
    return {
        "limit": TAIL_LIMIT,
        "runs": sizes.tail_runs,
        "rows_small": sizes.rows_tail,
        "rows_large": sizes.rows_large,
        "small_median_ms": small * 1e3,
        "large_median_ms": large * 1e3,
        "ratio_median": large / small,
    }


# Peak RSS of the CLI


def child_environment(workspace, runtime_database):
    env = dict(os.environ)
    for name in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{runtime_database}",
            "DJANGO_SETTINGS_MODULE": "ibkr_gateway.settings",
            "IBKR_GATEWAY_CONFIG": str(workspace.configs["NORMAL"]),
            "DJANGO_SECRET_KEY": workspace.secret_key,
        }
    )
    return env


def run_child(command, env, log_path):
    """Run ``command``; return its exit code, peak RSS in MB and wall seconds.

    ``os.wait4`` returns the resource usage of this one child, so the peak
    is not mixed with earlier children as ``RUSAGE_CHILDREN`` would mix it.
    """
    start = time.perf_counter()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss is in kilobytes on Linux.
    return process.returncode, usage.ru_maxrss / 1024, time.perf_counter() - start


def bench_rss(workspace, sizes):
    runtime_database = copy_database(
        workspace.template, workspace.root / "cli-runtime.sqlite3"
    )
    env = child_environment(workspace, runtime_database)
    manage = [sys.executable, str(REPO_ROOT / "manage.py"), "audit"]
    results = {}
    for action in ("verify", "export"):
        results[action] = {}
        for rows in (sizes.rows_small, sizes.rows_large):
            database_url = f"sqlite:{workspace.snapshots[rows]}"
            output = workspace.root / f"export-{rows}.jsonl"
            command = [*manage, action, "--database-url", database_url, "--json"]
            if action == "export":
                command += ["--limit", "0", "--output", str(output)]
            log_path = workspace.root / f"{action}-{rows}.log"
            code, peak_mb, seconds = run_child(command, env, log_path)
            if code != 0:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise BenchCheckFailed(
                    f"{shlex.join(command)} failed with exit code {code}; "
                    f"its output ends with:\n{tail}"
                )
            if action == "export":
                with open(output, "rb") as lines:
                    exported = sum(1 for _ in lines)
                output.unlink()
                if exported != rows:
                    raise BenchCheckFailed(
                        f"export of {rows} rows wrote {exported} lines; expected {rows}"
                    )
            logger.info(
                "peak RSS: audit %s on %d rows: %.1f MB in %.1f s",
                action,
                rows,
                peak_mb,
                seconds,
            )
            results[action][rows] = {"peak_rss_mb": peak_mb, "seconds": seconds}
    return results


# Report


def ratio_figure(name, ratio, limit):
    return Figure(name, f"{ratio:.2f}", f"<= {limit:g}", ratio <= limit)


def build_figures(results, sizes):
    figures = []
    for mode, limit in (
        ("FULL", APPEND_FULL_MAX_RATIO),
        ("NORMAL", APPEND_NORMAL_MAX_RATIO),
    ):
        append = results["append"][mode]
        figures.append(
            ratio_figure(
                f"append {mode}: log_event / bare time",
                append["ratio_median"],
                limit,
            )
        )
    verify = results["verify"]
    figures.append(
        ratio_figure(
            f"verify {sizes.rows_small} rows: verify_chain / bare time",
            verify["ratio_median"],
            VERIFY_MAX_RATIO,
        )
    )
    for action in ("verify", "export"):
        peaks = results["rss"][action]
        growth = peaks[sizes.rows_large]["peak_rss_mb"]
        growth -= peaks[sizes.rows_small]["peak_rss_mb"]
        figures.append(
            Figure(
                f"peak RSS audit {action}: {sizes.rows_large} - "
                f"{sizes.rows_small} rows",
                f"{growth:+.1f} MB",
                f"|d| <= {RSS_MAX_GROWTH_MB:g} MB",
                abs(growth) <= RSS_MAX_GROWTH_MB,
            )
        )
    tail = results["tail"]
    figures.append(
        ratio_figure(
            f"tail {TAIL_LIMIT}: {sizes.rows_large} / {sizes.rows_tail} rows time",
            tail["ratio_median"],
            TAIL_MAX_RATIO,
        )
    )
    return figures


def format_table(figures):
    headers = ("figure", "value", "target", "result")
    rows = [
        (
            figure.name,
            figure.value,
            figure.target,
            "PASS" if figure.passed else "FAIL",
        )
        for figure in figures
    ]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [headers, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def format_details(results, sizes):
    lines = []
    for mode in ("FULL", "NORMAL"):
        append = results["append"][mode]
        lines.append(
            f"append, synchronous={mode}, WAL, {append['rounds']} rounds of "
            f"{append['appends_per_round']} appends per variant, "
            f"{append['payload_bytes']}-byte payload "
            f"(ratio min {append['ratio_min']:.2f}, max {append['ratio_max']:.2f}; "
            f"ratio of per-append medians {append['per_append_median_ratio']:.2f}):"
        )
        for name in APPEND_VARIANTS:
            variant = append["variants"][name]
            lines.append(
                f"  {name:<60} {variant['rows_per_second_median']:8.0f} rows/s  "
                f"median {variant['per_append_median_us']:7.1f} us  "
                f"p90 {variant['per_append_p90_us']:7.1f} us"
            )
    verify = results["verify"]
    lines.append(
        f"verify, {verify['rows']} rows, {verify['rounds']} rounds: verify_chain "
        f"{verify['verify_rows_per_second']:.0f} rows/s "
        f"({verify['verify_seconds_median'] * 1e3:.0f} ms), bare loop "
        f"{verify['bare_rows_per_second']:.0f} rows/s "
        f"({verify['bare_seconds_median'] * 1e3:.0f} ms); ratio min "
        f"{verify['ratio_min']:.2f}, max {verify['ratio_max']:.2f}"
    )
    for action in ("verify", "export"):
        peaks = results["rss"][action]
        parts = [
            f"{rows} rows {peak['peak_rss_mb']:.1f} MB in {peak['seconds']:.1f} s"
            for rows, peak in sorted(peaks.items())
        ]
        lines.append(f"peak RSS, manage.py audit {action}: " + ", ".join(parts))
    tail = results["tail"]
    lines.append(
        f"tail --limit {TAIL_LIMIT} --json rendering, {tail['runs']} runs each: "
        f"{tail['rows_small']} rows median {tail['small_median_ms']:.3f} ms, "
        f"{tail['rows_large']} rows median {tail['large_median_ms']:.3f} ms"
    )
    build = results["build"]
    lines.append(
        f"logs for verify, RSS and tail: {build['rows']} rows made by "
        f"{build['method']}; {build['seconds']:.0f} s "
        f"({build['rows_per_second']:.0f} rows/s)"
    )
    return "\n".join(lines)


def print_report(command, machine, figures, results, sizes, as_json):
    if as_json:
        document = {
            "command": command,
            "machine": machine,
            "sizes": asdict(sizes),
            "figures": [
                {
                    "name": figure.name,
                    "value": figure.value,
                    "target": figure.target,
                    "passed": figure.passed,
                }
                for figure in figures
            ],
            "results": results,
        }
        print(json.dumps(document, indent=2, default=str))
        return

    load_start = ", ".join(f"{value:.2f}" for value in machine["load_average_start"])
    load_end = ", ".join(f"{value:.2f}" for value in machine["load_average_end"])
    print(f"command: {command}")
    print(
        f"machine: nproc {machine['nproc']}, {machine['cpu_model']}, Python "
        f"{machine['python']}, SQLite {machine['sqlite']}, Django "
        f"{machine['django']}"
    )
    print(f"work directory file system: {machine['work_dir_file_system']}")
    print(f"load average (1, 5, 15 min): start {load_start}; end {load_end}")
    print()
    print(format_table(figures))
    print()
    print(format_details(results, sizes))


# Main


def run(args, workspace):
    from audit.keys import signing_key
    from ibkr_gateway.runtime_config import get_runtime_config

    sizes = args.sizes
    results = {}
    logger.info("migrating the template database in %s", workspace.root)
    migrate_template(workspace)

    results["append"] = {}
    for mode in ("FULL", "NORMAL"):
        results["append"][mode] = bench_append(workspace, mode, sizes)

    logger.info("build: appending %d rows", sizes.rows_large)
    results["build"] = build_logs(workspace, sizes)

    key = signing_key(get_runtime_config())
    results["verify"] = bench_verify(workspace, sizes, {key.key_id: key.key})
    results["tail"] = bench_tail(workspace, sizes)
    results["rss"] = bench_rss(workspace, sizes)
    return results


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    command = shlex.join([sys.executable, *sys.argv])
    clean_environment()
    workspace = create_workspace(args.tmpdir)
    try:
        setup_django(workspace)
        machine = machine_info(workspace.root)
        start = time.perf_counter()
        results = run(args, workspace)
        machine["load_average_end"] = list(os.getloadavg())
        results["total_seconds"] = time.perf_counter() - start
        logger.info("done in %.0f s", results["total_seconds"])
        figures = build_figures(results, args.sizes)
        print_report(command, machine, figures, results, args.sizes, args.json)
    except BenchCheckFailed as exc:
        logger.error("benchmark check failed: %s", exc)
        return 1
    finally:
        if args.keep:
            logger.info("kept the work directory %s", workspace.root)
        else:
            shutil.rmtree(workspace.root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
