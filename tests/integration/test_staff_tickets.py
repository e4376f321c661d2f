"""Staff open tickets for customers (never charged, no quota used) and delete messages;
requests are decided from the desk's pages."""

from __future__ import annotations

from billdesk import jobs, requests
from billdesk.tables import (
    Charge,
    Message,
    Notification,
    OutgoingMail,
    QuotaCounter,
    Ticket,
    TicketEvent,
)
from tests.desk_support import bearer, make_world
from tests.factories import as_current, form_token, login, make_department, make_service, make_user


async def test_a_staff_opened_ticket_charges_nothing_even_in_an_always_paid_department(client):
    world = await make_world()
    staff = await bearer(world.staff)
    from tests.factories import add_member

    always_paid = await make_department(name="Abuse", free_tickets=0, ticket_price=5000)
    await add_member(department_id=always_paid, user_id=world.staff.id)
    suspended = await make_service(customer_id=world.customer.id, name="web-3", status="suspended")
    answer = await client.post(
        "/api/v1/desk/tickets",
        headers=staff,
        json={
            "customer_id": world.customer.id,
            "department_id": always_paid,
            "service_id": suspended,
            "message": "Abuse report about web-3\nWe received a spam complaint.",
        },
    )
    assert answer.status_code == 201, answer.text
    ticket = answer.json()
    assert (
        ticket["status"] == "waiting_for_reply" and ticket["subject"] == "Abuse report about web-3"
    )
    assert ticket["messages"][0]["author"]["id"] == world.staff.id
    assert await Charge.count() == 0 and await QuotaCounter.count() == 0

    # The customer is told: in the app, by mail, and the ticket is unread in their list.
    [note] = await Notification.select(Notification.kind, Notification.ticket).where(
        Notification.user == world.customer.id
    )
    assert note == {"kind": "ticket_opened", "ticket": ticket["id"]}
    await jobs.drain()
    mails = (
        await OutgoingMail.select(OutgoingMail.kind)
        .where(OutgoingMail.user == world.customer.id)
        .output(as_list=True)
    )
    assert mails == ["staff_reply"]
    mine = (await client.get("/api/v1/tickets", headers=await bearer(world.customer))).json()
    row = next(item for item in mine["items"] if item["id"] == ticket["id"])
    assert row["unread"] is True and row["charge"] is None

    for body, field in [
        ({"customer_id": world.staff.id}, "customer_id"),
        ({"department_id": world.other_department}, "department_id"),
        ({"service_id": await make_service(customer_id=(await make_user()).id)}, "service_id"),
        ({"message": " "}, "message"),
    ]:
        refused = await client.post(
            "/api/v1/desk/tickets",
            headers=staff,
            json={
                "customer_id": world.customer.id,
                "department_id": always_paid,
                "message": "Hi",
                **body,
            },
        )
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == field, body
    assert await Ticket.count().where(Ticket.department == always_paid) == 1


async def test_the_desk_form_opens_a_ticket_and_keeps_what_was_typed(client):
    world = await make_world()
    await login(client, world.staff.email)
    page = await client.get(f"/desk/tickets/new?customer={world.customer.id}")
    assert page.status_code == 200 and f'value="{world.customer.id}"' in page.text
    token = await form_token(client, "/desk/tickets/new")
    refused = await client.post(
        "/desk/tickets/new",
        data={
            "customer_id": "abc",
            "department_id": str(world.department),
            "message": "Maintenance tonight",
            "_csrf_token": token,
        },
    )
    assert refused.status_code == 422 and "Maintenance tonight</textarea>" in refused.text
    answer = await client.post(
        "/desk/tickets/new",
        data={
            "customer_id": str(world.customer.id),
            "department_id": str(world.department),
            "message": "Maintenance tonight",
            "_csrf_token": token,
        },
    )
    assert answer.status_code == 302
    shown = await client.get(answer.headers["location"])
    assert "Maintenance tonight" in shown.text and "Waiting for customer" in shown.text


