"""Staff see that a message came from Telegram; a payment problem reaches the chat; the
per-chat lease keeps two updates of one chat from interleaving across processes."""

from __future__ import annotations

import asyncio

import pytest
from aiogram.fsm.storage.base import StorageKey

from billdesk import jobs
from billdesk.quotas import Price
from billdesk.telegram.storage import DatabaseIsolation
from billdesk.tickets import open_ticket
from tests.factories import (
    add_member,
    as_current,
    login,
    make_department,
    make_token,
    make_user,
)
from tests.integration.telegram.conftest import link
from tests.payment_helpers import DECLINED_CARD, give_card


async def test_the_desk_marks_messages_that_came_from_telegram(telegram, client, app_client_factory):
    customer, agent = await make_user(), await make_user(role="staff")
    department = await make_department(name="Technical", free_tickets=None)
    await add_member(department_id=department, user_id=agent.id)
    chat = await link(client, telegram, customer)
    await chat.send("/createticket")
    await chat.press("Technical")
    await chat.send("DNS question")
    await chat.press("Skip")
    await chat.send("Where do I set an MX record?")
    await chat.press("Complete")

    async with app_client_factory() as desk:
        await login(desk, agent.email)
        page = await desk.get("/desk/tickets/1")
        assert page.status_code == 200
        assert 'data-channel="telegram">via Telegram</span>' in page.text
        desk.cookies.clear()
        api = await desk.get(
            "/api/v1/desk/tickets/1", headers={"Authorization": f"Bearer {await make_token(agent)}"}
        )
    [message] = api.json()["messages"]
    assert message["channel"] == "telegram"


@pytest.mark.stripe
async def test_a_payment_problem_reaches_the_linked_chat_with_the_pay_link(telegram, client, sdk):
    customer = await make_user()
    department = await make_department(free_tickets=0, ticket_price=700)
    await give_card(sdk, customer.id, DECLINED_CARD)
    chat = await link(client, telegram, customer)
    await jobs.drain()
    telegram.reset()

    opened = await open_ticket(
        customer=as_current(customer), department_id=department, service_id=None,
        message="Opened on the web", files=[], accept_price=Price(700, "usd"), client_token=None,
    )
    await jobs.drain()
    [told] = telegram.sent("sendMessage", chat.id)
    assert told.text.startswith(
        f"The payment of 7.00 USD for #{opened.ticket_id} \u00b7 Opened on the web did not go through"
    )
    assert f"Pay here: http://127.0.0.1:8000/tickets/{opened.ticket_id}/checkout" in told.text


async def test_one_update_of_a_chat_at_a_time_across_processes():
    key = StorageKey(bot_id=1, chat_id=42, user_id=42)
    first, second = DatabaseIsolation(), DatabaseIsolation()  # as in two processes
    order: list[str] = []
    held = asyncio.Event()

    async def hold() -> None:
        async with first.lock(key):
            order.append("first in")
            held.set()
            await asyncio.sleep(0.3)
            order.append("first out")

    async def wait() -> None:
        await held.wait()  # asks only once the first one holds the chat, however slow the machine
        async with second.lock(key):
            order.append("second in")

    await asyncio.gather(hold(), wait())
    assert order == ["first in", "first out", "second in"]
    async with second.lock(StorageKey(bot_id=1, chat_id=43, user_id=43)):
        pass  # another chat is never held up
