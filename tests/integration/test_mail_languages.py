"""Mails are written in the recipient's language: a Russian customer reads the desk's
answer and the solved notice in Russian, while the English agent's mails stay English."""

from __future__ import annotations

from billdesk import jobs
from billdesk.accounts import set_language
from billdesk.tickets import close_ticket
from tests.factories import (
    add_member,
    as_current,
    make_department,
    make_ticket,
    make_token,
    make_user,
)
from tests.support.mailbox import html_of, text_of


async def test_a_russian_customer_reads_the_staff_reply_and_the_solved_mail_in_russian(
    client, mailbox
):
    customer = await make_user(name="Алиса")
    await set_language(user_id=customer.id, language="ru")
    agent = await make_user(role="staff", name="Ada Staff")
    department = await make_department(free_tickets=None, name="Technical support")
    await add_member(department_id=department, user_id=agent.id)
    ticket = await make_ticket(customer, department, "Server down\nSince noon.")
    await jobs.drain()
    [new_ticket] = mailbox.to(agent.email)  # the agent chose no language: English
    assert new_ticket["Subject"] == f"[#{ticket}] New ticket in Technical support: Server down"
    assert "A new ticket" in text_of(new_ticket)
    mailbox.clear()

    answer = await client.post(
        f"/api/v1/desk/tickets/{ticket}/messages",
        json={"body": "Перезапустили сервер.", "internal": False},
        headers={"Authorization": f"Bearer {await make_token(agent)}"},
    )
    assert answer.status_code == 201, answer.text
    await jobs.drain()
    await jobs.drain()
    [reply] = mailbox.to(customer.email)
    text = text_of(reply)
    assert text.startswith("Здравствуйте, Алиса!")
    assert f"Ada Staff из поддержки ответил(а) на ваш тикет #{ticket} (Server down):" in text
    assert "Перезапустили сервер." in text
    assert "Ответьте на это письмо или на странице тикета:" in text
    assert "support answered" not in text
    html = html_of(reply)
    assert '<html lang="ru">' in html
    assert f"Открыть тикет #{ticket}" in html
    mailbox.clear()

    await close_ticket(ticket, as_current(agent))
    await jobs.drain()
    subjects = sorted(mail["Subject"] for mail in mailbox.to(customer.email))
    assert subjects == [
        f"[#{ticket}] Как мы справились? Server down",
        f"[#{ticket}] Решён: Server down",
    ]
