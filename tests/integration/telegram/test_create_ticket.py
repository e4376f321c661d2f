"""/createticket from Telegram: step by step, with the limits of the web form, one write path."""

from __future__ import annotations

import pytest

from billdesk import jobs
from billdesk.tables import Attachment, Charge, Department, Message, QuotaCounter, Ticket
from tests.factories import make_department, make_service, make_user
from tests.integration.telegram.conftest import JPEG, PNG, Chat, link
from tests.payment_helpers import DECLINED_CARD, give_card, intents_for_charge


async def test_the_whole_flow_opens_one_ticket_with_every_text_and_file(telegram, client):
    customer = await make_user()
    department = await make_department(name="Technical", free_tickets=3)
    await make_service(customer_id=customer.id, name="VPS-7")
    chat = await link(client, telegram, customer)

    await chat.send("/createticket")
    question = chat.new_calls("sendMessage")[-1]
    assert question.text == "Which department is your question for?"
    assert [b["text"] for b in question.buttons] == ["Technical \u00b7 3 of 3 free left", "Cancel"]

    await chat.press("Technical")
    assert [c.method for c in chat.new_calls()] == ["answerCallbackQuery", "editMessageText", "sendMessage"]
    assert chat.new_calls("editMessageText")[0].text == "Department: Technical"
    assert "subject" in chat.last_reply()

    await chat.send("Server down since noon")
    offered = chat.new_calls("sendMessage")[-1]
    assert [b["text"] for b in offered.buttons][-2:] == ["Skip", "Cancel"]
    assert offered.buttons[0]["text"].startswith("VPS-7")

    await chat.press("Skip")
    assert chat.new_calls("editMessageText")[0].text == "Service: none"
    assert "255 characters" in chat.last_reply()

    await chat.send("It answers no ping.")
    assert "1 message and 0 files" in chat.last_reply()
    await chat.send_photo(JPEG)
    await chat.send("The panel says the disk is full.")
    await chat.send_document("df.png", PNG, caption="Screenshot attached.")
    assert "3 messages and 2 files" in chat.last_reply()
    assert await Ticket.count() == 0  # nothing stored before Complete

    await chat.press("Complete")
    assert "is open: Server down since noon" in chat.last_reply()

    ticket = await Ticket.select().first()
    assert await Ticket.count() == 1
    assert ticket["subject"] == "Server down since noon"
    assert ticket["customer"] == customer.id and ticket["department"] == department
    assert ticket["service"] is None and ticket["status"] == "in_progress"
    message = await Message.select().where(Message.ticket == ticket["id"]).first()
    assert message["body"].splitlines()[0] == "Server down since noon"
    for text in ("It answers no ping.", "The panel says the disk is full.", "Screenshot attached."):
        assert text in message["body"]
    assert message["channel"] == "telegram"
    files = await Attachment.select(Attachment.filename, Attachment.content_type).where(
        Attachment.message == message["id"]
    ).order_by(Attachment.id)
    assert [f["content_type"] for f in files] == ["image/jpeg", "image/png"]
    assert files[1]["filename"] == "df.png"
    assert (await QuotaCounter.select(QuotaCounter.used).first())["used"] == 1


async def _at_message_step(client, telegram, *, free_tickets=3) -> tuple[Chat, int]:
    customer = await make_user()
    department = await make_department(name="Billing", free_tickets=free_tickets)
    chat = await link(client, telegram, customer)
    await chat.send("/createticket")
    await chat.press("Billing")
    await chat.send("Invoice question")
    await chat.press("Skip")
    return chat, department


