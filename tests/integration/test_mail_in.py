"""`billdesk mail-receive` with real-world mails (tests/fixtures/mail): replies land on
their ticket trimmed, new mail opens tickets, machines and strangers open nothing,
a repeated delivery is handled once, a thread cannot be joined from another address."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from string import Template

from billdesk import jobs
from billdesk.tables import Attachment, Department, InboundMail, Message, Ticket
from billdesk.tickets import close_ticket, reply_as_staff
from tests.factories import add_member, as_current, make_department, make_ticket, make_user
from tests.support.mailbox import text_of

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
SUPPORT = "support@hosting.test"


def eml(name: str, **values: object) -> bytes:
    text = (FIXTURES / name).read_text(encoding="latin-1")
    return Template(text).safe_substitute(support=SUPPORT, **values).encode("latin-1")


def mail_receive(raw: bytes, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "billdesk.cli", "mail-receive", *args],
        input=raw,
        capture_output=True,
        env=env or os.environ.copy(),
        timeout=120,
    )


async def answered_ticket(mailbox, email: str = "alice@alice.test"):
    """Alice's ticket, answered by support: the mail she would reply to."""
    customer = await make_user(email=email, name="Alice Example")
    agent = await make_user(role="staff", name="Ada Staff")
    department = await make_department(free_tickets=None, name="Technical support")
    await add_member(department_id=department, user_id=agent.id)
    ticket = await make_ticket(customer, department, "My server is down\nSince noon.")
    await reply_as_staff(ticket, as_current(agent), "We restarted it.")
    await jobs.drain()
    [answer] = mailbox.to(customer.email)
    mailbox.clear()
    sent_id = answer["Message-ID"].strip("<>")
    thread = {
        "ticket": ticket,
        "in_reply_to": sent_id,
        "references": f"ticket-{ticket}@hosting.test> <{sent_id}",
    }
    return customer, agent, ticket, thread


async def messages_of(ticket: int) -> list[dict]:
    return await Message.select().where(Message.ticket == ticket).order_by(Message.id)


async def test_a_gmail_reply_lands_trimmed_and_a_second_delivery_is_handled_once(mailbox):
    customer, agent, ticket, thread = await answered_ticket(mailbox)
    raw = eml("gmail_reply.eml", customer=customer.email, **thread)

    first = mail_receive(raw)
    assert first.returncode == 0, first.stderr
    assert first.stdout.decode().startswith("replied:")
    again = mail_receive(raw)
    assert again.returncode == 0 and again.stdout.decode().startswith("duplicate:")

    *_, reply = await messages_of(ticket)
    assert (
        reply["body"]
        == "It is up again, thanks! But the disk still shows 98% full \u2014 can you look?"
    )
    assert (reply["channel"], reply["author"], reply["internal"]) == ("mail", customer.id, False)
    assert len(await messages_of(ticket)) == 3  # opening, staff answer, this reply: once
    row = await Ticket.select(Ticket.status).where(Ticket.id == ticket).first()
    assert row["status"] == "in_progress"
    logged = await InboundMail.select().order_by(InboundMail.id)
    assert [entry["outcome"] for entry in logged] == ["replied", "duplicate"]
    assert "In-Reply-To/References" in logged[0]["reason"] and logged[0]["ticket"] == ticket
    await jobs.drain()
    # The agent who answered took the ticket, so they hear of the reply, once; the
    # customer is not told of their own mail.
    assert mailbox.to(customer.email) == []
    assert len(mailbox.to(agent.email)) == 1 and len(mailbox.raw()) == 1


async def test_an_outlook_reply_loses_its_quoted_header_block(mailbox):
    customer, _, ticket, thread = await answered_ticket(mailbox)
    done = mail_receive(eml("outlook_reply.eml", customer=customer.email, **thread))
    assert done.returncode == 0, done.stderr
    *_, reply = await messages_of(ticket)
    assert reply["body"] == (
        "Thanks, the site works again. Could you also raise the PHP memory limit to 256 MB?"
        "\n\nKind regards\nAlice"
    )


