"""The aiogram Bot that talks to the Bot API: Telegram's, or TELEGRAM_API_BASE's.

aiogram takes seconds to import (its hundreds of pydantic models), so it is
imported when the bot is first needed, never by a billdesk that has no bot;
`warm_up()` imports it in the background when the app starts with a token.
"""

from __future__ import annotations

import asyncio
import importlib
import weakref
from typing import TYPE_CHECKING

from billdesk.errors import DeskError
from billdesk.i18n import tr
from billdesk.settings import get_settings

if TYPE_CHECKING:
    from aiogram import Bot


class TelegramUnavailable(DeskError):
    code = "telegram_unavailable"
    status = 503
    title = tr("Telegram is not available")


# One Bot per event loop and (token, API base): its HTTP session belongs to the
# loop that opened it.
_bots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], Bot]] = (
    weakref.WeakKeyDictionary()
)
_usernames: dict[str, str] = {}


def bot() -> Bot:
    """The bot of the current settings, for the running event loop."""
    settings = get_settings()
    token = settings.telegram_bot_token
    if not token:
        raise TelegramUnavailable(
            tr("The Telegram bot is not set up (TELEGRAM_BOT_TOKEN is empty).")
        )
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    base = settings.telegram_api_base or ""
    key = (token, base)
    of_loop = _bots.setdefault(asyncio.get_running_loop(), {})
    existing = of_loop.get(key)
    if existing is not None:
        return existing
    session = AiohttpSession(api=TelegramAPIServer.from_base(base)) if base else AiohttpSession()
    made = Bot(token=token, session=session)
    of_loop[key] = made
    return made


async def close_bots() -> None:
    """Close the HTTP sessions of this loop's bots (the app's shutdown, a command's end)."""
    for made in _bots.pop(asyncio.get_running_loop(), {}).values():
        await made.session.close()


async def bot_username() -> str:
    """The bot's @username (asked once per token with getMe), for t.me links."""
    current = bot()
    name = _usernames.get(current.token)
    if name is None:
        try:
            me = await current.get_me()
        except Exception as exc:
            raise TelegramUnavailable(
                tr("Telegram cannot be reached right now; try again in a minute.")
            ) from exc
        name = me.username or ""
        _usernames[current.token] = name
    return name


async def warm_up() -> None:
    """Import the bot's code in a thread at start-up, so the first update is not slow."""
    if get_settings().telegram_configured:
        await asyncio.to_thread(importlib.import_module, "billdesk.telegram.updates")
