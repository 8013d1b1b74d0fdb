"""SQLite triggers that keep ``audit_events`` append-only and the head honest.

The statements are fixed text: ``audit verify`` compares the schema's trigger
SQL with these strings, so a trigger that was replaced by a harmless one of
the same name is reported as missing. A later migration that rebuilds either
table must run ``CREATE_STATEMENTS`` again.
"""

REJECT_UPDATE = (
    "CREATE TRIGGER audit_events_reject_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE is not "
    "allowed'); END"
)
REJECT_DELETE = (
    "CREATE TRIGGER audit_events_reject_delete BEFORE DELETE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE is not "
    "allowed'); END"
)
# An append must extend the chain at the head: the next seq and the head's MAC
# as prev_mac. This catches a writer that skipped the head row.
CHECK_APPEND = (
    "CREATE TRIGGER audit_events_check_append BEFORE INSERT ON audit_events "
    "WHEN NEW.seq IS NOT (SELECT seq + 1 FROM audit_chain_head WHERE id = 1) "
    "OR NEW.prev_mac IS NOT (SELECT mac FROM audit_chain_head WHERE id = 1) "
    "BEGIN SELECT RAISE(ABORT, 'audit_events append must use the next seq and "
    "the head mac as prev_mac'); END"
)
CHECK_HEAD_UPDATE = (
    "CREATE TRIGGER audit_chain_head_check_update BEFORE UPDATE ON "
    "audit_chain_head WHEN NEW.id IS NOT OLD.id OR NEW.seq IS NOT OLD.seq + 1 "
    "OR NEW.mac IS NOT (SELECT mac FROM audit_events WHERE seq = NEW.seq) "
    "BEGIN SELECT RAISE(ABORT, 'audit_chain_head may only advance to the row "
    "just appended'); END"
)
REJECT_HEAD_DELETE = (
    "CREATE TRIGGER audit_chain_head_reject_delete BEFORE DELETE ON "
    "audit_chain_head BEGIN SELECT RAISE(ABORT, 'audit_chain_head row may not "
    "be deleted'); END"
)
REJECT_HEAD_INSERT = (
    "CREATE TRIGGER audit_chain_head_reject_insert BEFORE INSERT ON "
    "audit_chain_head BEGIN SELECT RAISE(ABORT, 'audit_chain_head holds "
    "exactly one row'); END"
)

CREATE_STATEMENTS = {
    "audit_events_reject_update": REJECT_UPDATE,
    "audit_events_reject_delete": REJECT_DELETE,
    "audit_events_check_append": CHECK_APPEND,
    "audit_chain_head_check_update": CHECK_HEAD_UPDATE,
    "audit_chain_head_reject_delete": REJECT_HEAD_DELETE,
    "audit_chain_head_reject_insert": REJECT_HEAD_INSERT,
}


def missing_triggers(cursor):
    """Return the names of required triggers that are absent or altered.

    ``cursor`` is a DB-API cursor on a SQLite database.
    """
    cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
    present = {name: sql for name, sql in cursor.fetchall()}
    return sorted(
        name
        for name, statement in CREATE_STATEMENTS.items()
        if _normalise(present.get(name)) != _normalise(statement)
    )


def _normalise(sql):
    if sql is None:
        return None
    return " ".join(sql.split())