async def test_staff_delete_any_message_but_the_opening_one_and_the_history_says_who(client):
    world = await make_world()
    staff, customer = await bearer(world.staff), await bearer(world.customer)
    reply = await client.post(
        f"/api/v1/tickets/{world.ticket}/messages",
        headers=customer,
        json={"body": "My password is hunter2"},
    )
    reply_id = reply.json()["id"]
    opening = (
        await Message.select(Message.id)
        .where((Message.ticket == world.ticket) & Message.opening.eq(True))
        .first()
    )

    hidden = await client.delete(
        f"/api/v1/desk/tickets/{world.ticket}/messages/{reply_id}",
        headers=await bearer(world.other_staff),
    )
    assert hidden.status_code == 404
    refused = await client.delete(
        f"/api/v1/desk/tickets/{world.ticket}/messages/{opening['id']}", headers=staff
    )
    assert refused.status_code == 409
    gone = await client.delete(
        f"/api/v1/desk/tickets/{world.ticket}/messages/{reply_id}", headers=staff
    )
    assert gone.status_code == 204
    again = await client.delete(
        f"/api/v1/desk/tickets/{world.ticket}/messages/{reply_id}", headers=staff
    )
    assert again.status_code == 204

    seen = (await client.get(f"/api/v1/tickets/{world.ticket}", headers=customer)).json()
    shown = next(m for m in seen["messages"] if m["id"] == reply_id)
    assert shown["deleted"] is True and shown["body"] == ""
    assert (
        "hunter2"
        not in (await client.get(f"/api/v1/desk/tickets/{world.ticket}", headers=staff)).text
    )
    [event] = await TicketEvent.select(TicketEvent.actor, TicketEvent.new_value).where(
        TicketEvent.kind == "message_deleted"
    )
    assert event == {"actor": world.staff.id, "new_value": "deleted"}
    row = (
        await Message.select(Message.deleted_by, Message.body).where(Message.id == reply_id).first()
    )
    assert row == {"deleted_by": world.staff.id, "body": "My password is hunter2"}  # kept for audit

    # The same from the ticket page.
    await login(client, world.staff.email)
    note = await client.post(
        f"/api/v1/desk/tickets/{world.ticket}/messages",
        headers=staff,
        json={"body": "Internal: check logs", "internal": True},
    )
    token = await form_token(client, f"/desk/tickets/{world.ticket}")
    answer = await client.post(
        f"/desk/tickets/{world.ticket}/messages/{note.json()['id']}/delete",
        data={"_csrf_token": token},
    )
    assert answer.status_code == 302
    page = await client.get(f"/desk/tickets/{world.ticket}")
    assert "Internal: check logs" not in page.text and page.text.count("message deleted") == 2


async def test_requests_are_found_and_decided_from_the_desk_pages(client):
    world = await make_world()
    kind = await requests.create_kind(
        department_id=world.department, name="An additional IPv4 address"
    )
    from billdesk.tickets import open_ticket

    ids = []
    for _ in range(3):
        opened = await open_ticket(
            customer=as_current(world.customer),
            department_id=world.department,
            service_id=None,
            message="For a second site",
            files=[],
            accept_price=None,
            client_token=None,
            request_kind_id=kind["id"],
        )
        ids.append(opened.ticket_id)
    await login(client, world.staff.email)
    queue = await client.get("/desk?type=request&request_state=pending")
    assert queue.status_code == 200 and queue.text.count("Request · pending") == 3
    assert f'/desk/tickets/{world.ticket}"' not in queue.text
    wrong = await client.get("/desk?type=questions")
    assert wrong.status_code == 422 and "The type must be ticket or request" in wrong.text

    token = await form_token(client, f"/desk/tickets/{ids[0]}")
    answer = await client.post(
        f"/desk/tickets/{ids[0]}/decision",
        data={"decision": "approved", "reason": "Assigned 203.0.113.9", "_csrf_token": token},
    )
    assert answer.status_code == 302
    page = await client.get(f"/desk/tickets/{ids[0]}")
    assert "approved</strong> · Sam Staff" in page.text and "Assigned 203.0.113.9" in page.text
    twice = await client.post(
        f"/desk/tickets/{ids[0]}/decision", data={"decision": "rejected", "_csrf_token": token}
    )
    assert twice.status_code == 409 and "was approved already" in twice.text

    bulk = await client.post(
        "/desk/bulk",
        data={
            "action": "reject",
            "ids": [str(ids[1]), str(ids[2]), str(ids[0])],
            "reason": "No addresses left",
            "_csrf_token": token,
            "filter_type": "request",
        },
    )
    assert bulk.status_code == 302
    shown = await client.get(bulk.headers["location"])
    assert f"Rejected 2 tickets: #{ids[1]}, #{ids[2]}." in shown.text
    assert f"Skipped #{ids[0]}: already approved." in shown.text
    states = (
        await Ticket.select(Ticket.request_state)
        .where(Ticket.id.is_in(ids))
        .order_by(Ticket.id)
        .output(as_list=True)
    )
    assert states == ["approved", "rejected", "rejected"]
