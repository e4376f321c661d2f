"""Search: PostgreSQL's weighted tsvector with its GIN index, or SQLite's FTS5 table
with the triggers that keep it in step; then every existing ticket is indexed."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-27T09:08:15:000000"
VERSION = "1.38.0"
DESCRIPTION = "search index per engine, filled for existing tickets"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billdesk", description=DESCRIPTION)

    async def create_and_fill() -> None:
        from billdesk import search

        await search.create_engine_index()
        await search.reindex_missing()

    manager.add_raw(create_and_fill)
    return manager
