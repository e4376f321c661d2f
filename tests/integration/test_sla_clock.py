"""Each ticket's service-level clock, with a clock the tests control: it runs while the
ticket waits for support, pauses while it waits for the customer, starts only once a
paid ticket is paid, and takes new targets with a new priority."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billdesk.sla import policy
from billdesk.tables import NEVER, Ticket, TicketEvent
from billdesk.tickets import close_ticket, record_event, reply_as_customer, reply_as_staff
from billdesk.tickets.lifecycle import write_transaction
from tests.factories import add_member, as_current, make_department, make_ticket, make_user

# The `clock` fixture starts on Monday 2 November 2026, 09:00 UTC: 10:00 in Berlin.
OFFICE = {
    "timezone": "Europe/Berlin",
    "always": False,
    "week": {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
}
TARGETS = {
    "normal": {"first_response": 60, "next_response": 120, "resolution": 480},
    "urgent": {"first_response": 15, "next_response": 30, "resolution": 120},
}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
async def desk():
    department = await make_department(free_tickets=None)
    await policy.set_service_level(department, {"hours": OFFICE, "targets": TARGETS})
    customer, agent = await make_user(), await make_user(role="staff")
    await add_member(department_id=department, user_id=agent.id)
    return department, customer, agent


async def row(ticket_id: int) -> dict:
    found = await Ticket.select().where(Ticket.id == ticket_id).first()
    assert found is not None
    return found


async def api_ticket(client, agent, ticket_id: int) -> dict:
    from tests.factories import make_token

    token = await make_token(agent)
    answer = await client.get(
        f"/api/v1/desk/tickets/{ticket_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_the_clock_runs_pauses_and_resumes_as_the_ticket_moves(clock, desk, client):
    department, customer, agent = desk
    ticket_id = await make_ticket(customer, department)
    opened = await row(ticket_id)
    assert opened["clock_started_at"] == utc(2026, 11, 2, 9, 0)
    assert opened["first_response_due_at"] == utc(2026, 11, 2, 10, 0)  # 11:00 Berlin
    # Eight business hours: seven on Monday, one on Tuesday morning.
    assert opened["resolution_due_at"] == utc(2026, 11, 3, 9, 0)
    shown = await api_ticket(client, agent, ticket_id)
    assert shown["first_response_due_at"] == "2026-11-02T10:00:00Z"
    assert shown["resolution_due_at"] == "2026-11-03T09:00:00Z"
    assert shown["sla"] == {
        "state": "ok",
        "due_at": "2026-11-02T10:00:00Z",
        "target": "first_response",
    }

    clock.advance(timedelta(minutes=48))  # 80 % of the hour
    assert (await api_ticket(client, agent, ticket_id))["sla"]["state"] == "at_risk"
    clock.advance(timedelta(minutes=12))
    assert (await api_ticket(client, agent, ticket_id))["sla"]["state"] == "breached"

    # A customer's second message changes nothing: the ticket still waits for support.
    await reply_as_customer(
        ticket_id=ticket_id, customer=as_current(customer), body="Any news?", files=[]
    )
    assert (await row(ticket_id))["first_response_due_at"] == utc(2026, 11, 2, 10, 0)

    clock.advance(timedelta(minutes=30))  # 10:30 UTC: answered 90 business minutes in
    await reply_as_staff(ticket_id, as_current(agent), "Looking into it")
    paused = await row(ticket_id)
    assert paused["first_response_at"] == utc(2026, 11, 2, 10, 30)
    assert paused["first_response_seconds"] == 90 * 60
    assert paused["first_response_met"] is False
    assert paused["clock_running_since"] is None
    assert paused["clock_elapsed_seconds"] == 90 * 60
    assert paused["due_at"] == NEVER and paused["resolution_due_at"] is None
    shown = await api_ticket(client, agent, ticket_id)
    assert shown["sla"] == {"state": "ok", "due_at": None, "target": None}

    # Waiting for the customer over the night and the next morning: the clock stands still.
    clock.advance(timedelta(hours=24))  # Tuesday 10:30 UTC, 11:30 Berlin
    await reply_as_customer(
        ticket_id=ticket_id, customer=as_current(customer), body="Still down", files=[]
    )
    resumed = await row(ticket_id)
    assert resumed["clock_running_since"] == utc(2026, 11, 3, 10, 30)
    assert resumed["next_response_due_at"] == utc(2026, 11, 3, 12, 30)  # + 120 minutes
    # 480 - 90 = 390 business minutes left: 5.5 h on Tuesday, one more on Wednesday.
    assert resumed["resolution_due_at"] == utc(2026, 11, 4, 9, 0)
    assert resumed["due_at"] == utc(2026, 11, 3, 12, 30)
    assert resumed["due_kind"] == "next_response"

    clock.advance(timedelta(minutes=45))
    await close_ticket(ticket_id, as_current(agent))
    solved = await row(ticket_id)
    assert solved["solved_at"] == utc(2026, 11, 3, 11, 15)
    assert solved["resolution_seconds"] == (90 + 45) * 60
    assert solved["resolution_met"] is True
    assert solved["due_at"] == NEVER


async def test_the_clock_does_not_start_before_payment(clock, desk):
    department, customer, _ = desk
    rows = await Ticket.insert(
        Ticket(
            customer=customer.id,
            department=department,
            subject="Paid",
            status="awaiting_payment",
            created_at=clock.now(),
            last_message_at=clock.now(),
        )
    ).returning(Ticket.id)
    ticket_id = rows[0]["id"]
    async with write_transaction():
        await record_event(
            ticket_id=ticket_id,
            kind=TicketEvent.Kind.opened,
            actor_id=customer.id,
            new_value="awaiting_payment",
        )
    waiting = await row(ticket_id)
    assert waiting["clock_started_at"] is None and waiting["due_at"] == NEVER

    clock.advance(timedelta(hours=3))  # paid at 12:00 UTC, 13:00 Berlin
    async with write_transaction():  # as billdesk.payments moves a paid ticket
        await record_event(
            ticket_id=ticket_id,
            kind=TicketEvent.Kind.status,
            actor_id=None,
            old_value="awaiting_payment",
            new_value="in_progress",
        )
        await Ticket.update({Ticket.status: "in_progress"}).where(Ticket.id == ticket_id)
    paid = await row(ticket_id)
    assert paid["sla_paid"] is True
    assert paid["clock_started_at"] == utc(2026, 11, 2, 12, 0)
    assert paid["first_response_due_at"] == utc(2026, 11, 2, 13, 0)


async def test_paid_tickets_take_their_own_targets(clock, desk):
    department, customer, _ = desk
    await policy.set_service_level(
        department, {"paid_targets": {"normal": {"first_response": 10, "resolution": 60}}}
    )
    rows = await Ticket.insert(
        Ticket(
            customer=customer.id, department=department, subject="Paid", status="awaiting_payment"
        )
    ).returning(Ticket.id)
    ticket_id = rows[0]["id"]
    async with write_transaction():
        await record_event(
            ticket_id=ticket_id,
            kind=TicketEvent.Kind.status,
            actor_id=None,
            old_value="awaiting_payment",
            new_value="in_progress",
        )
    paid = await row(ticket_id)
    assert paid["first_response_due_at"] == utc(2026, 11, 2, 9, 10)
    assert paid["resolution_due_at"] == utc(2026, 11, 2, 10, 0)
    assert paid["next_response_due_at"] is None


async def test_a_new_priority_takes_the_new_targets(clock, desk, client):
    department, customer, agent = desk
    ticket_id = await make_ticket(customer, department)
    from billdesk.queues import set_priority

    clock.advance(timedelta(minutes=5))
    await set_priority(actor=as_current(agent), ticket_id=ticket_id, priority="urgent")
    urgent = await row(ticket_id)
    assert urgent["first_response_due_at"] == utc(2026, 11, 2, 9, 15)
    assert urgent["resolution_due_at"] == utc(2026, 11, 2, 11, 0)


async def test_round_the_clock_counts_every_minute(clock):
    department = await make_department(free_tickets=None)
    await policy.set_service_level(
        department, {"hours": {"always": True}, "targets": {"normal": {"first_response": 600}}}
    )
    customer = await make_user()
    clock.freeze(utc(2026, 11, 7, 22, 0))  # a Saturday night
    ticket_id = await make_ticket(customer, department)
    assert (await row(ticket_id))["first_response_due_at"] == utc(2026, 11, 8, 8, 0)


async def test_a_department_without_a_service_level_promises_nothing(clock):
    department = await make_department(free_tickets=None)
    ticket_id = await make_ticket(await make_user(), department)
    found = await row(ticket_id)
    assert found["clock_started_at"] == utc(2026, 11, 2, 9, 0)
    assert found["first_response_due_at"] is None and found["due_at"] == NEVER
