"""The counts shown in the navigation, per role, in as few queries as the role needs."""

from __future__ import annotations

from typing import Any

from billdesk import open_counts
from billdesk.auth import CurrentUser
from billdesk.i18n import tr
from billdesk.tables import Department, DepartmentMember, Notification, Ticket

OPEN_STATUSES = (Ticket.Status.in_progress.value, Ticket.Status.waiting_for_reply.value)


async def support_enabled() -> bool:
    from billdesk.tables import Setting

    row = await Setting.select(Setting.value).where(Setting.key == "support_enabled").first()
    if row is None:
        return True
    import json

    value = row["value"]
    return bool(json.loads(value) if isinstance(value, str) else value)


async def desk_counts(user: CurrentUser) -> list[dict[str, Any]]:
    """Open tickets per department the user works in (every department for admins)."""
    departments = Department.select(Department.id, Department.name).where(Department.active == True)  # noqa: E712
    if not user.is_admin:
        departments = departments.where(
            Department.id.is_in(
                DepartmentMember.select(DepartmentMember.department).where(
                    DepartmentMember.user == user.id
                )
            )
        )
    rows = await departments.order_by(Department.name)
    # The counters kept by the database (billdesk.open_counts): no ticket is read.
    by_department = await open_counts.open_by_department([row["id"] for row in rows])
    return [
        {"department_id": row["id"], "name": row["name"], "open": by_department.get(row["id"], 0)}
        for row in rows
    ]


async def navigation_counts(user: CurrentUser | None) -> dict[str, Any]:
    nav: dict[str, Any] = {"open_tickets": 0, "unread_notifications": 0, "desk_counts": []}
    if user is None:
        return nav
    nav["unread_notifications"] = await Notification.count().where(
        (Notification.user == user.id) & (Notification.read == False)  # noqa: E712
    )
    if user.is_customer:
        nav["open_tickets"] = await Ticket.count().where(
            (Ticket.customer == user.id)
            & Ticket.status.is_in([*OPEN_STATUSES, Ticket.Status.awaiting_payment.value])
            & Ticket.removed_at.is_null()
        )
        if not await support_enabled():
            nav["support_notice"] = tr(
                "Support is switched off for now: you can read your tickets, "
                "but not open new ones or reply."
            )
    elif user.is_staff:
        nav["desk_counts"] = await desk_counts(user)
    return nav