async def test_a_message_over_255_characters_and_a_sixth_file_are_refused(telegram, client):
    chat, _ = await _at_message_step(client, telegram)

    await chat.send("x" * 256)
    assert chat.last_reply() == (
        "That message has 256 characters, and each message can have at most 255. "
        "It was not added: send it again in shorter parts."
    )
    await chat.send("y" * 255)
    assert "1 message and 0 files" in chat.last_reply()

    for n in range(5):
        await chat.send_document(f"shot{n}.png", PNG)
    assert "5 files" in chat.last_reply()
    await chat.send_document("shot5.png", PNG)
    assert chat.last_reply() == "A message can have at most 5 files, so shot5.png was not added."

    await chat.press("Complete")
    [message] = await Message.select(Message.id, Message.body)
    assert message["body"] == "Invoice question\n\n" + "y" * 255
    assert await Attachment.count().where(Attachment.message == message["id"]) == 5


async def test_files_are_checked_like_uploads(telegram, client):
    chat, _ = await _at_message_step(client, telegram)

    await chat.send_document("invoice.png", b"MZ\x90\x00 not a picture")
    assert chat.last_reply() == (
        "invoice.png is not a real .png file (its content does not match its name). It was not added."
    )
    await chat.send_document("tool.exe", b"MZ\x90\x00")
    assert "only .jpg, .png, .gif and .zip files can be attached" in chat.last_reply()
    await chat.send_document("big.zip", b"PK" + b"\x00" * (5 * 1024 * 1024))
    assert chat.last_reply() == "big.zip is larger than 5 MB, so it was not added."
    await chat.send("Only text then.")
    assert "1 message and 0 files" in chat.last_reply()


async def test_complete_needs_a_message_and_cancel_at_any_step_stores_nothing(telegram, client):
    chat, _ = await _at_message_step(client, telegram)

    await chat.press("Complete")
    [answer] = chat.new_calls("answerCallbackQuery")
    assert answer.params["text"] == "Write your message first, then press Complete."
    assert answer.params["show_alert"] in (True, "true")

    await chat.send("Half of a question")
    await chat.send_document("a.png", PNG)
    await chat.press("Cancel")
    assert chat.new_calls("editMessageText")[0].text == "Cancelled: nothing was sent."
    assert await Ticket.count() == 0 and await Attachment.count() == 0
    assert await QuotaCounter.count() == 0

    # After Cancel, texts are no longer collected and old buttons do nothing.
    await chat.send("Anything?")
    assert "/createticket opens a ticket" in chat.last_reply()
    await chat.press("Complete")
    assert await Ticket.count() == 0

    # /cancel at the subject step works the same.
    await chat.send("/createticket")
    await chat.press("Billing")
    await chat.send("/cancel")
    assert chat.last_reply() == "Cancelled: nothing was sent."
    assert await Ticket.count() == 0


async def test_a_service_is_chosen_by_button_or_by_its_id_and_only_the_customers_own(
    telegram, client
):
    customer, other = await make_user(), await make_user()
    await make_department(name="Technical", free_tickets=None)
    mine = await make_service(customer_id=customer.id, name="VPS-1")
    theirs = await make_service(customer_id=other.id, name="VPS-9")
    await make_service(customer_id=customer.id, name="Old VPS", status="cancelled")
    chat = await link(client, telegram, customer)

    await chat.send("/createticket")
    offered = [b["text"] for b in chat.new_calls("sendMessage")[-1].buttons]
    assert offered == ["Technical \u00b7 free", "Cancel"]
    await chat.press("Technical")
    await chat.send("Disk full")
    offered = [b["text"] for b in chat.new_calls("sendMessage")[-1].buttons]
    # Cancelled and suspended services are offered too ("why is my server suspended?"),
    # each with its status beside the name.
    assert offered[0].startswith("Old VPS \u00b7 cancelled") and offered[1].startswith("VPS-1 \u00b7 active")
    assert offered[2:] == ["Skip", "Cancel"]

    await chat.send(str(theirs))
    assert chat.last_reply().startswith(f"None of your services has the id \u201c{theirs}\u201d")
    # A forged button for someone else's service is refused the same way.
    await chat.post(chat.callback_update(f"service:{theirs}"))
    [answer] = chat.new_calls("answerCallbackQuery")
    assert answer.params["text"] == "That is not one of your services."

    await chat.send(str(mine))
    assert chat.new_calls("sendMessage")[0].text == "Service: VPS-1 \u00b7 active"
    await chat.send("Please clean it.")
    await chat.press("Complete")
    ticket = await Ticket.select(Ticket.service, Ticket.subject).first()
    assert ticket == {"service": mine, "subject": "Disk full"}


