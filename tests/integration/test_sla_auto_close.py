"""Auto-close: a ticket left waiting for the customer is reminded one day before, then
solved for inactivity, once; not when the customer answered in between; never when off."""

from __future__ import annotations

from datetime import timedelta

from billdesk import jobs
from billdesk.sla import policy
from billdesk.sla.automation import auto_close_waiting
from billdesk.tables import Notification, OutgoingMail, Ticket, TicketEvent
from billdesk.tickets import reply_as_customer, reply_as_staff
from tests.factories import add_member, as_current, make_department, make_ticket, make_user


async def waiting_ticket(days: int):
    department = await make_department(free_tickets=None)
    await policy.set_service_level(department, {"auto_close_days": days})
    customer, agent = await make_user(), await make_user(role="staff")
    await add_member(department_id=department, user_id=agent.id)
    ticket_id = await make_ticket(customer, department)
    await reply_as_staff(ticket_id, as_current(agent), "Does it work now?")
    return ticket_id, customer, agent


async def status(ticket_id: int) -> str:
    row = await Ticket.select(Ticket.status).where(Ticket.id == ticket_id).first()
    return row["status"]


async def automation_history(ticket_id: int) -> list[str]:
    rows = await (
        TicketEvent.select(TicketEvent.new_value)
        .where((TicketEvent.ticket == ticket_id) & (TicketEvent.kind == "automation"))
        .order_by(TicketEvent.id)
    )
    return [row["new_value"] for row in rows]


async def test_reminded_one_day_before_then_closed_once(clock):
    ticket_id, customer, _ = await waiting_ticket(3)
    clock.advance(timedelta(days=2) - timedelta(minutes=1))
    await auto_close_waiting()
    assert await automation_history(ticket_id) == []

    clock.advance(timedelta(minutes=1))
    await auto_close_waiting()
    await auto_close_waiting()
    assert await automation_history(ticket_id) == [
        "reminder sent: closes for inactivity on 2026-11-05 09:00 UTC"
    ]
    await jobs.drain()
    reminders = await OutgoingMail.select(OutgoingMail.to_address).where(
        OutgoingMail.kind == "inactivity_reminder"
    )
    assert reminders == [{"to_address": customer.email}]

    clock.advance(timedelta(hours=23))
    await auto_close_waiting()
    assert await status(ticket_id) == "waiting_for_reply"
    clock.advance(timedelta(hours=1))
    await auto_close_waiting()
    await auto_close_waiting()
    assert await status(ticket_id) == "solved"
    assert await automation_history(ticket_id) == [
        "reminder sent: closes for inactivity on 2026-11-05 09:00 UTC",
        "closed for inactivity after 3 days waiting for the customer",
    ]
    statuses = await TicketEvent.select(TicketEvent.new_value, TicketEvent.actor).where(
        (TicketEvent.ticket == ticket_id) & (TicketEvent.kind == "status")
    )
    assert statuses[-1] == {"new_value": "solved", "actor": None}
    kinds = await Notification.select(Notification.kind).where(Notification.user == customer.id)
    assert [row["kind"] for row in kinds].count("inactivity_reminder") == 1
    await jobs.drain()
    assert await OutgoingMail.count().where(OutgoingMail.kind == "rating_request") == 1


async def test_a_customer_answer_in_between_keeps_the_ticket_open(clock):
    ticket_id, customer, agent = await waiting_ticket(3)
    clock.advance(timedelta(days=2))
    await auto_close_waiting()  # reminded
    clock.advance(timedelta(hours=2))
    await reply_as_customer(
        ticket_id=ticket_id, customer=as_current(customer), body="Not yet", files=[]
    )
    clock.advance(timedelta(days=2))
    await auto_close_waiting()
    assert await status(ticket_id) == "in_progress"

    # Support answers again: the count starts over, with a new reminder before closing.
    await reply_as_staff(ticket_id, as_current(agent), "Try now?")
    clock.advance(timedelta(days=1))
    await auto_close_waiting()
    assert await status(ticket_id) == "waiting_for_reply"
    assert len(await automation_history(ticket_id)) == 1
    clock.advance(timedelta(days=1))
    await auto_close_waiting()
    assert len(await automation_history(ticket_id)) == 2  # the second reminder
    assert await status(ticket_id) == "waiting_for_reply"


async def test_zero_days_never_closes(clock):
    ticket_id, _, _ = await waiting_ticket(0)
    clock.advance(timedelta(days=400))
    await auto_close_waiting()
    assert await status(ticket_id) == "waiting_for_reply"
    assert await automation_history(ticket_id) == []