async def test_an_html_only_mail_opens_a_ticket_in_the_department_of_its_address(mailbox):
    customer = await make_user(email="alice@alice.test", name="Alice Example")
    first = await make_department(free_tickets=3, name="Technical support")
    billing = await make_department(free_tickets=3, name="Billing")
    await Department.update({Department.inbound_address: "billing@hosting.test"}).where(
        Department.id == billing
    )
    to_default = mail_receive(eml("html_only.eml", customer=customer.email))
    assert to_default.returncode == 0, to_default.stderr
    [ticket] = await Ticket.select().where(Ticket.customer == customer.id)
    assert (ticket["department"], ticket["status"]) == (first, "in_progress")
    assert ticket["subject"] == "Website shows 500 errors after the PHP upgrade"
    [opening] = await messages_of(ticket["id"])
    body = opening["body"]
    assert body.startswith("Website shows 500 errors after the PHP upgrade\n\nHello,")
    assert "shop.alice.test answers every page with a 500 Internal Server Error." in body
    assert "PHP 8.3 & WordPress 6.6" in body and "Thanks,\nAlice" in body
    assert "alert(1)" not in body and "color" not in body
    assert opening["channel"] == "mail"

    await jobs.drain()
    [ack] = mailbox.to(customer.email)
    assert ack["Subject"] == f"[#{ticket['id']}] Received: {ticket['subject']}"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == "<20261103080155.4f2a9c@webmail.alice.test>"
    assert f"http://127.0.0.1:8000/tickets/{ticket['id']}" in text_of(ack)

    to_billing = (
        eml("html_only.eml", customer=customer.email)
        .replace(b"To: support@hosting.test", b"To: Billing <billing@hosting.test>")
        .replace(b"4f2a9c@", b"4f2a9d@")
    )
    assert mail_receive(to_billing).returncode == 0
    departments = (
        await Ticket.select(Ticket.department)
        .where(Ticket.customer == customer.id)
        .order_by(Ticket.id)
        .output(as_list=True)
    )
    assert departments == [first, billing]


async def test_an_image_is_attached_and_a_refused_exe_is_named_in_the_ticket(mailbox):
    customer = await make_user(email="alice@alice.test")
    await make_department(free_tickets=None)
    done = mail_receive(eml("image_and_exe.eml", customer=customer.email))
    assert done.returncode == 0, done.stderr
    [ticket] = await Ticket.select().where(Ticket.customer == customer.id)
    [opening] = await messages_of(ticket["id"])
    assert opening["body"].startswith(
        "Screenshot of the control panel error\n\n"
        "The control panel shows this error when I open the DNS editor."
    )
    assert "Example Shop Ltd" not in opening["body"]  # the signature
    assert "[Files not attached: setup.exe: only .jpg, .png, .gif and .zip files" in opening["body"]
    [attached] = await Attachment.select().where(Attachment.message == opening["id"])
    assert (attached["filename"], attached["content_type"]) == ("panel-error.png", "image/png")


async def test_auto_replies_and_bounces_are_logged_and_answered_by_nothing(mailbox):
    customer, _, ticket, thread = await answered_ticket(mailbox)
    before = len(await messages_of(ticket))
    for name in ("auto_reply.eml", "bounce.eml"):
        done = mail_receive(eml(name, customer=customer.email, **thread))
        assert done.returncode == 0, done.stderr
        assert done.stdout.decode().startswith("ignored:")
    assert len(await messages_of(ticket)) == before
    reasons = await InboundMail.select(InboundMail.outcome, InboundMail.reason).order_by(
        InboundMail.id
    )
    assert [row["outcome"] for row in reasons] == ["ignored", "ignored"]
    assert "Auto-Submitted: auto-replied" in reasons[0]["reason"]
    assert "machine" in reasons[1]["reason"]
    await jobs.drain()
    assert mailbox.raw() == []


async def test_a_reply_to_another_customers_thread_from_another_address_cannot_land_in_it(
    mailbox,
):
    alice, _, ticket, thread = await answered_ticket(mailbox)
    bob = await make_user(email="bob@bob.test", name="Bob Other")
    before = await messages_of(ticket)
    done = mail_receive(eml("other_address_reply.eml", customer=bob.email, **thread))
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().startswith("opened:"), done.stdout
    assert await messages_of(ticket) == before  # Alice's thread is untouched
    [bobs] = await Ticket.select().where(Ticket.customer == bob.id)
    assert bobs["id"] != ticket
    [opening] = await messages_of(bobs["id"])
    assert "My server is down too" in opening["body"] and "We restarted it" not in opening["body"]
    [logged] = await InboundMail.select()
    assert f"answers ticket #{ticket}, whose customer is not its sender" in logged["reason"]

    # A stranger's reply to the thread opens nothing and is answered once.
    stranger = eml("other_address_reply.eml", customer="mallory@evil.test", **thread).replace(
        b"bob-reply-001", b"mallory-reply-001"
    )
    answered = mail_receive(stranger)
    assert answered.returncode == 0 and answered.stdout.decode().startswith("refused:")
    assert await messages_of(ticket) == before
    await jobs.drain()
    [answer] = mailbox.to("mallory@evil.test")
    assert "no customer account uses this" in " ".join(text_of(answer).split())
    assert mailbox.to(alice.email) == []


