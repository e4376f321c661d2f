"""With a clock the tests control: a ticket goes at risk, then breached; the people
responsible are told once each time (in-app and by mail) and the history records it; the
department's rule raises the priority or reassigns."""

from __future__ import annotations

from datetime import timedelta

from billdesk import jobs
from billdesk.queues import assign_ticket
from billdesk.sla import policy
from billdesk.sla.escalation import escalate_due
from billdesk.tables import Notification, OutgoingMail, Ticket, TicketEvent
from tests.factories import add_member, as_current, make_department, make_ticket, make_user


async def setup_department(**level):
    department = await make_department(free_tickets=None)
    await policy.set_service_level(
        department,
        {"targets": {"normal": {"first_response": 60, "resolution": 600}}, **level},
    )
    customer = await make_user()
    agents = [await make_user(role="staff") for _ in range(2)]
    for agent in agents:
        await add_member(department_id=department, user_id=agent.id)
    return department, customer, agents


async def told(user_id: int) -> list[str]:
    rows = await Notification.select(Notification.kind).where(Notification.user == user_id)
    return sorted(row["kind"] for row in rows)


async def sla_history(ticket_id: int) -> list[str]:
    rows = await (
        TicketEvent.select(TicketEvent.new_value)
        .where((TicketEvent.ticket == ticket_id) & (TicketEvent.kind == "sla"))
        .order_by(TicketEvent.id)
    )
    return [row["new_value"] for row in rows]


async def test_the_assignee_is_told_once_at_risk_and_once_breached(clock, mailbox):
    department, customer, (agent, colleague) = await setup_department()
    ticket_id = await make_ticket(customer, department)
    await assign_ticket(actor=as_current(agent), ticket_id=ticket_id, assignee_id=agent.id)

    clock.advance(timedelta(minutes=47))
    await escalate_due()
    assert await told(agent.id) == []

    clock.advance(timedelta(minutes=1))  # 80 % of the hour
    await escalate_due()
    await escalate_due()
    assert await told(agent.id) == ["sla_at_risk"]
    assert await sla_history(ticket_id) == ["first response at risk (due 2026-11-02 10:00 UTC)"]

    clock.advance(timedelta(minutes=12))
    await escalate_due()
    clock.advance(timedelta(minutes=5))
    await escalate_due()
    assert await told(agent.id) == ["sla_at_risk", "sla_breached"]
    assert await told(colleague.id) == []  # the assignee has it
    assert await sla_history(ticket_id) == [
        "first response at risk (due 2026-11-02 10:00 UTC)",
        "first response breached (due 2026-11-02 10:00 UTC)",
    ]
    await jobs.drain()
    mails = await OutgoingMail.select(OutgoingMail.to_address, OutgoingMail.subject).where(
        OutgoingMail.kind == "sla_escalation"
    )
    assert [mail["to_address"] for mail in mails] == [agent.email, agent.email]
    assert all(mail["subject"].startswith(f"[#{ticket_id}] Service level alert") for mail in mails)


async def test_an_unassigned_ticket_tells_the_department_and_a_late_look_tells_breach_only(clock):
    department, customer, agents = await setup_department()
    ticket_id = await make_ticket(customer, department)
    clock.advance(timedelta(hours=2))  # the job was down: already past due
    await escalate_due()
    for agent in agents:
        assert await told(agent.id) == ["sla_breached"]
    assert await sla_history(ticket_id) == ["first response breached (due 2026-11-02 10:00 UTC)"]


async def test_a_staff_reply_in_time_tells_nobody(clock):
    department, customer, (agent, _) = await setup_department()
    ticket_id = await make_ticket(customer, department)
    clock.advance(timedelta(minutes=30))
    from billdesk.tickets import reply_as_staff

    await reply_as_staff(ticket_id, as_current(agent), "On it")
    clock.advance(timedelta(hours=3))
    await escalate_due()
    assert await told(agent.id) == [] and await sla_history(ticket_id) == []


async def test_the_rule_raises_the_priority_when_breached(clock):
    department, customer, _agents = await setup_department(rule="raise_priority")
    ticket_id = await make_ticket(customer, department)
    clock.advance(timedelta(minutes=50))
    await escalate_due()
    assert (await Ticket.select(Ticket.priority).where(Ticket.id == ticket_id).first())[
        "priority"
    ] == "normal"  # at risk: the rule acts when breached
    clock.advance(timedelta(minutes=15))
    await escalate_due()
    row = (
        await Ticket.select(Ticket.priority, Ticket.priority_rank)
        .where(Ticket.id == ticket_id)
        .first()
    )
    assert row == {"priority": "high", "priority_rank": 2}
    changes = await TicketEvent.select(TicketEvent.old_value, TicketEvent.new_value).where(
        (TicketEvent.ticket == ticket_id) & (TicketEvent.kind == "priority")
    )
    assert changes == [{"old_value": "normal", "new_value": "high"}]


async def test_the_rule_reassigns_when_at_risk(clock):
    department, customer, (agent, colleague) = await setup_department()
    await policy.set_service_level(
        department, {"rule": "reassign", "rule_stage": "at_risk", "reassign_to_id": colleague.id}
    )
    ticket_id = await make_ticket(customer, department)
    await assign_ticket(actor=as_current(agent), ticket_id=ticket_id, assignee_id=agent.id)
    clock.advance(timedelta(minutes=50))
    await escalate_due()
    row = await Ticket.select(Ticket.assignee).where(Ticket.id == ticket_id).first()
    assert row["assignee"] == colleague.id
    assert await told(colleague.id) == ["sla_at_risk"] and await told(agent.id) == []
