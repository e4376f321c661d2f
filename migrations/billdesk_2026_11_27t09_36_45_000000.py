"""Tickets that existed before `priority_rank` keep their priority's place in the sort."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from billdesk.db import DB

ID = "2026-11-27T09:36:45:000000"
VERSION = "1.38.0"
DESCRIPTION = "priority_rank from priority for existing tickets"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billdesk", description=DESCRIPTION)

    async def rank_priorities() -> None:
        await DB.run_ddl(
            "UPDATE tickets SET priority_rank = CASE priority WHEN 'low' THEN 0 "
            "WHEN 'high' THEN 2 WHEN 'urgent' THEN 3 ELSE 1 END"
        )

    manager.add_raw(rank_priorities)
    return manager
