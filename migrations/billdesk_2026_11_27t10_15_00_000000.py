"""Data step: indexes for the desk queue's service-level sorts (soonest due, most urgent),
on open tickets only, like the activity and creation sorts (docs/performance.md)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from billdesk.db import DB

ID = "2026-11-27T10:15:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "open queue indexes for the due and priority sorts"

OPEN = "status IN ('in_progress', 'waiting_for_reply') AND removed_at IS NULL"
INDEXES = [
    f"CREATE INDEX IF NOT EXISTS tickets_open_by_due ON tickets (due_at, id) WHERE {OPEN}",
    f"CREATE INDEX IF NOT EXISTS tickets_open_department_by_due "
    f"ON tickets (department, due_at, id) WHERE {OPEN}",
    f"CREATE INDEX IF NOT EXISTS tickets_open_by_priority "
    f"ON tickets (priority_rank, id) WHERE {OPEN}",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billdesk", description=DESCRIPTION)

    async def create_indexes() -> None:
        for statement in INDEXES:
            await DB.run_ddl(statement)

    manager.add_raw(create_indexes)
    return manager
