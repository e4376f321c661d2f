"""Following tickets from Telegram: /start, a ticket, Add a reply; and what reaches the chat."""

from __future__ import annotations

from datetime import timedelta

from billdesk import jobs
from billdesk.attachments import Upload
from billdesk.tables import Attachment, Job, Message, Ticket
from billdesk.tickets import close_ticket, reply_as_staff
from tests.factories import add_member, as_current, make_department, make_ticket, make_user
from tests.integration.telegram.conftest import PNG, link


async def _desk():
    customer, agent = await make_user(), await make_user(role="staff", name="Sam Support")
    department = await make_department(name="Technical", free_tickets=None)
    await add_member(department_id=department, user_id=agent.id)
    return customer, agent, department


async def test_start_ticket_add_a_reply_complete_then_the_staff_reply_reaches_the_chat(
    telegram, client, clock
):
    customer, agent, department = await _desk()
    ticket_id = await make_ticket(customer, department, "Mail bounces\nSince this morning.")
    await make_ticket(customer, department, "Second question")
    chat = await link(client, telegram, customer)

    await chat.send("/start")
    listing = chat.new_calls("sendMessage")[-1]
    assert [b["text"] for b in listing.buttons] == [
        f"#{ticket_id + 1} Second question \u00b7 In progress",
        f"#{ticket_id} Mail bounces \u00b7 In progress",
    ]

    await chat.press(f"#{ticket_id} ")
    shown = chat.new_calls("sendMessage")[-1]
    assert shown.text.startswith(f"#{ticket_id} \u00b7 Mail bounces\nStatus: In progress")
    assert "Mail bounces\nSince this morning." in shown.text
    assert [b["text"] for b in shown.buttons] == ["Add a reply", "All my tickets"]

    await chat.press("Add a reply")
    await chat.send("Here is the bounce.")
    await chat.send_document("bounce.png", PNG)
    await chat.send("It says 550.")
    await chat.press("Complete")
    assert chat.last_reply().startswith(f"Your reply was added to #{ticket_id}.")

    replies = await Message.select().where(
        (Message.ticket == ticket_id) & (Message.opening == False)  # noqa: E712
    )
    assert len(replies) == 1
    assert replies[0]["body"] == "Here is the bounce.\n\nIt says 550."
    assert replies[0]["channel"] == "telegram" and replies[0]["author"] == customer.id
    assert await Attachment.count().where(Attachment.message == replies[0]["id"]) == 1
    await chat.press("Complete")  # pressed again: nothing more is added
    assert await Message.count().where(Message.ticket == ticket_id) == 2

    await jobs.drain()
    telegram.reset()
    await reply_as_staff(
        ticket_id, as_current(agent), "Your mailbox was full; I emptied it.",
        files=[Upload("fix.png", PNG)],
    )
    await reply_as_staff(ticket_id, as_current(agent), "Internal: customer on old plan", internal=True)
    await jobs.drain()

    [told] = telegram.sent("sendMessage", chat.id)
    assert told.text == (
        f"Sam Support replied on #{ticket_id} \u00b7 Mail bounces:\n\n"
        "Your mailbox was full; I emptied it."
    )
    assert [b["text"] for b in told.buttons] == ["Add a reply", "All my tickets"]
    [document] = telegram.sent("sendDocument", chat.id)
    assert document.files["document"] == ("fix.png", PNG)
    assert "Internal" not in str([c.params for c in telegram.calls])


async def test_a_long_staff_reply_is_cut_with_a_link_to_the_ticket(telegram, client):
    customer, agent, department = await _desk()
    ticket_id = await make_ticket(customer, department)
    chat = await link(client, telegram, customer)
    await jobs.drain()
    telegram.reset()
    await reply_as_staff(ticket_id, as_current(agent), "word " * 1500)
    await jobs.drain()
    [told] = telegram.sent("sendMessage", chat.id)
    assert len(told.text) < 4096
    assert told.text.endswith(
        f"(The message goes on: read all of it at http://127.0.0.1:8000/tickets/{ticket_id})"
    )


async def test_solved_tickets_are_read_only_and_closing_is_told(telegram, client):
    customer, agent, department = await _desk()
    ticket_id = await make_ticket(customer, department)
    chat = await link(client, telegram, customer)
    await chat.send("/start")
    await chat.press(f"#{ticket_id}")
    await chat.press("Add a reply")
    await jobs.drain()

    telegram.reset()
    await close_ticket(ticket_id, as_current(agent))
    await jobs.drain()
    [told] = telegram.sent("sendMessage", chat.id)
    assert "was marked solved. It is read-only now" in told.text

    await chat.send("Thanks!")
    await chat.press("Complete")
    assert chat.last_reply() == "This ticket is solved and read-only. Open a new ticket to continue."
    assert await Message.count().where(Message.ticket == ticket_id) == 1

    await chat.send("/start")
    assert chat.last_reply() == "You have no open tickets. /createticket opens one."
    await chat.post(chat.callback_update(f"ticket:open:{ticket_id}"))
    assert "This ticket is solved and read-only." in chat.last_reply()
    await chat.post(chat.callback_update(f"ticket:reply:{ticket_id}"))
    assert chat.last_reply() == f"#{ticket_id} is solved and read-only. /createticket opens a new ticket."


async def test_telegrams_429_retries_the_notification_after_retry_after_without_repeating(
    telegram, client, clock
):
    customer, agent, department = await _desk()
    ticket_id = await make_ticket(customer, department)
    chat = await link(client, telegram, customer)
    await jobs.drain()
    telegram.reset()
    telegram.fail_next("sendDocument", retry_after=42)

    await reply_as_staff(ticket_id, as_current(agent), "See the file.", files=[Upload("a.png", PNG)])
    await jobs.drain()
    assert len(telegram.sent("sendMessage", chat.id)) == 1
    assert len(telegram.sent("sendDocument", chat.id)) == 1  # the one answered 429
    job = await Job.select().where(Job.kind == "telegram.notify").first()
    assert job["status"] == "pending" and job["attempts"] == 1
    assert job["run_at"] == clock.now() + timedelta(seconds=42)

    clock.advance(timedelta(seconds=41))
    await jobs.drain()
    assert len(telegram.sent("sendDocument", chat.id)) == 1
    clock.advance(timedelta(seconds=1))
    await jobs.drain()
    assert len(telegram.sent("sendMessage", chat.id)) == 1  # the text is not sent again
    assert len(telegram.sent("sendDocument", chat.id)) == 2
    assert (await Job.select(Job.status).where(Job.id == job["id"]).first())["status"] == "succeeded"


async def test_unlinked_customers_and_customer_messages_make_no_notification(telegram, client):
    customer, agent, department = await _desk()
    ticket_id = await make_ticket(customer, department)
    await reply_as_staff(ticket_id, as_current(agent), "Hello")
    await jobs.drain()
    assert await Job.count().where(Job.kind == "telegram.notify") == 0
    assert telegram.sent("sendMessage") == []

    await link(client, telegram, customer)
    await jobs.drain()
    from billdesk.tickets import reply_as_customer

    await reply_as_customer(ticket_id=ticket_id, customer=as_current(customer), body="Hi", files=[])
    await jobs.drain()
    assert await Job.count().where(Job.kind == "telegram.notify") == 0
    assert (await Ticket.select(Ticket.status).first())["status"] == "in_progress"
