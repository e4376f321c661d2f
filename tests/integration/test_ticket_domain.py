"""The ticket write paths: opening with quotas and prices, replies, closing, archiving, deleting."""

from __future__ import annotations

import asyncio

import pytest

from billdesk import quotas
from billdesk.attachments import Upload
from billdesk.errors import (
    InvalidTransition,
    NotFound,
    PaymentConfirmationRequired,
    PaymentsUnavailable,
    PriceChanged,
    SupportDisabled,
    TicketClosed,
    ValidationFailed,
)
from billdesk.quotas import Price
from billdesk.tables import (
    Attachment,
    Department,
    Message,
    Notification,
    QuotaCounter,
    Setting,
    Ticket,
    TicketEvent,
)
from billdesk.tickets import (
    archive_ticket,
    close_ticket,
    delete_own_reply,
    open_ticket,
    reply_as_customer,
    reply_as_staff,
)
from tests.factories import (
    add_member,
    as_current,
    make_department,
    make_service,
    make_ticket,
    make_user,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def _open(customer, department_id, **overrides):
    arguments = dict(
        customer=as_current(customer), department_id=department_id, service_id=None,
        message="Disk full\nplease help", files=[], accept_price=None, client_token=None,
    )
    arguments.update(overrides)
    return await open_ticket(**arguments)


async def test_free_ticket_opens_in_progress_with_subject_message_and_event():
    customer = await make_user()
    department = await make_department(free_tickets=2)
    opened = await _open(customer, department, message="\n  Disk   full \nmore", files=[Upload("a.png", PNG)])
    assert opened.created
    ticket = await Ticket.select().where(Ticket.id == opened.ticket_id).first()
    assert ticket["status"] == "in_progress"
    assert ticket["subject"] == "Disk full"
    assert ticket["unread_by_staff"] is True
    message = await Message.select().where(Message.ticket == opened.ticket_id).first()
    assert message["opening"] is True
    assert await Attachment.count().where(Attachment.message == message["id"]) == 1
    assert await TicketEvent.exists().where(
        (TicketEvent.ticket == opened.ticket_id) & (TicketEvent.kind == "opened")
    )
    status = await quotas.quota_status(customer.id, await Department.objects().get(Department.id == department))
    assert (status.used, status.remaining, status.next_ticket_paid) == (1, 1, False)


async def test_beyond_quota_needs_price_then_matching_price_then_payments():
    customer = await make_user()
    department = await make_department(free_tickets=1, ticket_price=1500, currency="eur")
    await _open(customer, department)
    with pytest.raises(PaymentConfirmationRequired) as needed:
        await _open(customer, department)
    assert needed.value.extra == {"price": {"amount": 1500, "currency": "eur"}}
    with pytest.raises(PriceChanged) as changed:
        await _open(customer, department, accept_price=1000)
    assert changed.value.extra["price"]["amount"] == 1500
    with pytest.raises(PriceChanged):
        await _open(customer, department, accept_price=Price(1500, "usd"))
    with pytest.raises(PaymentsUnavailable):
        await _open(customer, department, accept_price=Price(1500, "eur"))
    assert await Ticket.count() == 1
    counter = await QuotaCounter.select(QuotaCounter.used).first()
    assert counter["used"] == 1


async def test_always_free_department_keeps_no_counter():
    customer = await make_user()
    department = await make_department(free_tickets=None)
    for _ in range(3):
        await _open(customer, department)
    assert await Ticket.count() == 3
    assert await QuotaCounter.count() == 0


async def test_concurrent_openings_never_share_the_last_free_ticket():
    customer = await make_user()
    department = await make_department(free_tickets=3)
    results = await asyncio.gather(
        *[_open(customer, department) for _ in range(8)], return_exceptions=True
    )
    opened = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, PaymentConfirmationRequired)]
    assert len(opened) == 3 and len(refused) == 5
    assert (await QuotaCounter.select(QuotaCounter.used).first())["used"] == 3


