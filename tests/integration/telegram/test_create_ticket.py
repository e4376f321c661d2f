"""/createticket from Telegram: step by step, with the limits of the web form, one write path."""

from __future__ import annotations

from billdesk.tables import Attachment, Message, QuotaCounter, Ticket
from tests.factories import make_department, make_service, make_user
from tests.integration.telegram.conftest import JPEG, PNG, Chat, link


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
