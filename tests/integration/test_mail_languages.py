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


CYRILLIC_SUBJECT = "Ваш тикет решён: сервер не отвечает"


async def test_a_cyrillic_subject_keeps_its_spaces_through_smtp(mailbox):
    """Sent through billdesk's SMTP code to a real SMTP server, a Russian subject arrives
    word for word: the standard library's parser and its RFC 2047 decoder both read it
    back with every space, short or long enough to be folded over several lines."""
    from email.header import decode_header, make_header
    from email.parser import BytesParser
    from email.policy import default

    from billdesk.mail import compose, smtp
    from billdesk.settings import get_settings

    server = smtp.parse_smtp_url(get_settings().smtp_url)
    long_subject = " ".join([CYRILLIC_SUBJECT] * 4)
    for number, subject in enumerate((CYRILLIC_SUBJECT, long_subject)):
        message = compose.build_message(
            kind="ticket_solved", to_address="alice@example.com", to_name="Алиса Иванова",
            subject=subject, message_id=f"subject-{number}@billdesk.test",
            text="Тикет решён.", html="<p>Тикет решён.</p>",
        )
        await smtp.send(server, message, sender="desk@example.com", recipient="alice@example.com")
    raw = mailbox.raw()
    assert len(raw) == 2
    for sent, subject in zip(raw, (CYRILLIC_SUBJECT, long_subject), strict=True):
        parsed = BytesParser(policy=default).parsebytes(sent)
        assert parsed["Subject"] == subject
        assert str(parsed["To"]) == "Алиса Иванова <alice@example.com>"
        header = sent.split(b"\r\n\r\n", 1)[0].decode("ascii")  # 7-bit on the wire
        value = _unfolded(header, "Subject")
        assert str(make_header(decode_header(value))) == subject


def _unfolded(header: str, name: str) -> str:
    """The raw value of one header field, its folded lines joined (RFC 5322 unfolding)."""
    lines = header.split("\r\n")
    start = next(i for i, line in enumerate(lines) if line.lower().startswith(name.lower() + ":"))
    value = lines[start].split(":", 1)[1]
    for line in lines[start + 1:]:
        if line[:1] not in (" ", "\t"):
            break
        value += line
    return value.strip()


async def test_a_russian_customer_gets_the_solved_mail_with_a_cyrillic_subject(mailbox):
    """The whole path: the solved mail to a Russian customer, subject in Cyrillic with spaces."""
    customer = await make_user(name="Алиса")
    await set_language(user_id=customer.id, language="ru")
    agent = await make_user(role="staff", name="Ada Staff")
    department = await make_department(free_tickets=None)
    await add_member(department_id=department, user_id=agent.id)
    ticket = await make_ticket(customer, department, "Сервер не отвечает\nС утра.")
    await jobs.drain()
    mailbox.clear()
    await close_ticket(ticket, as_current(agent))
    await jobs.drain()
    subjects = sorted(mail["Subject"] for mail in mailbox.to(customer.email))
    assert f"[#{ticket}] Решён: Сервер не отвечает" in subjects
