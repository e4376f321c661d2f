"""The open-ticket counters behind the desk's badges and queue totals follow every
write path (the triggers of billdesk.open_counts), and the queue's other totals stop
counting at 1,000."""

from __future__ import annotations

from piccolo.query.functions.aggregate import Count

from billdesk import open_counts, queues
from billdesk.tables import Ticket
from billdesk.tickets import close_ticket, reply_as_customer, reply_as_staff
from tests.desk_support import bearer, make_desk_ticket, make_world
from tests.factories import as_current, make_ticket


async def _counted_by_hand() -> dict[int, int]:
    rows = await (
        Ticket.select(Ticket.department, Count(Ticket.id, alias="open"))
        .where(Ticket.status.is_in(list(open_counts.OPEN_STATUSES)) & Ticket.removed_at.is_null())
        .group_by(Ticket.department)
    )
    return {row["department"]: row["open"] for row in rows}


async def _counters() -> dict[int, int]:
    return {key: value for key, value in (await open_counts.open_by_department()).items() if value}


async def test_counters_follow_open_reply_transfer_close_trash_and_restore(client):
    world = await make_world()
    staff, admin = as_current(world.staff), as_current(world.admin)
    tickets = [await make_ticket(world.customer, world.department) for _ in range(3)]
    tickets += [
        await make_desk_ticket(customer_id=world.customer.id, department_id=world.department)
        for _ in range(2)
    ]
    assert await _counters() == {world.department: 6, world.other_department: 1}

    await reply_as_staff(
        ticket_id=tickets[0], author=staff, body="Looking", internal=False, files=[]
    )
    await reply_as_customer(
        ticket_id=tickets[0], customer=as_current(world.customer), body="Thanks", files=[]
    )
    await queues.transfer_ticket(
        actor=admin, ticket_id=tickets[1], department_id=world.other_department
    )
    await close_ticket(tickets[2], actor=staff)
    await queues.bulk_action(actor=admin, action="remove", ticket_ids=[tickets[3], tickets[4]])
    await queues.restore_ticket(actor=admin, ticket_id=tickets[4])
    await make_desk_ticket(
        customer_id=world.customer.id, department_id=world.department, status="awaiting_payment"
    )
    await Ticket.delete().where(Ticket.id == world.other_ticket)

    expected = {world.department: 3, world.other_department: 1}
    assert await _counters() == expected == await _counted_by_hand()
    await open_counts.recount()
    assert await _counters() == expected

    # What staff see: the badges and GET /desk/counts read the counters.
    answer = await client.get("/api/v1/desk/counts", headers=await bearer(world.staff))
    assert [item["open"] for item in answer.json()["items"]] == [3]


async def test_queue_totals_are_exact_from_counters_and_capped_otherwise(client, monkeypatch):
    world = await make_world()
    for n in range(4):
        await make_desk_ticket(
            customer_id=world.customer.id, department_id=world.department, subject=f"Disk {n}"
        )
    headers = await bearer(world.staff)

    default = (await client.get("/api/v1/desk/tickets", headers=headers)).json()
    assert (default["total"], default["total_capped"]) == (5, False)

    # Any other filter counts, but stops at the cap (1,000; 3 here).
    monkeypatch.setattr(queues, "TOTAL_CAP", 3)
    unassigned = (await client.get("/api/v1/desk/tickets?assignee=none", headers=headers)).json()
    assert (unassigned["total"], unassigned["total_capped"], len(unassigned["items"])) == (
        3,
        True,
        5,
    )
    one = (await client.get(f"/api/v1/desk/tickets?id={world.ticket}", headers=headers)).json()
    assert (one["total"], one["total_capped"]) == (1, False)
