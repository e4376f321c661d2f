"""What the bot sends that is more than a line: long texts cut with a link, files as documents."""

from __future__ import annotations

import asyncio
from typing import Any

from aiogram import Bot
from aiogram.types import BufferedInputFile, InlineKeyboardButton

from billdesk.settings import get_settings
from billdesk.tables import Attachment
from billdesk.telegram.keyboards import link_button
from billdesk.telegram.speech import _

# Telegram takes 4,096 characters in a message; a quoted body gets at most this
# many, so the heading and the link always fit.
BODY_LIMIT = 3000


def ticket_url(ticket_id: int) -> str:
    return f"{get_settings().base_url}/tickets/{ticket_id}"


def cut(body: str, ticket_id: int, limit: int = BODY_LIMIT) -> str:
    """The body, or its beginning and a link to the whole of it on the ticket page."""
    if len(body) <= limit:
        return body
    return (
        body[:limit].rstrip()
        + "…\n\n"
        + _("(The message goes on: read all of it at %(url)s)", url=ticket_url(ticket_id))
    )


def web_button(text: str, url: str) -> InlineKeyboardButton | None:
    """A button opening a billdesk page, when Telegram can open it (an https address).

    Telegram refuses buttons to other addresses, so the text carries the link too.
    """
    return link_button(text, url) if url.startswith("https://") else None


async def message_files(message_id: int) -> list[dict[str, Any]]:
    return (
        await Attachment.select(Attachment.id, Attachment.filename, Attachment.storage_name)
        .where(Attachment.message == message_id)
        .order_by(Attachment.id)
    )


async def read_file(storage_name: str) -> bytes | None:
    path = get_settings().upload_dir / storage_name
    try:
        return await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError:
        return None


async def send_file(bot: Bot, chat_id: int, filename: str, data: bytes) -> None:
    await bot.send_document(chat_id=chat_id, document=BufferedInputFile(data, filename=filename))