@pytest.mark.stripe
async def test_a_paid_ticket_asks_to_confirm_the_price_and_charges_once(telegram, client, sdk):
    customer = await make_user()
    await make_department(name="Priority", free_tickets=0, ticket_price=1500)
    await give_card(sdk, customer.id)
    chat = await link(client, telegram, customer)

    await chat.send("/createticket")
    assert chat.new_calls("sendMessage")[-1].buttons[0]["text"] == (
        "Priority \u00b7 15.00 USD a ticket"
    )
    await chat.press("Priority")
    await chat.send("Migrate my site")
    await chat.press("Skip")
    await chat.send("From the old plan to the new one.")
    await chat.press("Complete")

    asked = chat.new_calls("sendMessage")[-1]
    assert "Every ticket in Priority costs 15.00 USD" in asked.text
    assert [b["text"] for b in asked.buttons] == ["Pay 15.00 USD and open the ticket", "Cancel"]
    assert await Ticket.count() == 0 and await Charge.count() == 0

    confirm = chat.button_update("Pay")
    await chat.post(confirm)
    assert "Ticket #" in chat.last_reply() and "15.00 USD was charged" in chat.last_reply()
    # The same press delivered again, and a second press of the old button: still one charge.
    await chat.post(confirm)
    await chat.post(chat.callback_update(asked.button_data("Pay")))

    [ticket] = await Ticket.select(Ticket.id, Ticket.status)
    assert ticket["status"] == "in_progress"
    [charge] = await Charge.select(Charge.id, Charge.status, Charge.amount)
    assert (charge["status"], charge["amount"]) == ("succeeded", 1500)
    [intent] = intents_for_charge(sdk, charge["id"])
    assert intent.status == "succeeded" and intent.amount == 1500


@pytest.mark.stripe
async def test_a_declined_card_gets_the_pay_link_once(telegram, client, sdk):
    customer = await make_user()
    await make_department(name="Priority", free_tickets=0, ticket_price=900)
    await give_card(sdk, customer.id, DECLINED_CARD)
    chat = await link(client, telegram, customer)
    await chat.send("/createticket")
    await chat.press("Priority")
    await chat.send("Urgent restore")
    await chat.press("Skip")
    await chat.send("Please restore yesterday's backup.")
    await chat.press("Complete")
    await chat.press("Pay 9.00 USD")

    [ticket] = await Ticket.select(Ticket.id, Ticket.status)
    assert ticket["status"] == "awaiting_payment"
    told = chat.last_reply()
    assert "is waiting for its payment of 9.00 USD" in told
    assert f"/tickets/{ticket['id']}/checkout" in told

    # The payment problem is a notification too, but the chat already has the link.
    chat.seen = len(telegram.calls)
    await jobs.drain()
    assert chat.new_calls("sendMessage") == []
    assert await Charge.count() == 1


async def test_a_price_that_changed_is_asked_again(telegram, client):
    from tests.payment_helpers import stripe_settings

    customer = await make_user()
    department = await make_department(name="Priority", free_tickets=0, ticket_price=1500)
    chat = await link(client, telegram, customer)
    with stripe_settings("http://127.0.0.1:9"):  # payments on; the price changes first
        await chat.send("/createticket")
        await chat.press("Priority")
        await chat.send("Migrate")
        await chat.press("Skip")
        await chat.send("Please.")
        await chat.press("Complete")
        await Department.update({Department.ticket_price: 2500}).where(Department.id == department)
        await chat.press("Pay 15.00 USD")
        asked = chat.new_calls("sendMessage")[-1]
        assert asked.text.startswith("The price is now 25.00 USD")
        assert asked.buttons[0]["text"] == "Pay 25.00 USD and open the ticket"
    assert await Ticket.count() == 0 and await Charge.count() == 0
