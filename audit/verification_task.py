"""The django-q2 task behind the admin's "Verify now" button.

The task verifies the whole chain on its own read-only connection, as
``manage.py audit verify`` does, stores the result on its
``VerificationRun`` row and appends an ``audit_verification`` event in the
name of the user who requested it.
"""

import logging

from django.db import connections
from django.utils import timezone

import audit
from audit.envelope import ALLOW, COMPLETED, FAILED
from audit.keys import verification_keys
from audit.models import VerificationRun
from audit.reader import (
    AuditDatabaseError,
    current_key_id,
    open_readonly,
    runtime_database_path,
)
from audit.verifier import verify_chain
from ibkr_gateway.runtime_config import ConfigError, get_runtime_config

logger = logging.getLogger(__name__)

OPERATION = "admin.audit.verify.run"


def _verify(config):
    # Django's connection switches the file to WAL mode, in which the long
    # read transaction of the scan does not block writers.
    connections["default"].ensure_connection()
    reader = open_readonly(runtime_database_path())
    try:
        current = current_key_id(reader) or config.audit.key_id
        keys = verification_keys(config, current_key_id=current)
        return verify_chain(reader, keys)
    finally:
        reader.close()


def run_full_verification(run_id):
    """Verify the whole chain and store the result on ``VerificationRun`` ``run_id``.

    A missing key or an unreadable database is stored in ``error`` and logged
    instead of raised, so the banner shows why the run did not verify.
    """
    run = VerificationRun.objects.get(pk=run_id)
    config = get_runtime_config()
    logger.info("verification run %s started for %s", run_id, run.requested_by)
    metadata = {"verification_run": run_id}
    try:
        report = _verify(config)
    except (AuditDatabaseError, ConfigError) as exc:
        logger.error("verification run %s could not verify: %s", run_id, exc)
        run.error = str(exc)
        run.finished_at = timezone.now()
        run.save()
        metadata["error"] = type(exc).__name__
        _record(run, FAILED, "verification_failed", metadata)
        return run_id

    run.chain_valid = report.chain_valid
    run.events_scanned = report.events_scanned
    run.breaks = report.breaks
    run.first_break_seq = report.first_break.seq if report.first_break else None
    run.finished_at = timezone.now()
    run.save()
    logger.info(
        "verification run %s finished: %s events, %s breaks",
        run_id,
        report.events_scanned,
        report.breaks,
    )

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
    if not report.chain_valid:
        _record(run, FAILED, "chain_broken", metadata)
    elif not report.triggers_present:
        _record(run, FAILED, "triggers_missing", metadata)
    else:
        _record(run, COMPLETED, None, metadata)
    return run_id


def _record(run, outcome, error_code, metadata):
    audit.log_event(
        "audit_verification",
        operation=OPERATION,
        actor={"kind": "user", "id": f"user:{run.requested_by}"},
        decision=ALLOW,
        outcome=outcome,
        error_code=error_code,
        metadata=metadata,
    )
