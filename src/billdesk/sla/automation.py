"""Auto-close: per department, a ticket left "Waiting for your reply" for N days is
solved, after a reminder to the customer one day before; its history says it was closed
for inactivity. N = 0 (the default) turns it off.

The periodic job `sla.auto_close` runs every 15 minutes. A ticket's waiting time counts
from its last public message (`last_message_at`, indexed with `status`); a customer's
answer takes it out of waiting, and a new staff reply starts the count again, so a
reminder only counts when it was sent after the last message.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from billdesk import clock, formatting, jobs, notifications, outbox
from billdesk.i18n import tr, tr_n
from billdesk.tables import ServiceLevel, Ticket, TicketEvent
from billdesk.tickets.lifecycle import (
    Action,
    locked_row,
    move_status,
    record_event,
    write_transaction,
)

log = logging.getLogger("billdesk.sla")

INACTIVITY_REMINDER = "ticket.inactivity_reminder"  # closes_at
BATCH = 500
WAITING = Ticket.Status.waiting_for_reply.value


@jobs.periodic("sla.auto_close", every=timedelta(minutes=15))
async def auto_close_waiting() -> None:
    """Remind, then close, the tickets waiting too long in every department that asks."""
    departments = await ServiceLevel.select(
        ServiceLevel.department, ServiceLevel.auto_close_days
    ).where(ServiceLevel.auto_close_days > 0)
    for department in departments:
        await auto_close_department(department["department"], department["auto_close_days"])


async def auto_close_department(department_id: int, days: int) -> tuple[int, int]:
    """(reminded, closed) in one department."""
    now = clock.now()
    remind_from = now - timedelta(days=max(days - 1, 0))
    reminded = closed = 0
    rows = await (
        Ticket.select(Ticket.id)
        .where(
            (Ticket.department == department_id)
            & (Ticket.status == WAITING)
            & Ticket.removed_at.is_null()
            & (Ticket.last_message_at <= remind_from)
        )
        .order_by(Ticket.last_message_at)
        .limit(BATCH)
    )
    for row in rows:
        async with write_transaction():
            outcome = await _remind_or_close(row["id"], days, now)
        reminded += outcome == "reminded"
        closed += outcome == "closed"
    return reminded, closed


def _reminded_for_this_wait(ticket: dict[str, Any]) -> bool:
    return ticket["reminded_at"] is not None and ticket["reminded_at"] >= ticket["last_message_at"]


async def _remind_or_close(ticket_id: int, days: int, now: datetime) -> str:
    ticket = await locked_row(Ticket, ticket_id)
    if ticket is None or ticket["status"] != WAITING or ticket["removed_at"] is not None:
        return ""
    waiting_since = ticket["last_message_at"]
    if not _reminded_for_this_wait(ticket):
        if waiting_since > now - timedelta(days=max(days - 1, 0)):
            return ""
        closes_at = max(waiting_since + timedelta(days=days), now + timedelta(days=1))
        await Ticket.update({Ticket.reminded_at: now}).where(Ticket.id == ticket_id)
        await record_event(
            ticket_id=ticket_id,
            kind=TicketEvent.Kind.automation,
            actor_id=None,
            new_value=f"reminder sent: closes for inactivity on {closes_at:%Y-%m-%d %H:%M} UTC",
            text=tr(
                "Reminder sent: the ticket closes for inactivity on %(when)s",
                when=formatting.LocalMoment(closes_at),
            ),
        )
        await notifications.notify(
            user_id=ticket["customer"],
            kind=notifications.Kind.inactivity_reminder,
            ticket_id=ticket_id,
            text=tr(
                "#%(id)s waits for your reply and closes on %(day)s: %(subject)s",
                id=ticket_id,
                day=formatting.LocalDay(closes_at.date()),
                subject=ticket["subject"],
            ),
        )
        await outbox.publish(
            INACTIVITY_REMINDER, ticket_id=ticket_id, closes_at=f"{closes_at:%Y-%m-%d %H:%M} UTC"
        )
        return "reminded"
    if waiting_since > now - timedelta(days=days) or ticket["reminded_at"] > now - timedelta(
        days=1
    ):
        return ""
    new = await move_status(ticket, Action.close, None)
    await Ticket.update({Ticket.status: new}).where(Ticket.id == ticket_id)
    await record_event(
        ticket_id=ticket_id,
        kind=TicketEvent.Kind.automation,
        actor_id=None,
        new_value=f"closed for inactivity after {days} day{'s' if days != 1 else ''} "
        "waiting for the customer",
        text=tr_n(
            "Closed for inactivity after %(num)s day waiting for the customer",
            "Closed for inactivity after %(num)s days waiting for the customer",
            days,
        ),
    )
    await notifications.notify(
        user_id=ticket["customer"],
        kind=notifications.Kind.ticket_solved,
        ticket_id=ticket_id,
        text=tr_n(
            "#%(id)s was closed after %(num)s day without your reply: %(subject)s",
            "#%(id)s was closed after %(num)s days without your reply: %(subject)s",
            days,
            id=ticket_id,
            subject=ticket["subject"],
        ),
    )
    log.info("ticket %s closed for inactivity", ticket_id)
    return "closed"
