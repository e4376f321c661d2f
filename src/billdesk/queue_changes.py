"""A change stamp per department, kept by the database, for the desk's live queue.

Every ticket written (opened, answered, assigned, moved, closed, trashed, deleted,
by whichever write path, a data fix in SQL included) adds to its department's
counter in `department_queue_changes`, in the same transaction, by triggers. A
desk page polls `stamp()` for the agent's departments, which reads a few counter
rows and no ticket, and fetches its rows again only when the stamp moved
(docs/desk.md, "Live queue").

Counters only grow, and a change becomes visible exactly when it commits, so a
page never misses one. (A `max(updated_at)` would: a transaction that stamps its
rows first and commits after another one's newer stamp was seen stays hidden.)
On PostgreSQL the counters are bumped once per statement, per department, on a
row chosen by the writing connection (`pg_backend_pid()` modulo `SLOTS`): two
connections writing tickets of one department at the same moment rarely wait for
the same counter row, and a connection keeps to one row per department. SQLite
has a single writer and no statement triggers: one row per department, bumped per
ticket row.
"""

# The SQL below is built from this module's constants only, never from input.
# ruff: noqa: S608

from __future__ import annotations

from functools import lru_cache

from piccolo.querystring import QueryString

from billdesk.db import DB
from billdesk.sql import Statement

SLOTS = 64
TABLE = "department_queue_changes"

UNIQUE_SLOT = f"CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_slot ON {TABLE} (department, slot)"


def _bump_departments(changed: str) -> str:
    """Add each department's number of changed rows, from the subquery `changed`."""
    return (
        f"INSERT INTO {TABLE} (department, slot, changes) "
        f"SELECT department, pg_backend_pid() % {SLOTS}, COUNT(*) FROM ({changed}) AS changed "
        f"GROUP BY department ORDER BY department "
        f"ON CONFLICT (department, slot) DO UPDATE "
        f"SET changes = {TABLE}.changes + excluded.changes"
    )


_UPDATED = (
    # A row that an UPDATE left as it was is no change; a ticket that moved changed
    # both its departments' queues.
    "SELECT n.department FROM new_rows n JOIN old_rows o ON o.id = n.id "
    "WHERE n IS DISTINCT FROM o "
    "UNION ALL "
    "SELECT o.department FROM new_rows n JOIN old_rows o ON o.id = n.id "
    "WHERE n.department <> o.department"
)

POSTGRES_TRIGGERS = [
    f"""
CREATE OR REPLACE FUNCTION billdesk_note_queue_changes() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_bump_departments("SELECT department FROM new_rows")};
    ELSIF TG_OP = 'DELETE' THEN
        {_bump_departments("SELECT department FROM old_rows")};
    ELSE
        {_bump_departments(_UPDATED)};
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql
""",
    "DROP TRIGGER IF EXISTS tickets_queue_changes_insert ON tickets",
    "DROP TRIGGER IF EXISTS tickets_queue_changes_update ON tickets",
    "DROP TRIGGER IF EXISTS tickets_queue_changes_delete ON tickets",
    """
CREATE TRIGGER tickets_queue_changes_insert AFTER INSERT ON tickets
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION billdesk_note_queue_changes()
""",
    """
CREATE TRIGGER tickets_queue_changes_update AFTER UPDATE ON tickets
REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION billdesk_note_queue_changes()
""",
    """
CREATE TRIGGER tickets_queue_changes_delete AFTER DELETE ON tickets
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION billdesk_note_queue_changes()
""",
]


def _sqlite_bump(row: str) -> str:
    return (
        f"INSERT INTO {TABLE} (department, slot, changes) VALUES ({row}.department, 0, 1) "
        f"ON CONFLICT (department, slot) DO UPDATE SET changes = {TABLE}.changes + 1"
    )


SQLITE_TRIGGERS = [
    f"""
CREATE TRIGGER IF NOT EXISTS tickets_queue_changes_insert AFTER INSERT ON tickets
BEGIN {_sqlite_bump("NEW")}; END
""",
    f"""
CREATE TRIGGER IF NOT EXISTS tickets_queue_changes_update AFTER UPDATE ON tickets
BEGIN {_sqlite_bump("NEW")}; END
""",
    f"""
CREATE TRIGGER IF NOT EXISTS tickets_queue_changes_moved AFTER UPDATE OF department ON tickets
WHEN NEW.department <> OLD.department
BEGIN {_sqlite_bump("OLD")}; END
""",
    f"""
CREATE TRIGGER IF NOT EXISTS tickets_queue_changes_delete AFTER DELETE ON tickets
BEGIN {_sqlite_bump("OLD")}; END
""",
]


async def install() -> None:
    """Create the slot index and the triggers (idempotent)."""
    await DB.run_ddl(UNIQUE_SLOT)
    for statement in POSTGRES_TRIGGERS if DB.engine_type == "postgres" else SQLITE_TRIGGERS:
        await DB.run_ddl(statement)


async def note_changed(ticket_ids: list[int]) -> None:
    """Count a change the triggers cannot see, to these tickets' departments: a write
    to a table beside `tickets` that the queue's rows show (their tags). Call it in
    the write's own transaction, so the change shows when it commits."""
    if not ticket_ids:
        return
    slot = f"pg_backend_pid() % {SLOTS}" if DB.engine_type == "postgres" else "0"
    marks = ", ".join("{}" for _ in ticket_ids)
    changed = f"SELECT department FROM tickets WHERE id IN ({marks})"
    await DB.run_querystring(
        QueryString(
            f"INSERT INTO {TABLE} (department, slot, changes) "
            f"SELECT department, {slot}, COUNT(*) FROM ({changed}) AS changed "
            f"GROUP BY department ORDER BY department "
            f"ON CONFLICT (department, slot) DO UPDATE "
            f"SET changes = {TABLE}.changes + excluded.changes",
            *ticket_ids,
        )
    )


_EVERY_STAMP = Statement(f"SELECT SUM(changes) AS changes FROM {TABLE}")


@lru_cache(maxsize=64)
def _stamp_of(count: int) -> Statement:
    """The stamp of `count` departments: the desk asks it on every page (billdesk.sql)."""
    marks = ", ".join(f":department{number}" for number in range(count))
    return Statement(f"SELECT SUM(changes) AS changes FROM {TABLE} WHERE department IN ({marks})")


async def stamp(department_ids: list[int] | None) -> int:
    """The change stamp of these departments (None: all of them): grows with every change."""
    if department_ids is None:
        row = await _EVERY_STAMP.first()
    elif not department_ids:
        return 0
    else:
        row = await _stamp_of(len(department_ids)).first(
            **{f"department{number}": department for number, department in enumerate(department_ids)}
        )
    return int((row or {}).get("changes") or 0)
