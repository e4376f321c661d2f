"""Open tickets per department, kept as counters by the database itself.

The navigation badges, `GET /api/v1/desk/counts` and the total of the default
queue read these counters instead of counting tickets, so they cost the same
at ten tickets and at a million (docs/performance.md).

A ticket counts while it is `in_progress` or `waiting_for_reply` and not in the
trash. Triggers on `tickets` move the counters in the same transaction as the
change, whichever write path made it (opening, payment, close, transfer,
trash, restore, a data fix in SQL), so no write path can forget them. Each
department's count is spread over `SLOTS` rows (the slot is the ticket id modulo
`SLOTS`): on PostgreSQL two tickets opened at the same moment then rarely wait
for the same counter row. A department's count is the sum of its slots.
"""

# The SQL below is built from this module's constants only, never from input.
# ruff: noqa: S608

from __future__ import annotations

from billdesk.db import DB

SLOTS = 4
OPEN_STATUSES = ("in_progress", "waiting_for_reply")
COUNTS_TABLE = "department_open_counts"

_OPEN_SQL = ", ".join(f"'{status}'" for status in OPEN_STATUSES)


def _counted(row: str) -> str:
    """SQL true when the row (NEW or OLD) is an open ticket outside the trash."""
    return f"({row}.status IN ({_OPEN_SQL}) AND {row}.removed_at IS NULL)"


def _add(row: str) -> str:
    return (
        f"INSERT INTO {COUNTS_TABLE} (department, slot, open_tickets) "
        f"VALUES ({row}.department, {row}.id % {SLOTS}, 1) "
        f"ON CONFLICT (department, slot) DO UPDATE "
        f"SET open_tickets = {COUNTS_TABLE}.open_tickets + 1"
    )


def _take(row: str) -> str:
    # Only ever an update: a ticket counted before has its slot row already.
    return (
        f"UPDATE {COUNTS_TABLE} SET open_tickets = open_tickets - 1 "
        f"WHERE department = {row}.department AND slot = {row}.id % {SLOTS}"
    )


_MOVED = "(NEW.department <> OLD.department)"

UNIQUE_SLOT = (
    f"CREATE UNIQUE INDEX IF NOT EXISTS {COUNTS_TABLE}_slot ON {COUNTS_TABLE} (department, slot)"
)

RECOUNT = [
    f"DELETE FROM {COUNTS_TABLE}",
    f"INSERT INTO {COUNTS_TABLE} (department, slot, open_tickets) "
    f"SELECT department, id % {SLOTS}, COUNT(*) FROM tickets "
    f"WHERE status IN ({_OPEN_SQL}) AND removed_at IS NULL "
    f"GROUP BY department, id % {SLOTS}",
]
"""Rebuild every counter from the tickets (the migration, and bulk loads such as the bench)."""

POSTGRES_TRIGGERS = [
    f"""
CREATE OR REPLACE FUNCTION billdesk_count_open_tickets() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND {_counted("OLD")}
       AND (TG_OP = 'DELETE' OR NOT {_counted("NEW")} OR {_MOVED}) THEN
        {_take("OLD")};
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND {_counted("NEW")}
       AND (TG_OP = 'INSERT' OR NOT {_counted("OLD")} OR {_MOVED}) THEN
        {_add("NEW")};
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql
""",
    "DROP TRIGGER IF EXISTS tickets_open_counts ON tickets",
    """
CREATE TRIGGER tickets_open_counts
AFTER INSERT OR DELETE OR UPDATE OF status, removed_at, department ON tickets
FOR EACH ROW EXECUTE FUNCTION billdesk_count_open_tickets()
""",
]

SQLITE_TRIGGERS = [
    f"""
CREATE TRIGGER IF NOT EXISTS tickets_open_counts_insert AFTER INSERT ON tickets
WHEN {_counted("NEW")}
BEGIN {_add("NEW")}; END
""",
    f"""
CREATE TRIGGER IF NOT EXISTS tickets_open_counts_delete AFTER DELETE ON tickets
WHEN {_counted("OLD")}
BEGIN {_take("OLD")}; END
""",
    f"""
CREATE TRIGGER IF NOT EXISTS tickets_open_counts_leave
AFTER UPDATE OF status, removed_at, department ON tickets
WHEN {_counted("OLD")} AND (NOT {_counted("NEW")} OR {_MOVED})
BEGIN {_take("OLD")}; END
""",
    f"""
CREATE TRIGGER IF NOT EXISTS tickets_open_counts_enter
AFTER UPDATE OF status, removed_at, department ON tickets
WHEN {_counted("NEW")} AND (NOT {_counted("OLD")} OR {_MOVED})
BEGIN {_add("NEW")}; END
""",
]


async def install() -> None:
    """Create the slot index and the triggers, and count what is there (idempotent)."""
    await DB.run_ddl(UNIQUE_SLOT)
    for statement in POSTGRES_TRIGGERS if DB.engine_type == "postgres" else SQLITE_TRIGGERS:
        await DB.run_ddl(statement)
    await recount()


async def recount() -> None:
    """Rebuild the counters from the tickets, in one transaction."""
    async with DB.transaction():
        for statement in RECOUNT:
            await DB.run_ddl(statement)


async def open_by_department(department_ids: list[int] | None = None) -> dict[int, int]:
    """Open tickets per department (all of them, or only those given): one small query."""
    from piccolo.query.functions.aggregate import Sum

    from billdesk.tables import DepartmentOpenCount as Counts

    query = Counts.select(Counts.department, Sum(Counts.open_tickets, alias="open"))
    if department_ids is not None:
        if not department_ids:
            return {}
        query = query.where(Counts.department.is_in(department_ids))
    rows = await query.group_by(Counts.department)
    return {row["department"]: int(row["open"] or 0) for row in rows}
