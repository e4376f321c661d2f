"""Who else has a ticket open at the desk, so two agents do not answer it at once.

Each open ticket page says "I am here" every few seconds (`mark_viewing`); whoever
did so in the last VIEWING_WINDOW is shown to the others, with whether they are
writing a reply. The reply itself is guarded separately: see `reply_as_staff`'s
`last_seen_message_id`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from billdesk import clock
from billdesk.auth import CurrentUser
from billdesk.tables import Message, TicketViewer

VIEWING_WINDOW = timedelta(seconds=30)
HEARTBEAT_SECONDS = 10


async def mark_viewing(user: CurrentUser, ticket_id: int, *, typing: bool = False) -> None:
    """Record that `user` has the ticket open now (the caller checked they may see it)."""
    await TicketViewer.raw(
        'INSERT INTO ticket_viewers (key, ticket, "user", seen_at, typing) '
        "VALUES ({}, {}, {}, {}, {}) ON CONFLICT (key) DO UPDATE SET "
        "seen_at = excluded.seen_at, typing = excluded.typing",
        f"{ticket_id}:{user.id}",
        ticket_id,
        user.id,
        clock.now(),
        typing,
    )


async def other_viewers(user: CurrentUser, ticket_id: int) -> list[dict[str, Any]]:
    """The others who had the ticket open within the window, by name: {id, name, typing}."""
    rows = (
        await TicketViewer.select(TicketViewer.user.id, TicketViewer.user.name, TicketViewer.typing)
        .where(
            (TicketViewer.ticket == ticket_id)
            & (TicketViewer.user != user.id)
            & (TicketViewer.seen_at > clock.now() - VIEWING_WINDOW)
        )
        .order_by(TicketViewer.user.name)
    )
    return [
        {"id": row["user.id"], "name": row["user.name"], "typing": row["typing"]} for row in rows
    ]


async def newest_message_id(ticket_id: int) -> int | None:
    """The id of the ticket's newest message, to tell an open page that something arrived."""
    row = (
        await Message.select(Message.id)
        .where(
            (Message.ticket == ticket_id) & (Message.deleted == False)  # noqa: E712
        )
        .order_by(Message.id, ascending=False)
        .first()
    )
    return row["id"] if row else None


async def heartbeat(user: CurrentUser, ticket_id: int, *, typing: bool = False) -> dict[str, Any]:
    """Mark the user as viewing and answer who else is, and the newest message's id."""
    await mark_viewing(user, ticket_id, typing=typing)
    return {
        "viewers": await other_viewers(user, ticket_id),
        "last_message_id": await newest_message_id(ticket_id),
        "refresh_seconds": HEARTBEAT_SECONDS,
    }


async def forget_old_viewers() -> None:
    """Delete presence rows older than an hour (the hourly `desk.forget_viewers` job)."""
    await TicketViewer.delete().where(TicketViewer.seen_at < clock.now() - timedelta(hours=1))
