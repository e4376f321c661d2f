"""Data step: a tag is on a ticket at most once, and the queue's tag filter reads the
tag's tickets from this index (billdesk.tags)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from billdesk.db import DB

ID = "2026-11-27T12:40:45:000000"
VERSION = "1.38.0"
DESCRIPTION = "unique (tag, ticket) index on ticket_tags"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billdesk", description=DESCRIPTION)

    async def create_index() -> None:
        await DB.run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS ticket_tags_tag_ticket ON ticket_tags (tag, ticket)"
        )

    manager.add_raw(create_index)
    return manager
