"""A ticket's page and its API answer read the ticket and its thread with statements
written once (tickets.reading): they answer what the ORM's selects answered, field for
field, for every kind of message, attachment and request."""

from __future__ import annotations

from typing import Any

from billdesk import attachments
from billdesk.attachments import Upload
from billdesk.requests import decide_request
from billdesk.tables import Attachment, Message, RequestKind, Ticket
from billdesk.tickets import open_ticket, reading
from billdesk.tickets.actions import delete_message_as_staff, reply_as_customer, reply_as_staff
from tests.factories import add_member, as_current, make_department, make_service, make_user

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def orm_detail(ticket_id: int) -> dict[str, Any]:
    """The ticket as the ORM's select of ticket_detail read it."""
    row = (
        await Ticket.select(
            *Ticket.all_columns(),
            Ticket.department.name.as_alias("department_name"),
            Ticket.service.name.as_alias("service_name"),
            Ticket.service.status.as_alias("service_status"),
            Ticket.request_kind.id,
            Ticket.request_kind.name,
            Ticket.request_state,
            Ticket.request_reason,
            Ticket.decided_by.id,
            Ticket.decided_by.name,
            Ticket.decided_at,
        )
        .where(Ticket.id == ticket_id)
        .first()
    )
    assert row is not None
    return row


async def orm_thread(ticket_id: int, *, include_internal: bool) -> list[dict[str, Any]]:
    """The thread as the ORM's selects of `thread` read it."""
    query = Message.select(
        Message.id,
        Message.body,
        Message.internal,
        Message.opening,
        Message.deleted,
        Message.created_at,
        Message.author.id.as_alias("author_id"),
        Message.author.name.as_alias("author_name"),
        Message.author.role.as_alias("author_role"),
    ).where(Message.ticket == ticket_id)
    if not include_internal:
        query = query.where(Message.internal == False)  # noqa: E712
    messages = await query.order_by(Message.created_at).order_by(Message.id)
    files = await attachments.attachments_by_message([m["id"] for m in messages])
    for message in messages:
        message["attachments"] = [] if message["deleted"] else files.get(message["id"], [])
        if message["deleted"]:
            message["body"] = ""
    return messages


async def test_a_ticket_and_its_thread_read_as_the_orm_read_them():
    customer, other = await make_user(), await make_user()
    department = await make_department()
    staff = await make_user(role="staff", name="Agent Smith")
    await add_member(department_id=department, user_id=staff.id)
    service = await make_service(customer_id=customer.id, name="vps-17")
    agent = as_current(staff)

    plain = await open_ticket(
        customer=as_current(customer),
        department_id=department,
        service_id=service,
        message="Disk full\nSince noon.",
        files=[Upload("screen.png", PNG)],
        accept_price=None,
        client_token=None,
    )
    ticket = plain.ticket_id
    await reply_as_staff(
        ticket, agent, "Internal: check the quota", internal=True, files=[Upload("note.png", PNG)]
    )
    gone = await reply_as_staff(
        ticket, agent, "A reply to be deleted", files=[Upload("gone.png", PNG)]
    )
    await delete_message_as_staff(ticket_id=ticket, message_id=gone, actor=agent)
    await reply_as_staff(ticket, agent, "Cleaned up, try again")
    await reply_as_customer(
        ticket_id=ticket,
        customer=as_current(customer),
        body="Works, thanks",
        files=[Upload("one.png", PNG), Upload("two.png", PNG)],
    )
    # Another customer's ticket in the same department: none of it may show.
    await open_ticket(
        customer=as_current(other),
        department_id=department,
        service_id=None,
        message="Someone else's",
        files=[Upload("theirs.png", PNG)],
        accept_price=None,
        client_token=None,
    )
    kind = await RequestKind.insert(
        RequestKind(department=department, name="Reverse DNS change", requires_service=False)
    ).returning(RequestKind.id)
    request = await open_ticket(
        customer=as_current(customer),
        department_id=department,
        service_id=None,
        message="Please set rDNS",
        files=[],
        accept_price=None,
        client_token=None,
        request_kind_id=kind[0]["id"],
    )
    await decide_request(
        actor=agent, ticket_id=request.ticket_id, decision="rejected", reason="Not for this address"
    )

    for ticket_id in (ticket, request.ticket_id):
        assert await reading.ticket_detail(ticket_id) == await orm_detail(ticket_id)
        for include_internal in (False, True):
            assert await reading.thread(ticket_id, include_internal=include_internal) == (
                await orm_thread(ticket_id, include_internal=include_internal)
            )

    detail = await reading.ticket_detail(request.ticket_id)
    assert detail["request_kind.name"] == "Reverse DNS change"
    assert detail["decided_by.name"] == "Agent Smith"
    assert (await reading.ticket_detail(ticket))["service_name"] == "vps-17"
    public = await reading.thread(ticket, include_internal=False)
    assert [m["body"] for m in public] == [
        "Disk full\nSince noon.",
        "",
        "Cleaned up, try again",
        "Works, thanks",
    ]
    assert [[f["filename"] for f in m["attachments"]] for m in public] == [
        ["screen.png"],
        [],
        [],
        ["one.png", "two.png"],
    ]
    everything = await reading.thread(ticket, include_internal=True)
    assert [m["internal"] for m in everything] == [False, True, False, False, False]
    assert await Attachment.count() == 6


async def test_no_such_ticket_is_not_found():
    import pytest

    from billdesk.errors import NotFound

    with pytest.raises(NotFound):
        await reading.ticket_detail(987654)
