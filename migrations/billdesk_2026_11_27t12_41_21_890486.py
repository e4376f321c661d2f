"""A merged ticket points at the ticket it was merged into; the history names both sides."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from enum import Enum
from piccolo.columns.base import OnDelete
from piccolo.columns.base import OnUpdate
from piccolo.columns.column_types import ForeignKey
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-27T12:41:21:890486"
VERSION = "1.38.0"
DESCRIPTION = "merged tickets"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="billdesk", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="Ticket",
        tablename="tickets",
        column_name="merged_into",
        db_column_name="merged_into",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": "self",
            "on_delete": OnDelete.set_null,
            "on_update": OnUpdate.cascade,
            "target_column": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": True,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
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
                },
            )
        },
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    return manager
