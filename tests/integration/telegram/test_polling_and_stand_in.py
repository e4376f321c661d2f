"""Long polling, `billdesk telegram set-webhook`, and the stand-in's page where a person
types as a customer: the offline demo, end to end."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx

from billdesk import telegram as bot_module
from billdesk.tables import TelegramLink
from tests.factories import as_current, make_user
from tests.integration.telegram.conftest import SECRET


async def _polling(stand_in):
    stop = asyncio.Event()
    task = asyncio.create_task(bot_module.poll(stop, wait_seconds=1))
    return stop, task


async def _until(condition, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the bot did not answer in time")


async def test_the_page_link_and_polling_connect_a_customer_and_answer_them(telegram):
    customer = await make_user(name="Ann Customer")
    deep_link = await bot_module.create_link(as_current(customer))
    telegram.webhook_url = "http://127.0.0.1:9/not-used"
    stop, task = await _polling(telegram)
    try:
        async with httpx.AsyncClient(base_url=telegram.base_url) as page:
            opened = await page.post("/chat/5005/open", data={"link": deep_link.url})
            assert opened.status_code == 303
            await _until(lambda: len(telegram.sent("sendMessage", 5005)) == 1)
            await page.post("/chat/5005/send", data={"text": "/start"})
            await _until(lambda: len(telegram.sent("sendMessage", 5005)) == 2)
            shown = (await page.get("/", params={"chat": 5005})).text
    finally:
        stop.set()
        await task
    assert telegram.webhook_url is None  # polling takes the updates instead of a webhook
    assert (await TelegramLink.select(TelegramLink.user, TelegramLink.chat_id).first()) == {
        "user": customer.id, "chat_id": 5005,
    }
    assert "This chat is now linked to Ann Customer" in shown
    assert "You have no open tickets. /createticket opens one." in shown
    assert "/start " + deep_link.url.split("start=")[1] in shown


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "billdesk.cli", *args], capture_output=True, text=True,
        timeout=60, env={**os.environ, **env},
    )


async def test_set_webhook_registers_the_address_and_the_secret(telegram):
    done = await asyncio.to_thread(_cli, "telegram", "set-webhook")
    assert done.returncode == 0, done.stderr
    assert telegram.webhook_url == "http://127.0.0.1:8000/telegram/webhook"
    assert telegram.webhook_secret == SECRET
    assert SECRET not in done.stdout + done.stderr

    refused = await asyncio.to_thread(_cli, "telegram", "set-webhook", TELEGRAM_WEBHOOK_SECRET="")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "billdesk: TELEGRAM_WEBHOOK_SECRET is not set: the webhook would refuse every update"
    )


async def test_the_stand_in_page_follows_the_browser_language_and_so_does_the_bot(telegram):
    """A developer with a Russian browser reads the stand-in's page in Russian, and the
    person they type as is a Russian Telegram user, whom the bot answers in Russian."""
    telegram.webhook_url = "http://127.0.0.1:9/not-used"
    stop, task = await _polling(telegram)
    try:
        async with httpx.AsyncClient(base_url=telegram.base_url) as page:
            russian = await page.get("/", params={"chat": 7007}, headers={"Accept-Language": "ru"})
            await page.post("/chat/7007/send", data={"text": "/start"})
            await _until(lambda: len(telegram.sent("sendMessage", 7007)) == 1)
            after = (
                await page.get("/", params={"chat": 7007}, headers={"Accept-Language": "ru"})
            ).text
            english = (await page.get("/", params={"chat": 7008})).text
    finally:
        stop.set()
        await task
    assert russian.headers["Content-Language"] == "ru"
    assert '<html lang="ru">' in russian.text
    for words in ("Заглушка Telegram", "Открыть ссылку", "Отправить", "Сообщений пока нет"):
        assert words in russian.text
    for english_words in ("Telegram stand-in", "Open link", "No messages yet", "refresh"):
        assert english_words not in russian.text
    assert "Этот чат не привязан к учётной записи billdesk" in after
    assert "Telegram stand-in" in english and "Open link" in english
