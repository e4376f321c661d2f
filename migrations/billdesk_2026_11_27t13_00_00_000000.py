"""Data step: covering indexes for the support report (billdesk.sla.reports).

Each leads with the department and then the time column a figure is read on (the clock's
start, the first response, the solve, the rating), and carries the assignee and the
figures, so a report reads its window from the index alone on PostgreSQL (INCLUDE) and
SQLite (trailing key columns), for any set of departments. Tickets in the trash are left
out, as the report leaves them out. The solve index keeps unsolved tickets (NULL first)
for the backlog.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from billdesk.db import DB

ID = "2026-11-27T13:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "covering indexes for the support report"

LIVE = "WHERE removed_at IS NULL"
# name: (table, key columns, carried columns, condition)
INDEXES = {
    "tickets_report_started": ("tickets", "department, clock_started_at", "assignee", LIVE),
    "tickets_report_answered": (
        "tickets",
        "department, first_response_at",
        "assignee, first_response_seconds, first_response_met",
        LIVE,
    ),
    "tickets_report_solved": (
        "tickets",
        "department, solved_at",
        "assignee, clock_started_at, resolution_seconds, resolution_met",
        LIVE,
    ),
    "ticket_ratings_report": ("ticket_ratings", "department, created_at", "agent, score", ""),
}


def statements(engine_type: str) -> list[str]:
    result = []
    for name, (table, keys, carried, condition) in INDEXES.items():
        if engine_type == "postgres":
            columns = f"({keys}) INCLUDE ({carried})"
        else:
            columns = f"({keys}, {carried})"
        result.append(f"CREATE INDEX IF NOT EXISTS {name} ON {table} {columns} {condition}")
    return result


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billdesk", description=DESCRIPTION)

    async def create_indexes() -> None:
        for statement in statements(DB.engine_type):
            await DB.run_ddl(statement)

    manager.add_raw(create_indexes)
    return manager
