"""The counts shown in the navigation, per role, in as few queries as the role needs."""

from __future__ import annotations

import zlib
from typing import Any

from billdesk import queue_changes
from billdesk.auth import CurrentUser
from billdesk.i18n import tr
from billdesk.settings import get_settings
from billdesk.sql import Statement
from billdesk.tables import Ticket

_UNREAD_NOTIFICATIONS = Statement(
    'SELECT COUNT(*) AS n FROM notifications WHERE "user" = :user AND "read" = :read'
)
"""The navigation's badge, on every page (billdesk.sql)."""

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
    """Open tickets per active department the user works in (every department for admins)."""
    from billdesk.queues import user_departments

    # The counters kept by the database (billdesk.open_counts): no ticket is read.
    return [
        {"department_id": row["id"], "name": row["name"], "open": row["open"]}
        for row in await user_departments(user)
        if row["active"]
    ]


async def queue_version(user: CurrentUser) -> str:
    """The change stamp of the queues the user works (billdesk.queue_changes), as opaque text.

    It moves with every change of a ticket in those departments and when the user's
    departments change; callers compare it for equality only.
    """
    from billdesk.queues import member_department_ids

    departments = await member_department_ids(user)
    stamp = await queue_changes.stamp(departments)
    if departments is None:
        return str(stamp)
    worked = ",".join(str(department) for department in sorted(departments))
    return f"{stamp}.{zlib.crc32(worked.encode()):x}"


async def desk_live(user: CurrentUser) -> dict[str, Any]:
    """What an open desk page polls: the queue's version and the open tickets per department.

    The version is read first, so rows fetched after it are at least as new as it says.
    """
    from billdesk.queues import reads_once_per_page

    with reads_once_per_page():
        version = await queue_version(user)
        return {
            "version": version,
            "counts": await desk_counts(user),
            "refresh_seconds": get_settings().live_queue_seconds,
        }


async def navigation_counts(user: CurrentUser | None) -> dict[str, Any]:
    nav: dict[str, Any] = {"open_tickets": 0, "unread_notifications": 0, "desk_counts": []}
    if user is None:
        return nav
    unread = await _UNREAD_NOTIFICATIONS.first(user=user.id, read=False)
    nav["unread_notifications"] = unread["n"] if unread else 0
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
        nav["live_seconds"] = get_settings().live_queue_seconds
    return nav