async def test_a_reply_to_a_solved_ticket_is_not_added_and_the_customer_is_told(mailbox):
    customer, agent, ticket, thread = await answered_ticket(mailbox)
    await close_ticket(ticket, as_current(agent))
    await jobs.drain()
    mailbox.clear()
    before = await messages_of(ticket)
    done = mail_receive(eml("gmail_reply.eml", customer=customer.email, **thread))
    assert done.returncode == 0 and done.stdout.decode().startswith("refused:")
    assert await messages_of(ticket) == before
    row = await Ticket.select(Ticket.status).where(Ticket.id == ticket).first()
    assert row["status"] == "solved"
    await jobs.drain()
    [told] = mailbox.to(customer.email)
    assert told["Subject"] == f"[#{ticket}] This ticket is solved: My server is down"
    assert "http://127.0.0.1:8000/tickets/new" in text_of(told)


async def test_the_subject_token_counts_only_for_that_tickets_customer(mailbox):
    customer, _, ticket, _ = await answered_ticket(mailbox)
    other = await make_user(email="carol@carol.test")
    plain = (
        "From: {sender}\r\nTo: support@hosting.test\r\nSubject: Re: [#{ticket}] My server\r\n"
        "Message-ID: <{mid}@x.test>\r\n\r\n{body}\r\n"
    )
    own = plain.format(sender=customer.email, ticket=ticket, mid="t1", body="Token reply")
    assert mail_receive(own.encode()).returncode == 0
    assert (await messages_of(ticket))[-1]["body"] == "Token reply"
    foreign = plain.format(sender=other.email, ticket=ticket, mid="t2", body="Not mine")
    assert mail_receive(foreign.encode()).returncode == 0
    assert (await messages_of(ticket))[-1]["body"] == "Token reply"
    [carols] = await Ticket.select().where(Ticket.customer == other.id)
    assert carols["subject"] == f"Re: [#{ticket}] My server"


async def test_mail_receive_asks_the_mta_to_retry_when_the_database_is_down(mailbox):
    env = {**os.environ, "DATABASE_URL": "postgresql://billdesk@127.0.0.1:1/billdesk"}
    raw = eml("html_only.eml", customer="alice@alice.test")
    done = mail_receive(raw, env=env)
    assert done.returncode == 75
    assert b"try again later" in done.stderr
    assert await InboundMail.count() == 0


def simple_mail(sender: str, mid: str, subject: str = "Help", body: str = "Please help") -> bytes:
    return (
        f"From: {sender}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{mid}@x.test>\r\n\r\n{body}\r\n"
    ).encode()


async def test_an_unknown_sender_gets_one_answer_a_day(mailbox, clock):
    from datetime import timedelta

    from billdesk.mail.inbound import receive

    await make_department(free_tickets=None)
    for n in range(3):
        result = await receive(simple_mail("stranger@elsewhere.test", f"s{n}"))
        assert result.outcome == "refused"
    await jobs.drain()
    [answer] = mailbox.to("stranger@elsewhere.test")
    assert answer["Auto-Submitted"] == "auto-replied"
    assert answer["In-Reply-To"] == "<s0@x.test>"
    assert await Ticket.count() == 0
    clock.advance(timedelta(hours=24, minutes=1))
    await receive(simple_mail("stranger@elsewhere.test", "s3"))
    await jobs.drain()
    assert len(mailbox.to("stranger@elsewhere.test")) == 2
    logged = await InboundMail.select(InboundMail.outcome, InboundMail.reason)
    assert len(logged) == 4 and all("No account uses this address" in r["reason"] for r in logged)


async def test_loops_staff_senders_and_refusals_are_handled_and_logged(mailbox):
    from billdesk.departments import set_support_enabled
    from billdesk.mail.inbound import receive

    await make_department(free_tickets=None)
    agent = await make_user(role="staff", email="ada@hosting.test")
    customer = await make_user(email="alice@alice.test")
    own = await receive(simple_mail(SUPPORT, "own"))
    assert own.outcome == "ignored" and "loop" in own.reason
    staff = await receive(simple_mail(agent.email, "staff"))
    assert staff.outcome == "refused" and "Only customers" in staff.reason
    empty = await receive(simple_mail(customer.email, "empty", subject="", body=" "))
    assert empty.outcome == "refused" and "cannot be empty" in empty.reason
    await set_support_enabled(False)
    paused = await receive(simple_mail(customer.email, "paused"))
    assert paused.outcome == "refused" and "switched off" in paused.reason
    again = await receive(simple_mail(customer.email, "paused"))
    assert again.outcome == "duplicate"
    assert await Ticket.count() == 0
    await jobs.drain()
    assert mailbox.to(SUPPORT) == []
    [told] = mailbox.to(agent.email)
    assert "staff answer on the desk" in " ".join(text_of(told).split())
    # One answer a day per sender and kind: the empty mail's answer is the only one.
    [refused] = mailbox.to(customer.email)
    assert refused["Subject"] == "Not added to a ticket: (no subject)"
