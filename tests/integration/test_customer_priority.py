"""A customer marks a new ticket urgent ("my service is down"); staff may change it;
the history says who did which."""

from __future__ import annotations

from billdesk.tables import Ticket, TicketEvent
from tests.desk_support import bearer
from tests.factories import add_member, form_token, login, make_department, make_user


async def _priority_events(ticket_id: int) -> list[tuple[str, str, int | None]]:
    rows = (
        await TicketEvent.select()
        .where((TicketEvent.ticket == ticket_id) & (TicketEvent.kind == "priority"))
        .order_by(TicketEvent.id)
    )
    return [(row["old_value"], row["new_value"], row["actor"]) for row in rows]


async def test_customer_marks_urgent_and_staff_change_it(client):
    department = await make_department(free_tickets=None)
    customer = await make_user(role="customer")
    staff = await make_user(role="staff")
    await add_member(department_id=department, user_id=staff.id)
    opened = await client.post(
        "/api/v1/tickets",
        json={"department_id": department, "message": "VPS unreachable", "urgent": True},
        headers=await bearer(customer),
    )
    assert opened.status_code == 201, opened.text
    ticket_id = opened.json()["id"]
    assert (await Ticket.select(Ticket.priority).where(Ticket.id == ticket_id).first())[
        "priority"
    ] == "urgent"
    queue = await client.get("/api/v1/desk/tickets", headers=await bearer(staff))
    assert queue.json()["items"][0]["priority"] == "urgent"

    changed = await client.patch(
        f"/api/v1/desk/tickets/{ticket_id}",
        json={"priority": "high"},
        headers=await bearer(staff),
    )
    assert changed.status_code == 200, changed.text
    assert await _priority_events(ticket_id) == [
        ("normal", "urgent", customer.id),
        ("urgent", "high", staff.id),
    ]


async def test_not_urgent_unless_asked_and_bad_flags_refused(client):
    department = await make_department(free_tickets=None)
    customer = await make_user(role="customer")
    headers = await bearer(customer)
    plain = await client.post(
        "/api/v1/tickets",
        json={"department_id": department, "message": "Question"},
        headers=headers,
    )
    assert plain.status_code == 201
    assert await _priority_events(plain.json()["id"]) == []
    bad = await client.post(
        "/api/v1/tickets",
        json={"department_id": department, "message": "Question", "urgent": "very"},
        headers=headers,
    )
    assert bad.status_code == 422
    assert [error["field"] for error in bad.json()["errors"]] == ["urgent"]
    assert await Ticket.count() == 1


async def test_the_new_ticket_form_has_the_urgent_box(client):
    department = await make_department(free_tickets=None)
    customer = await make_user(role="customer")
    await login(client, customer.email)
    token = await form_token(client, "/tickets/new")
    page = await client.get("/tickets/new")
    assert 'name="urgent"' in page.text
    answer = await client.post(
        "/tickets/new",
        data={
            "department_id": str(department),
            "message": "Site down",
            "urgent": "yes",
            "_csrf_token": token,
        },
    )
    assert answer.status_code in (302, 303), answer.text
    row = await Ticket.select(Ticket.id, Ticket.priority).first()
    assert row["priority"] == "urgent"
    assert await _priority_events(row["id"]) == [("normal", "urgent", customer.id)]
