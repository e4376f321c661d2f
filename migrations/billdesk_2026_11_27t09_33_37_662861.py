from enum import Enum

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar

ID = "2026-11-27T09:33:37:662861"
VERSION = "1.38.0"
DESCRIPTION = ""


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="billdesk", description=DESCRIPTION
    )

    manager.alter_column(
        table_class_name="Notification",
        tablename="notifications",
        column_name="kind",
        db_column_name="kind",
        params={
            "choices": Enum(
                "Kind",
                {
                    "reply_received": "reply_received",
                    "ticket_solved": "ticket_solved",
                    "payment_failed": "payment_failed",
                    "payment_succeeded": "payment_succeeded",
                    "refund_issued": "refund_issued",
                    "sla_at_risk": "sla_at_risk",
                    "sla_breached": "sla_breached",
                    "inactivity_reminder": "inactivity_reminder",
                    "rating_request": "rating_request",
                    "ticket_opened": "ticket_opened",
                    "request_decided": "request_decided",
                    "webhook_disabled": "webhook_disabled",
                },
            )
        },
        old_params={
            "choices": Enum(
                "Kind",
                {
                    "reply_received": "reply_received",
                    "ticket_solved": "ticket_solved",
                    "payment_failed": "payment_failed",
                    "payment_succeeded": "payment_succeeded",
                    "refund_issued": "refund_issued",
                    "sla_at_risk": "sla_at_risk",
                    "sla_breached": "sla_breached",
                    "inactivity_reminder": "inactivity_reminder",
                    "rating_request": "rating_request",
                },
            )
        },
        column_class=Varchar,
        old_column_class=Varchar,
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
                },
            )
        },
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    return manager
