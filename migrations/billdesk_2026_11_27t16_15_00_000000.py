"""charges.created_at is indexed by the composite (…, created_at, id) indexes only.

With a single-column index beside `charges_by_creation`, PostgreSQL's generic plan
of the finance list's later pages (a statement the pool prepares and reuses) read
that index and sorted each run of equal times, instead of reading the rows in order.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Timestamptz

ID = "2026-11-27T16:15:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "charges.created_at indexed by composite indexes only"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billdesk", description=DESCRIPTION)
    manager.alter_column(
        table_class_name="Charge",
        tablename="charges",
        column_name="created_at",
        db_column_name="created_at",
        params={"index": False},
        old_params={"index": True},
        column_class=Timestamptz,
        old_column_class=Timestamptz,
        schema=None,
    )
    return manager
