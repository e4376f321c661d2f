"""Writes queued in `billdesk.sql.batched_writes()` reach PostgreSQL as one statement and
land exactly as if each had been sent alone: a query in the block sees every write
before it, a row written twice keeps both writes, a block that fails writes nothing.
SQLite runs each write at once; the rows must come out the same on both engines."""

from __future__ import annotations

from typing import Any

import pytest

from billdesk.db import DB
from billdesk.notifications import notify
from billdesk.payments.states import update_row
from billdesk.sql import Statement, batched_writes
from billdesk.tables import Notification, Ticket, TicketEvent
from billdesk.tickets.lifecycle import record_event, write_transaction
from tests.factories import make_department, make_ticket, make_user

ON_POSTGRES = DB.engine_type == "postgres"


@pytest.fixture
def sent(monkeypatch) -> list[str]:
    """The SQL of every statement sent to the database, in order."""
    statements: list[str] = []
    engine = type(DB)
    run = engine._run

    async def counted(self: Any, sql: str, args: Any) -> Any:
        statements.append(sql)
        return await run(self, sql, args)

    monkeypatch.setattr(engine, "_run", counted)
    return statements


async def a_ticket() -> tuple[int, int]:
    customer = await make_user()
    return customer.id, await make_ticket(customer, await make_department())


async def history(ticket_id: int) -> list[str]:
    rows = await TicketEvent.select(TicketEvent.new_value).where(
        TicketEvent.ticket == ticket_id
    ).order_by(TicketEvent.id)
    return [row["new_value"] for row in rows]


async def test_queued_writes_go_in_one_statement_and_all_land(sent):
    customer_id, ticket_id = await a_ticket()
    before = await history(ticket_id)
    async with write_transaction(), batched_writes():
        sent.clear()
        await update_row("tickets", ticket_id, {"priority": "high"})
        await record_event(ticket_id=ticket_id, kind=TicketEvent.Kind.charge, actor_id=None,
                           new_value="first line")
        await record_event(ticket_id=ticket_id, kind=TicketEvent.Kind.charge, actor_id=None,
                           new_value="second line")
        await notify(user_id=customer_id, kind=Notification.Kind.payment_succeeded,
                     ticket_id=ticket_id, text="Paid", language="en")
        queued = list(sent)
    assert len(queued) == (0 if ON_POSTGRES else 4)  # on PostgreSQL nothing went yet
    if ON_POSTGRES:
        assert len(sent) == 1 and sent[0].startswith("WITH written_1 AS (UPDATE tickets")
    ticket = await Ticket.select(Ticket.priority).where(Ticket.id == ticket_id).first()
    assert ticket["priority"] == "high"
    assert await history(ticket_id) == [*before, "first line", "second line"]
    assert await Notification.count().where(Notification.ticket == ticket_id) == 1


async def test_a_query_in_the_block_sees_the_writes_queued_before_it():
    _, ticket_id = await a_ticket()
    async with write_transaction(), batched_writes():
        await update_row("tickets", ticket_id, {"priority": "urgent"})
        await record_event(ticket_id=ticket_id, kind=TicketEvent.Kind.charge, actor_id=None,
                           new_value="seen")
        seen = await Ticket.select(Ticket.priority).where(Ticket.id == ticket_id).first()
        lines = await history(ticket_id)
    assert seen["priority"] == "urgent"
    assert lines[-1] == "seen"


async def test_a_row_written_twice_in_a_block_keeps_both_writes(sent):
    _, ticket_id = await a_ticket()
    async with write_transaction(), batched_writes():
        sent.clear()
        await update_row("tickets", ticket_id, {"subject": "Renamed", "priority": "high"})
        await update_row("tickets", ticket_id, {"priority": "urgent"})
    # One statement cannot change a row twice: the first write went before the second.
    assert len(sent) == 2
    ticket = await Ticket.select(Ticket.subject, Ticket.priority).where(
        Ticket.id == ticket_id
    ).first()
    assert (ticket["subject"], ticket["priority"]) == ("Renamed", "urgent")


async def test_a_block_that_fails_writes_nothing():
    _, ticket_id = await a_ticket()
    before = await history(ticket_id)
    with pytest.raises(RuntimeError, match="refused"):
        async with write_transaction(), batched_writes():
            await update_row("tickets", ticket_id, {"priority": "urgent"})
            await record_event(ticket_id=ticket_id, kind=TicketEvent.Kind.charge, actor_id=None,
                               new_value="never written")
            raise RuntimeError("refused")
    ticket = await Ticket.select(Ticket.priority).where(Ticket.id == ticket_id).first()
    assert ticket["priority"] == "normal"
    assert await history(ticket_id) == before


async def test_a_write_that_fails_in_the_batch_fails_the_block():
    _, ticket_id = await a_ticket()
    with pytest.raises(Exception):  # noqa: B017  # the driver's own error for a missing row
        async with write_transaction(), batched_writes():
            await update_row("tickets", ticket_id, {"priority": "urgent"})
            await record_event(ticket_id=10**9, kind=TicketEvent.Kind.charge, actor_id=None,
                               new_value="for a ticket that does not exist")
    ticket = await Ticket.select(Ticket.priority).where(Ticket.id == ticket_id).first()
    assert ticket["priority"] == "normal"


LINE = (
    "INSERT INTO ticket_events (ticket, actor, kind, old_value, new_value, params, created_at) "
    "VALUES (:ticket, NULL, 'charge', '', :line, '{}', :at)"
)


async def test_rows_of_one_table_keep_the_order_they_were_written_in():
    from billdesk import clock

    _, ticket_id = await a_ticket()
    before = await history(ticket_id)
    one, other = Statement(LINE), Statement(LINE + " RETURNING id")
    async with write_transaction(), batched_writes():
        for line, statement in (("a", one), ("b", one), ("c", other), ("d", one)):
            await statement.write(ticket=ticket_id, line=line, at=clock.now())
    assert await history(ticket_id) == [*before, "a", "b", "c", "d"]


async def test_a_write_of_no_single_row_goes_at_once_after_the_queue():
    customer_id, ticket_id = await a_ticket()
    every_ticket = Statement("UPDATE tickets SET priority = :priority WHERE customer = :customer")
    async with write_transaction(), batched_writes():
        await update_row("tickets", ticket_id, {"priority": "high"})
        await every_ticket.write(priority="urgent", customer=customer_id)
    ticket = await Ticket.select(Ticket.priority).where(Ticket.id == ticket_id).first()
    assert ticket["priority"] == "urgent"
