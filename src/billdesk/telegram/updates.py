"""Updates in: the dispatcher, each update handled once, by webhook or by long polling.

`handle_update()` is the one entry of both ways in. It takes the update's id first
(a unique row per bot and `update_id`), so an update Telegram delivers twice, to
one process or to two, is handled once; if handling fails unexpectedly the id is
given back, so Telegram's redelivery is handled.
"""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from typing import Any

from aiogram import Dispatcher, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, Update

from billdesk import clock
from billdesk.tables import TelegramUpdate
from billdesk.telegram import follow, gate, linking, new_ticket
from billdesk.telegram.client import bot
from billdesk.telegram.speech import _
from billdesk.telegram.storage import DatabaseIsolation, DatabaseStorage

log = logging.getLogger("billdesk.telegram")

ALLOWED_UPDATES = ["message", "callback_query"]


async def anything_else(message: Message, state: FSMContext) -> None:
    if await state.get_state():
        await message.answer(_("Answer the question above with text, or press Cancel."))
        return
    await message.answer(linking.help_text())


async def stale_button(callback: CallbackQuery) -> None:
    await callback.answer(_("That button no longer does anything. /start shows your tickets."))


@lru_cache(maxsize=1)
def dispatcher() -> Dispatcher:
    """The bot's dispatcher: state in the database, one update per chat at a time."""
    built = Dispatcher(storage=DatabaseStorage(), events_isolation=DatabaseIsolation())
    built.update.outer_middleware(gate.Gate())
    built.include_routers(linking.router(), follow.router(), new_ticket.router(), fallback())
    return built


def update_key(bot_id: int, update_id: int) -> str:
    return f"{bot_id}:{update_id}"


async def _take(key: str) -> bool:
    taken = (
        await TelegramUpdate.insert(TelegramUpdate(key=key, received_at=clock.now()))
        .on_conflict(target=TelegramUpdate.key, action="DO NOTHING")
        .returning(TelegramUpdate.id)
    )
    return bool(taken)


async def handle_update(raw: dict[str, Any]) -> bool:
    """Handle one Update (JSON as Telegram sends it); False when it was handled before.

    Raises pydantic's ValidationError for something that is not an Update.
    """
    current = bot()
    update = Update.model_validate(raw, context={"bot": current})
    key = update_key(current.id, update.update_id)
    if not await _take(key):
        log.info("update %s was handled before", update.update_id)
        return False
    try:
        await dispatcher().feed_update(current, update)
    except Exception:
        await TelegramUpdate.delete().where(TelegramUpdate.key == key)
        raise
    return True


async def poll(stop: asyncio.Event, *, wait_seconds: int = 30) -> None:
    """Long polling until `stop` is set: for a provider without a public address."""
    current = bot()
    await current.delete_webhook(drop_pending_updates=False)
    offset: int | None = None
    while not stop.is_set():
        try:
            batch = await current.get_updates(
                offset=offset, timeout=wait_seconds, allowed_updates=ALLOWED_UPDATES
            )
        except TelegramAPIError as error:
            log.warning("getUpdates failed: %s", error)
            await _pause(stop, 5)
            continue
        except Exception as error:  # the network; try again shortly
            log.warning("cannot reach the Bot API: %s", error)
            await _pause(stop, 5)
            continue
        for update in batch:
            offset = update.update_id + 1
            try:
                await handle_update(update.model_dump(mode="json", exclude_none=True))
            except Exception:
                log.exception("update %s failed", update.update_id)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


async def set_webhook(url: str, secret: str) -> None:
    await bot().set_webhook(
        url=url, secret_token=secret, allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False
    )


def fallback() -> Router:
    """What answers anything the other handlers did not take."""
    made = Router(name="fallback")
    made.message.register(anything_else)
    made.callback_query.register(stale_button, F.data)
    return made
