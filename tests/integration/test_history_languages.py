"""A ticket's history reads in the reader's language: a confirmed price, a charge, a refund,
a missed deadline and a close for inactivity, with money written for the reader (15,00 USD
in Russian) and times on the reader's clocks. The API keeps its values as they were."""

from __future__ import annotations

from datetime import timedelta

from billdesk import payments
from billdesk.queues import assign_ticket
from billdesk.quotas import Price
from billdesk.sla import policy
from billdesk.sla.automation import auto_close_waiting
from billdesk.sla.escalation import escalate_due
from billdesk.tables import Charge, Ticket, TicketEvent, User
from billdesk.tickets import reply_as_staff
from billdesk.tickets.opening import confirm_ticket_price
from tests.factories import (
    add_member,
    as_current,
    login,
    make_department,
    make_ticket,
    make_token,
    make_user,
)
from tests.payment_helpers import awaiting_ticket, give_card


async def a_ticket_with_a_full_history(sdk) -> tuple[int, int]:
    """A paid ticket (price confirmed, charged, partly refunded) that missed its first
    response deadline and was then closed for inactivity: (ticket id, department id)."""
    department = await make_department(free_tickets=0, ticket_price=1500, currency="usd")
    await policy.set_service_level(
        department,
        {"targets": {"normal": {"first_response": 60, "resolution": 6000}}, "auto_close_days": 3},
    )
    customer = await make_user()
    agent = await make_user(role="staff", name="Agent Smith")
    await add_member(department_id=department, user_id=agent.id)
    await give_card(sdk, customer.id)
    ticket_id = await awaiting_ticket(customer_id=customer.id, department_id=department)
    await Ticket.update({Ticket.price_unconfirmed: True}).where(Ticket.id == ticket_id)
    await confirm_ticket_price(
        ticket_id=ticket_id, customer=as_current(customer), accept_price=Price(1500, "usd")
    )
    charge = await Charge.select(Charge.id, Charge.status).where(Charge.ticket == ticket_id).first()
    assert charge["status"] == "succeeded"
    await payments.refund_charge(
        charge_id=charge["id"], amount=400, reason="Slow answer", actor_id=None
    )
    await assign_ticket(actor=as_current(agent), ticket_id=ticket_id, assignee_id=agent.id)
    return ticket_id, department


async def test_history_reads_in_the_readers_language(sdk, client, app_client_factory, clock):
    ticket_id, department = await a_ticket_with_a_full_history(sdk)
    clock.advance(timedelta(minutes=61))
    await escalate_due()
    agent = await make_user(role="staff")
    await add_member(department_id=department, user_id=agent.id)
    await reply_as_staff(ticket_id, as_current(agent), "Does it work now?")
    clock.advance(timedelta(days=2))
    await auto_close_waiting()
    clock.advance(timedelta(days=1))
    await auto_close_waiting()
    assert (await Ticket.select(Ticket.status).where(Ticket.id == ticket_id).first()) == {
        "status": "solved"
    }

    russian = await make_user(role="staff")
    await add_member(department_id=department, user_id=russian.id)
    await User.update({User.language: "ru", User.time_zone: "Europe/Moscow"}).where(
        User.id == russian.id
    )
    await login(client, russian.email)
    page = await client.get(f"/desk/tickets/{ticket_id}")
    assert page.status_code == 200
    history = page.text[page.text.index("timeline"):]
    assert "Цена 15,00 USD подтверждена" in history
    assert "Списание 15,00 USD ожидает оплаты" in history
    assert "Возвращено 4,00 USD" in history
    # The deadline on the reader's clocks: 10:00 UTC is 13:00 in Moscow.
    assert "Срок первого ответа пропущен (срок 2026-11-02 13:00 MSK)" in history
    assert "Напоминание отправлено: заявка закроется из-за бездействия 2026-11-05" in history
    assert "Закрыта из-за бездействия: 3 дня ожидания ответа клиента" in history
    for english in ("confirmed", "refunded", "breached", "inactivity", "pending 15"):
        assert english not in history

    english = await make_user(role="staff")
    await add_member(department_id=department, user_id=english.id)
    async with app_client_factory() as other:
        await login(other, english.email)
        page = await other.get(f"/desk/tickets/{ticket_id}")
    history = page.text[page.text.index("timeline"):]
    assert "Price of 15.00 USD confirmed" in history
    assert "Charge of 15.00 USD pending" in history
    assert "4.00 USD refunded" in history
    assert "First response deadline missed (due 2026-11-02 10:00 UTC)" in history
    assert "Reminder sent: the ticket closes for inactivity on 2026-11-05" in history
    assert "Closed for inactivity after 3 days waiting for the customer" in history

    # The API's values are what they always were.
    token = await make_token(english)
    answer = await client.get(
        f"/api/v1/desk/tickets/{ticket_id}", headers={"Authorization": f"Bearer {token}"}
    )
    values = {(event["kind"], event["new_value"]) for event in answer.json()["events"]}
    assert ("charge", "price 15.00 USD confirmed") in values
    assert ("refund", "refunded 4.00 USD") in values
    assert ("sla", "first response breached (due 2026-11-02 10:00 UTC)") in values
    assert ("automation", "closed for inactivity after 3 days waiting for the customer") in values


async def test_lines_kept_before_their_words_were_stored_read_as_kept(client):
    department = await make_department()
    customer = await make_user()
    reader = await make_user(role="staff")
    await add_member(department_id=department, user_id=reader.id)
    ticket_id = await make_ticket(customer, department)
    await TicketEvent.insert(
        TicketEvent(ticket=ticket_id, kind="refund", new_value="refunded 4.00 USD"),
        TicketEvent(ticket=ticket_id, kind="archived", old_value="no", new_value="yes"),
        TicketEvent(ticket=ticket_id, kind="message_deleted", old_value="message 7",
                    new_value="deleted"),
    )
    await User.update({User.language: "ru"}).where(User.id == reader.id)
    await login(client, reader.email)
    page = await client.get(f"/desk/tickets/{ticket_id}")
    assert page.status_code == 200, page.text[:3000]
    history = page.text[page.text.index("timeline"):]
    assert "refunded 4.00 USD" in history
    assert "Сообщение удалено</strong>: #7" in history
    assert "no →" not in history and "→ yes" not in history
