"""Data step: the open-ticket triggers and their first count, and composite indexes
matching each list's filters and default sort (docs/performance.md).

Piccolo runs a migration's raw steps before its new tables, so this step follows
the migration that adds `department_open_counts`. Every statement is idempotent.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from billdesk import open_counts
from billdesk.db import DB

ID = "2026-11-27T09:24:49:000000"
VERSION = "1.38.0"
DESCRIPTION = "open ticket counter triggers; list indexes"

OPEN = "status IN ('in_progress', 'waiting_for_reply') AND removed_at IS NULL"
INDEXES = [
    # The desk queue: open tickets, newest activity (or creation) first; all departments,
    # one department, or one assignee.
    f"CREATE INDEX IF NOT EXISTS tickets_open_by_activity "
    f"ON tickets (last_message_at, id) WHERE {OPEN}",
    f"CREATE INDEX IF NOT EXISTS tickets_open_by_creation "
    f"ON tickets (created_at, id) WHERE {OPEN}",
    f"CREATE INDEX IF NOT EXISTS tickets_open_department_by_activity "
    f"ON tickets (department, last_message_at, id) WHERE {OPEN}",
    f"CREATE INDEX IF NOT EXISTS tickets_open_department_by_creation "
    f"ON tickets (department, created_at, id) WHERE {OPEN}",
    f"CREATE INDEX IF NOT EXISTS tickets_open_assignee_by_activity "
    f"ON tickets (assignee, last_message_at, id) WHERE {OPEN}",
    # The desk queue filtered by one status (solved), and a customer's tickets at the desk.
    "CREATE INDEX IF NOT EXISTS tickets_status_by_activity "
    "ON tickets (status, last_message_at, id) WHERE removed_at IS NULL",
    "CREATE INDEX IF NOT EXISTS tickets_customer_by_activity "
    "ON tickets (customer, last_message_at, id)",
    # The client area's list: one customer's tickets, archived or not, newest activity first.
    "CREATE INDEX IF NOT EXISTS tickets_customer_list "
    "ON tickets (customer, archived, last_message_at, id) WHERE removed_at IS NULL",
    # Finance: charges newest first, alone or by status, department or customer.
    "CREATE INDEX IF NOT EXISTS charges_by_creation ON charges (created_at, id)",
    "CREATE INDEX IF NOT EXISTS charges_status_by_creation "
    "ON charges (status, created_at, id)",
    "CREATE INDEX IF NOT EXISTS charges_department_by_creation "
    "ON charges (department, created_at, id)",
    "CREATE INDEX IF NOT EXISTS charges_customer_by_creation "
    "ON charges (customer, created_at, id)",
    # A ticket's thread and history, in order.
    "CREATE INDEX IF NOT EXISTS messages_thread ON messages (ticket, created_at, id)",
    "CREATE INDEX IF NOT EXISTS ticket_events_history ON ticket_events (ticket, created_at, id)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billdesk", description=DESCRIPTION)

    async def create_indexes() -> None:
        for statement in INDEXES:
            await DB.run_ddl(statement)

    manager.add_raw(open_counts.install)
    manager.add_raw(create_indexes)
    return manager