async def test_same_client_token_opens_one_ticket():
    customer = await make_user()
    department = await make_department(free_tickets=5)
    first = await _open(customer, department, client_token="abc123")
    second = await _open(customer, department, client_token="abc123")
    assert second.ticket_id == first.ticket_id and not second.created
    other = await make_user()
    third = await _open(other, department, client_token="abc123")
    assert third.ticket_id != first.ticket_id
    assert await Ticket.count() == 2


async def test_bad_department_service_and_message_store_nothing():
    customer = await make_user()
    other = await make_user()
    department = await make_department()
    hidden = await make_department(public=False)
    foreign_service = await make_service(customer_id=other.id)
    cases = [
        ({"department_id": hidden}, "department_id"),
        ({"department_id": None}, "department_id"),
        ({"service_id": foreign_service}, "service_id"),
        ({"message": "   \n\t "}, "message"),
        ({"message": "x" * 10_001}, "message"),
    ]
    for overrides, field in cases:
        arguments = {"department_id": department, **overrides}
        with pytest.raises(ValidationFailed) as caught:
            await _open(customer, **arguments)
        assert field in caught.value.errors
    assert await Ticket.count() == 0
    assert await QuotaCounter.count() == 0


async def test_support_switched_off_refuses_opening_and_replying():
    customer = await make_user()
    department = await make_department()
    ticket_id = await make_ticket(customer, department)
    await Setting.insert(Setting(key="support_enabled", value="false"))
    with pytest.raises(SupportDisabled):
        await _open(customer, department)
    with pytest.raises(SupportDisabled):
        await reply_as_customer(ticket_id=ticket_id, customer=as_current(customer), body="hi", files=[])


async def test_staff_reply_waits_for_customer_and_notifies_internal_note_does_not():
    customer = await make_user()
    staff = await make_user(role="staff")
    department = await make_department()
    await add_member(department_id=department, user_id=staff.id)
    ticket_id = await make_ticket(customer, department)

    await reply_as_staff(ticket_id, as_current(staff), "Internal: check logs", internal=True)
    ticket = await Ticket.select().where(Ticket.id == ticket_id).first()
    assert (ticket["status"], ticket["unread_by_customer"], ticket["answers"]) == ("in_progress", False, 0)

    await reply_as_staff(ticket_id, as_current(staff), "We are on it", internal=False)
    ticket = await Ticket.select().where(Ticket.id == ticket_id).first()
    assert (ticket["status"], ticket["unread_by_customer"], ticket["answers"]) == (
        "waiting_for_reply", True, 1,
    )
    assert await Notification.count().where(Notification.user == customer.id) == 1

    await reply_as_customer(ticket_id=ticket_id, customer=as_current(customer), body="Thanks", files=[])
    ticket = await Ticket.select().where(Ticket.id == ticket_id).first()
    assert (ticket["status"], ticket["answers"], ticket["unread_by_staff"]) == ("in_progress", 2, True)
    statuses = await TicketEvent.select(TicketEvent.new_value).where(
        (TicketEvent.ticket == ticket_id) & (TicketEvent.kind == "status")
    ).order_by(TicketEvent.id)
    assert [row["new_value"] for row in statuses] == ["waiting_for_reply", "in_progress"]


async def test_staff_outside_the_department_cannot_reply():
    customer = await make_user()
    staff = await make_user(role="staff")
    department = await make_department()
    ticket_id = await make_ticket(customer, department)
    with pytest.raises(NotFound):
        await reply_as_staff(ticket_id, as_current(staff), "hello", internal=False)
    admin = await make_user(role="admin")
    await reply_as_staff(ticket_id, as_current(admin), "hello", internal=False)


async def test_close_is_final_and_archive_needs_solved():
    customer = await make_user()
    department = await make_department()
    ticket_id = await make_ticket(customer, department)
    with pytest.raises(InvalidTransition):
        await archive_ticket(ticket_id, as_current(customer))
    assert await close_ticket(ticket_id, as_current(customer)) == "solved"
    assert await close_ticket(ticket_id, as_current(customer)) == "solved"  # a no-op
    assert await TicketEvent.count().where(TicketEvent.kind == "status") == 1
    with pytest.raises(TicketClosed):
        await reply_as_customer(ticket_id=ticket_id, customer=as_current(customer), body="again", files=[])
    await archive_ticket(ticket_id, as_current(customer))
    ticket = await Ticket.select().where(Ticket.id == ticket_id).first()
    assert ticket["archived"] is True


