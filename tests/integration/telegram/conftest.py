"""The Telegram tests: one local Bot API stand-in per run, the bot pointed at it per test,
and `Chat`, a Telegram user who posts real Update JSON to /telegram/webhook."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from billdesk.settings import get_settings
from billdesk.telegram import close_bots, create_link
from billdesk.telegram.dev_server import BotApiStandIn, Call
from tests.factories import MadeUser, as_current

TOKEN = "123456:billdesk-test-token"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32
SECRET = "webhook-secret-for-tests"
_ids = itertools.count(1000)
# Telegram's user and chat ids are past 32 bits nowadays; the tests use such ids.
_chat_ids = itertools.count(7_000_000_001)


@pytest.fixture(scope="session")
def fake_telegram() -> Iterator[BotApiStandIn]:
    """The stand-in on 127.0.0.1, in a thread of its own: the test client runs the app
    in another thread and blocks the test's loop while it answers."""
    stand_in = BotApiStandIn(username="billdesk_test_bot", token=TOKEN)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-telegram", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(stand_in.start(), loop).result(timeout=10)
    yield stand_in
    asyncio.run_coroutine_threadsafe(stand_in.stop(), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)


@pytest.fixture
async def telegram(fake_telegram: BotApiStandIn) -> AsyncIterator[BotApiStandIn]:
    """The bot on, talking to the stand-in (emptied); settings restored afterwards."""
    fake_telegram.reset()
    values = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE": fake_telegram.base_url,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    get_settings.cache_clear()
    try:
        yield fake_telegram
    finally:
        await close_bots()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


class Chat:
    """A Telegram user in a private chat with the bot."""

    def __init__(self, client: AsyncTestClient, fake: BotApiStandIn, chat_id: int | None = None):
        self.client = client
        self.fake = fake
        self.id = chat_id or next(_chat_ids)
        self.seen = 0  # calls before this index were looked at already

    def _base(self) -> dict[str, Any]:
        return {
            "message_id": next(_ids), "date": 1_790_000_000,
            "chat": {"id": self.id, "type": "private", "first_name": "Ann"},
            "from": {"id": self.id, "is_bot": False, "first_name": "Ann", "username": f"ann{self.id}"},
        }

    async def post(self, update: dict[str, Any], *, secret: str | None = SECRET) -> Any:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        self.seen = len(self.fake.calls)
        response = await self.client.post("/telegram/webhook", json=update, headers=headers)
        return response

    def message_update(self, **content: Any) -> dict[str, Any]:
        return {"update_id": next(_ids), "message": {**self._base(), **content}}

    async def send(self, text: str) -> Any:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            content["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(text.split(" ", 1)[0])}
            ]
        response = await self.post(self.message_update(**content))
        assert response.status_code == 200, response.text
        return response

    async def send_document(self, name: str, data: bytes, caption: str | None = None) -> Any:
        file_id = self.fake.add_file(data, name)
        content: dict[str, Any] = {"document": {
            "file_id": file_id, "file_unique_id": file_id, "file_name": name,
            "file_size": len(data),
        }}
        if caption:
            content["caption"] = caption
        response = await self.post(self.message_update(**content))
        assert response.status_code == 200, response.text
        return response

    async def send_photo(self, data: bytes) -> Any:
        file_id = self.fake.add_file(data, "photo.jpg")
        sizes = [{"file_id": file_id, "file_unique_id": file_id, "width": 64, "height": 64,
                  "file_size": len(data)}]
        response = await self.post(self.message_update(photo=sizes))
        assert response.status_code == 200, response.text
        return response

    def callback_update(self, data: str, message_id: int | None = None) -> dict[str, Any]:
        message = {**self._base(), "from": {"id": 777000111, "is_bot": True, "first_name": "b"},
                   "text": "…"}
        if message_id is not None:
            message["message_id"] = message_id
        return {"update_id": next(_ids), "callback_query": {
            "id": f"cb{next(_ids)}",
            "from": {"id": self.id, "is_bot": False, "first_name": "Ann"},
            "chat_instance": "1", "message": message, "data": data,
        }}

    def button_update(self, label: str) -> dict[str, Any]:
        """The Update of pressing the button starting with `label` on the newest bot
        message offering it."""
        for call in reversed(self.fake.sent(chat_id=self.id)):
            if call.method.lower() in ("sendmessage", "editmessagetext"):
                try:
                    data = call.button_data(label)
                except LookupError:
                    continue
                return self.callback_update(data, self._message_id_of(call))
        raise AssertionError(f"no message offered a button {label!r}")

    async def press(self, label: str) -> Any:
        response = await self.post(self.button_update(label))
        assert response.status_code == 200, response.text
        return response

    def _message_id_of(self, call: Call) -> int | None:
        for entry in self.fake.transcripts.get(self.id, []):
            if entry.get("text") == call.text and "message_id" in entry:
                return int(entry["message_id"])
        return None

    def new_calls(self, method: str | None = None) -> list[Call]:
        """What the bot sent this chat during the last update (or since `seen`)."""
        return [
            c for c in self.fake.calls[self.seen:]
            if (method is None or c.method.lower() == method.lower())
            and (c.chat_id in (None, self.id))
        ]

    def replies(self) -> list[str]:
        return [c.text for c in self.new_calls("sendMessage")]

    def last_reply(self) -> str:
        replies = self.replies()
        assert replies, "the bot said nothing"
        return replies[-1]


async def link(client: AsyncTestClient, fake: BotApiStandIn, customer: MadeUser) -> Chat:
    """A chat linked to the customer through a deep link, as a person would do it."""
    deep_link = await create_link(as_current(customer))
    chat = Chat(client, fake)
    await chat.send(f"/start {deep_link.url.rsplit('start=', 1)[1]}")
    assert "now linked" in chat.last_reply()
    return chat
