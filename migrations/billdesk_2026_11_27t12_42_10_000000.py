"""Data step: the triggers that keep `department_queue_changes` (billdesk.queue_changes),
which the desk's live queue polls.

Piccolo runs a migration's raw steps before its new tables, so this step follows
the migration that adds the table. Every statement is idempotent.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from billdesk import queue_changes

ID = "2026-11-27T12:42:10:000000"
VERSION = "1.38.0"
DESCRIPTION = "queue change triggers"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billdesk", description=DESCRIPTION)
    manager.add_raw(queue_changes.install)
    return manager