async def test_staff_close_notifies_customer():
    customer = await make_user()
    admin = await make_user(role="admin")
    ticket_id = await make_ticket(customer, await make_department())
    await close_ticket(ticket_id, as_current(admin))
    row = await Notification.select().where(Notification.user == customer.id).first()
    assert row["kind"] == "ticket_solved"


async def test_delete_own_reply_only():
    customer = await make_user()
    other = await make_user()
    department = await make_department()
    ticket_id = await make_ticket(customer, department)
    opening = await Message.select(Message.id).where(Message.ticket == ticket_id).first()
    reply_id = await reply_as_customer(
        ticket_id=ticket_id, customer=as_current(customer), body="extra", files=[]
    )
    with pytest.raises(InvalidTransition):
        await delete_own_reply(ticket_id=ticket_id, message_id=opening["id"], customer=as_current(customer))
    with pytest.raises(NotFound):
        await delete_own_reply(ticket_id=ticket_id, message_id=reply_id, customer=as_current(other))
    await close_ticket(ticket_id, as_current(customer))
    await delete_own_reply(ticket_id=ticket_id, message_id=reply_id, customer=as_current(customer))
    message = await Message.select().where(Message.id == reply_id).first()
    assert message["deleted"] is True and message["body"] == "extra"


async def test_confirmed_paid_ticket_waits_for_payment_and_is_handed_to_payments(monkeypatch):
    """The payments seam: the charge's first attempt is written in the transaction that
    opens the ticket as awaiting_payment, then handed over to be charged."""
    from billdesk.tickets import opening

    written: list[dict] = []
    charged: list[str] = []
    looked_up: list[str | None] = []

    class Payments:
        @staticmethod
        def look_up_card(stripe_customer_id):
            looked_up.append(stripe_customer_id)
            return "the card's look-up"

        @staticmethod
        async def write_first_attempt(**arguments):
            status = await Ticket.select(Ticket.status).where(
                Ticket.id == arguments["ticket_id"]
            ).first()
            written.append({**arguments, "status_seen": status["status"]})
            return "the first attempt"

        @staticmethod
        async def charge_opened_ticket(first_attempt):
            charged.append(first_attempt)

    monkeypatch.setattr(opening, "_payments", lambda: Payments)
    customer = await make_user()
    department = await make_department(free_tickets=0, ticket_price=700, currency="gbp")
    opened = await _open(customer, department, accept_price=Price(700, "gbp"), files=[Upload("a.png", PNG)])
    assert written == [{
        "ticket_id": opened.ticket_id, "customer_id": customer.id, "department_id": department,
        "amount": 700, "currency": "gbp", "stripe_customer_id": None,
        "card": "the card's look-up", "status_seen": "awaiting_payment",
    }]
    assert looked_up == [None] and charged == ["the first attempt"]
    ticket = await Ticket.select().where(Ticket.id == opened.ticket_id).first()
    assert ticket["status"] == "awaiting_payment"
    assert await Message.count().where(Message.ticket == opened.ticket_id) == 1
    # Every ticket of the department is paid: no free ticket was taken, nor counted.
    assert await QuotaCounter.count() == 0


async def test_a_ticket_may_be_about_any_of_ones_own_services_whatever_its_status():
    customer = await make_user()
    department = await make_department()
    for status in ("active", "suspended", "cancelled"):
        service = await make_service(customer_id=customer.id, name=f"VPS {status}", status=status)
        opened = await _open(customer, department_id=department, service_id=service)
        row = await Ticket.select(Ticket.service).where(Ticket.id == opened.ticket_id).first()
        assert row == {"service": service}
