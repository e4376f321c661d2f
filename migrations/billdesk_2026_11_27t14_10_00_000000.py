"""A history line keeps its words as a tr() text with its values, to be read in the reader's language."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-27T14:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "ticket event params"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billdesk", description=DESCRIPTION)
    manager.add_column(
        table_class_name="TicketEvent",
        tablename="ticket_events",
        column_name="params",
        db_column_name="params",
        column_class_name="JSON",
        column_class=JSON,
        params={
            "default": "{}",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )
    return manager
