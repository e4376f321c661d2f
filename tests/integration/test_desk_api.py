"""The desk's JSON API: queues with their filters, the ticket, actions, bulk, templates."""

from __future__ import annotations

from tests.desk_support import bearer, make_desk_ticket, make_world


async def test_queue_shows_only_open_tickets_of_my_departments(client):
    world = await make_world()
    await make_desk_ticket(customer_id=world.customer.id, department_id=world.department,
                           status="awaiting_payment", subject="Unpaid")
    await make_desk_ticket(customer_id=world.customer.id, department_id=world.department,
                           removed=True, subject="Trashed")
    solved = await make_desk_ticket(customer_id=world.customer.id,
                                    department_id=world.department, status="solved")
    answer = await client.get("/api/v1/desk/tickets", headers=await bearer(world.staff))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [item["id"] for item in body["items"]] == [world.ticket]
    assert body["total"] == 1 and body["next_cursor"] is None
    item = body["items"][0]
    assert item["department"]["id"] == world.department
    assert item["customer"]["name"] == "Carla Customer"
    assert item["created_at"].endswith("Z")
    solved_only = await client.get(
        "/api/v1/desk/tickets?status=solved", headers=await bearer(world.staff)
    )
    assert [item["id"] for item in solved_only.json()["items"]] == [solved]
    everything = await client.get("/api/v1/desk/tickets", headers=await bearer(world.admin))
    assert {item["id"] for item in everything.json()["items"]} == {
        world.ticket, world.other_ticket
    }
