"""The bot speaks the customer's language: a Russian customer's conversation and the
notification of a staff reply come in Russian; a chat nobody linked follows Telegram's."""

from __future__ import annotations

from billdesk import jobs
from billdesk.accounts import set_language
from billdesk.tables import Ticket
from billdesk.tickets import reply_as_staff
from tests.factories import add_member, as_current, make_department, make_user
from tests.integration.telegram.conftest import Chat, link


async def test_a_russian_customer_opens_a_ticket_and_hears_the_reply_in_russian(telegram, client):
    customer = await make_user(name="Алиса")
    agent = await make_user(role="staff", name="Ada Staff")
    department = await make_department(name="Technical", free_tickets=3)
    await add_member(department_id=department, user_id=agent.id)
    chat = await link(client, telegram, customer)
    await set_language(user_id=customer.id, language="ru")  # chosen on the account page

    await chat.send("/createticket")
    question = chat.new_calls("sendMessage")[-1]
    assert question.text == "В какой отдел ваш вопрос?"
    assert [b["text"] for b in question.buttons] == [
        "Technical \u00b7 осталось бесплатных: 3 из 3",
        "Отмена",
    ]
    await chat.press("Technical")
    assert chat.new_calls("editMessageText")[0].text == "Отдел: Technical"
    assert chat.last_reply() == "О чём обращение? Отправьте тему одной строкой."
    await chat.send("Сервер не отвечает")
    await chat.press("Пропустить")
    assert chat.new_calls("editMessageText")[0].text == "Услуга: не указана"
    await chat.send("Пинг не проходит.")
    assert "Добавлено. Пока что: 1 сообщение и 0 файлов." in chat.last_reply()
    await chat.send("И панель недоступна.")
    assert "2 сообщения и 0 файлов" in chat.last_reply()
    await chat.press("Готово")
    ticket = await Ticket.select(Ticket.id).first()
    assert chat.last_reply().startswith(f"Тикет #{ticket['id']} создан: Сервер не отвечает.")

    await reply_as_staff(ticket_id=ticket["id"], author=as_current(agent), body="Перезапустили.")
    await jobs.drain()
    told = chat.new_calls("sendMessage")[-1]
    assert told.text.startswith(
        f"Ada Staff ответил(а) в тикете #{ticket['id']} \u00b7 Сервер не отвечает:"
    )
    assert "Перезапустили." in told.text
    assert [b["text"] for b in told.buttons] == ["Ответить", "Все мои тикеты"]


async def test_an_unlinked_chat_is_told_how_to_connect_in_its_telegram_language(telegram, client):
    chat = Chat(client, telegram)
    update = chat.message_update(text="/createticket")
    update["message"]["from"]["language_code"] = "ru"
    await chat.post(update)
    assert chat.last_reply().startswith("Этот чат не привязан к учётной записи billdesk.")
    await chat.send("/createticket")  # Telegram reports no language: English
    assert chat.last_reply().startswith("This chat is not linked to a billdesk account.")
