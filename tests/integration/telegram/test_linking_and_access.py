"""Who a chat acts as: the webhook's secret, linking by a single-use link, unlinked chats,
other customers' tickets, updates delivered twice, state that outlives the process."""

from __future__ import annotations

import os
import re
from datetime import timedelta

from billdesk.settings import get_settings
from billdesk.tables import Message, TelegramChat, TelegramLink, TelegramUpdate, Ticket
from billdesk.telegram import updates
from tests.factories import form_token, login, make_department, make_ticket, make_token, make_user
from tests.integration.telegram.conftest import SECRET, Chat, link


async def test_a_bad_or_missing_secret_is_refused_and_nothing_is_done(telegram, client):
    customer = await make_user()
    await make_department()
    chat = await link(client, telegram, customer)
    telegram.reset()

    update = chat.message_update(text="/createticket")
    for secret in ("wrong", SECRET.upper(), "", None):
        response = await chat.post(update, secret=secret)
        assert response.status_code == 403
    assert telegram.calls == []
    assert await TelegramUpdate.count().where(TelegramUpdate.key.like(f"%:{update['update_id']}")) == 0

    assert (await chat.post(update)).status_code == 200  # the right secret: handled
    assert telegram.sent("sendMessage")[0].text == "Which department is your question for?"


async def test_without_a_token_the_webhook_refuses_everything(client):
    os.environ["TELEGRAM_WEBHOOK_SECRET"] = SECRET
    get_settings.cache_clear()
    try:
        response = await client.post(
            "/telegram/webhook", json={"update_id": 1},
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        )
    finally:
        os.environ.pop("TELEGRAM_WEBHOOK_SECRET")
        get_settings.cache_clear()
    assert response.status_code == 403


async def test_not_json_or_not_an_update_is_a_400(telegram, client):
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    response = await client.post("/telegram/webhook", content=b"{nope", headers=headers)
    assert response.status_code == 400
    response = await client.post("/telegram/webhook", json={"message": "hi"}, headers=headers)
    assert response.status_code == 400
    assert telegram.calls == []


async def test_connect_on_the_account_page_links_once_for_15_minutes(telegram, client, clock):
    customer = await make_user()
    await login(client, customer.email)
    page = await client.get("/account")
    assert "Connect Telegram" in page.text

    shown = await client.post(
        "/account/telegram/link", data={"_csrf_token": await form_token(client, "/account")}
    )
    assert shown.status_code == 200
    url = re.search(r'href="(https://t\.me/billdesk_test_bot\?start=[A-Za-z0-9_-]+)"', shown.text)[1]
    assert re.search(r"until \d{4}-\d\d-\d\d 09:15 UTC", shown.text)
    token = url.split("start=")[1]

    chat = Chat(client, telegram)
    await chat.send(f"/start {token}")
    assert chat.last_reply().startswith(f"This chat is now linked to {customer.name}")
    assert (await TelegramLink.select(TelegramLink.user, TelegramLink.chat_id).first()) == {
        "user": customer.id, "chat_id": chat.id
    }
    page = await client.get("/account")
    assert f"Connected as <strong>@ann{chat.id}</strong>" in page.text

    # Single use: the same link in another chat links nothing.
    other = Chat(client, telegram)
    await other.send(f"/start {token}")
    assert other.last_reply().startswith("This link has expired or was already used.")
    assert await TelegramLink.count() == 1

    # A fresh link expires after 15 minutes.
    await client.post(
        "/account/telegram/disconnect", data={"_csrf_token": await form_token(client, "/account")}
    )
    assert await TelegramLink.count() == 0
    shown = await client.post(
        "/account/telegram/link", data={"_csrf_token": await form_token(client, "/account")}
    )
    late = re.search(r"start=([A-Za-z0-9_-]+)", shown.text)[1]
    clock.advance(timedelta(minutes=15, seconds=1))
    await chat.send(f"/start {late}")
    assert chat.last_reply().startswith("This link has expired or was already used.")
    assert await TelegramLink.count() == 0


async def test_the_api_gives_a_deep_link_to_customers_only(telegram, client, clock):
    customer, staff = await make_user(), await make_user(role="staff")
    headers = {"Authorization": f"Bearer {await make_token(customer)}"}
    response = await client.post("/api/v1/me/telegram-link", headers=headers)
    assert response.status_code == 201
    body = response.json()
    assert body["url"].startswith("https://t.me/billdesk_test_bot?start=")
    assert body["expires_at"] == "2026-11-02T09:15:00Z"

    staff_headers = {"Authorization": f"Bearer {await make_token(staff)}"}
    refused = await client.post("/api/v1/me/telegram-link", headers=staff_headers)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"

    chat = Chat(client, telegram)
    await chat.send(f"/start {body['url'].split('start=')[1]}")
    assert await TelegramLink.count() == 1
    assert (await client.delete("/api/v1/me/telegram-link", headers=headers)).status_code == 204
    assert await TelegramLink.count() == 0


async def test_the_api_answers_503_while_the_bot_is_off(client):
    customer = await make_user()
    headers = {"Authorization": f"Bearer {await make_token(customer)}"}
    response = await client.post("/api/v1/me/telegram-link", headers=headers)
    assert response.status_code == 503
    assert response.json()["code"] == "telegram_unavailable"


