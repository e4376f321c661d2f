from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from enum import Enum
from piccolo.columns.column_types import Varchar

ID = "2026-11-27T13:08:57:267096"
VERSION = "1.38.0"
DESCRIPTION = "history kinds for tags beside those of merges"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="billdesk", description=DESCRIPTION
    )

    manager.alter_column(
        table_class_name="TicketEvent",
        tablename="ticket_events",
        column_name="kind",
        db_column_name="kind",
        params={
            "choices": Enum(
                "Kind",
                {
                    "opened": "opened",
                    "status": "status",
                    "assignee": "assignee",
                    "department": "department",
                    "priority": "priority",
                    "charge": "charge",
                    "refund": "refund",
                    "removed": "removed",
                    "restored": "restored",
                    "archived": "archived",
                    "sla": "sla",
                    "automation": "automation",
                    "rating": "rating",
                    "message_deleted": "message_deleted",
                    "request": "request",
                    "tag_added": "tag_added",
                    "tag_removed": "tag_removed",
                    "merged_into": "merged_into",
                    "merged_from": "merged_from",
                },
            )
        },
        old_params={
            "choices": Enum(
                "Kind",
                {
                    "opened": "opened",
                    "status": "status",
                    "assignee": "assignee",
                    "department": "department",
                    "priority": "priority",
                    "charge": "charge",
                    "refund": "refund",
                    "removed": "removed",
                    "restored": "restored",
                    "archived": "archived",
                    "sla": "sla",
                    "automation": "automation",
                    "rating": "rating",
                    "message_deleted": "message_deleted",
                    "request": "request",
                    "merged_into": "merged_into",
                    "merged_from": "merged_from",
                },
            )
        },
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    return manager