async def test_an_unlinked_chat_gets_an_explanation_and_nothing_else(telegram, client):
    customer = await make_user()
    department = await make_department()
    ticket_id = await make_ticket(customer, department, "Secret project plans")
    stranger = Chat(client, telegram)

    await stranger.send("/createticket")
    await stranger.send("/start")
    await stranger.send("hello")
    for text in stranger.fake.sent("sendMessage", stranger.id):
        assert text.text.startswith("This chat is not linked to a billdesk account.")
        assert text.buttons == []
    await stranger.post(stranger.callback_update(f"ticket:open:{ticket_id}"))
    [answer] = stranger.new_calls()
    assert answer.method == "answerCallbackQuery"
    assert answer.params["text"].startswith("This chat is not linked")
    assert "Secret" not in str([c.params for c in telegram.calls])
    assert await Ticket.count() == 1 and await TelegramChat.count().where(
        TelegramChat.state.is_not_null()
    ) == 0


async def test_another_customers_ticket_id_reveals_nothing(telegram, client):
    customer, other = await make_user(), await make_user()
    department = await make_department()
    theirs = await make_ticket(other, department, "Their private matter")
    chat = await link(client, telegram, customer)

    answers = []
    for data in (f"ticket:open:{theirs}", f"ticket:open:{theirs + 1000}",
                 f"ticket:reply:{theirs}", f"ticket:reply:{theirs + 1000}"):
        await chat.post(chat.callback_update(data))
        answers.append(chat.replies())
    assert answers == [["There is no such ticket."]] * 4
    assert "private matter" not in str([c.params for c in telegram.calls])
    assert await Message.count() == 1


async def test_the_same_update_delivered_twice_is_handled_once(telegram, client):
    customer = await make_user()
    await make_department(name="Billing")
    chat = await link(client, telegram, customer)
    await chat.send("/createticket")
    await chat.press("Billing")
    await chat.send("Refund")
    await chat.press("Skip")

    update = chat.message_update(text="Please refund the last invoice.")
    first = await chat.post(update)
    assert first.json() == {"result": "handled"} and len(chat.replies()) == 1
    again = await chat.post(update)
    assert again.status_code == 200 and again.json() == {"result": "duplicate"}
    assert chat.new_calls() == []

    complete = chat.button_update("Complete")
    await chat.post(complete)
    await chat.post(complete)
    [message] = await Message.select(Message.body)
    assert message["body"] == "Refund\n\nPlease refund the last invoice."


async def test_a_group_chat_is_told_to_use_a_private_chat(telegram, client):
    customer = await make_user()
    chat = await link(client, telegram, customer)
    update = chat.message_update(text="/start")
    update["message"]["chat"] = {"id": -1001234567890, "type": "supergroup", "title": "Team"}
    await chat.post(update)
    [said] = telegram.sent(chat_id=-1001234567890)
    assert said.text == "billdesk works in a private chat with the bot only."
    assert telegram.sent(chat_id=chat.id)[-1].text.startswith("This chat is now linked")


async def test_the_conversation_survives_a_restart_and_moves_between_processes(
    telegram, client, app_client_factory
):
    customer = await make_user()
    await make_department(name="Billing")
    chat = await link(client, telegram, customer)
    await chat.send("/createticket")
    await chat.press("Billing")
    await chat.send("Card expired")

    updates.dispatcher.cache_clear()  # a new process: nothing kept in memory
    async with app_client_factory() as other_process:
        moved = Chat(other_process, telegram, chat.id)
        await moved.press("Skip")
        await moved.send("How do I change it?")
        await moved.press("Complete")
    assert (await Ticket.select(Ticket.subject).first())["subject"] == "Card expired"


async def test_stop_unlinks_the_chat(telegram, client):
    customer = await make_user()
    chat = await link(client, telegram, customer)
    await chat.send("/stop")
    assert chat.last_reply().startswith("This chat is disconnected from billdesk")
    assert await TelegramLink.count() == 0
    await chat.send("/start")
    assert chat.last_reply().startswith("This chat is not linked")


async def test_old_update_ids_sent_parts_and_abandoned_conversations_are_pruned(clock):
    from billdesk.tables import TelegramDelivery
    from billdesk.telegram.notify import prune

    await TelegramUpdate.insert(TelegramUpdate(key="1:10", received_at=clock.now()))
    await TelegramDelivery.insert(TelegramDelivery(key="hap_x:text", sent_at=clock.now()))
    await TelegramChat.insert(
        TelegramChat(key="1:5:5", chat_id=5, state="NewTicket:message", updated_at=clock.now())
    )
    clock.advance(timedelta(days=4))
    await TelegramUpdate.insert(TelegramUpdate(key="1:11", received_at=clock.now()))
    await prune()
    assert [r["key"] for r in await TelegramUpdate.select(TelegramUpdate.key)] == ["1:11"]
    assert await TelegramDelivery.count() == 1  # kept for 30 days
    assert await TelegramChat.count() == 1
    clock.advance(timedelta(days=27))
    await prune()
    assert await TelegramDelivery.count() == 0
    assert await TelegramChat.count() == 0  # a conversation abandoned for a month
