"""Collecting what a customer sends for a new ticket or a reply: texts and files, with limits.

Each Telegram message may have at most 255 characters, several are allowed, and
the texts together make the ticket's message (at most 10,000 characters). Up to
5 files (photos and documents) are checked as uploads are: the file's content
must be a .jpg, .png, .gif or .zip of at most 5 MB. Only Telegram's file ids are
kept in the conversation; the files are fetched again when the customer presses
Complete, so an abandoned or cancelled conversation leaves nothing behind.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from billdesk import attachments
from billdesk.attachments import MAX_BYTES, MAX_FILES, Upload
from billdesk.errors import DeskError
from billdesk.formatting import number
from billdesk.i18n import tr
from billdesk.telegram.speech import _, ngettext, shown
from billdesk.tickets import MESSAGE_MAX

TEXT_LIMIT = 255
SEPARATOR = "\n\n"


def limits() -> str:
    return _(
        "Each message can have up to %(chars)s characters; send as many as you need, and up to "
        "%(files)s files (.jpg, .png, .gif or .zip, 5 MB each). Press Complete when you are done.",
        chars=TEXT_LIMIT,
        files=MAX_FILES,
    )


class FileRefused(DeskError):
    code = "attachment_rejected"


def is_not_command(message: Message) -> bool:
    """Commands (/start, /cancel, …) are never taken as a message's text."""
    return not (message.text or "").startswith("/")


def body_of(texts: list[str]) -> str:
    return SEPARATOR.join(texts)


async def fetch(bot: Bot, file_id: str) -> bytes:
    try:
        handle = await bot.download(file_id)
    except TelegramAPIError as exc:
        raise FileRefused(tr("Telegram could not hand over that file; send it again.")) from exc
    assert handle is not None
    return handle.read()


def _file_of(message: Message) -> dict[str, Any] | None:
    if message.photo:
        largest = message.photo[-1]
        return {
            "file_id": largest.file_id,
            "name": f"photo-{message.message_id}.jpg",
            "size": largest.file_size or 0,
        }
    if message.document:
        return {
            "file_id": message.document.file_id,
            "name": message.document.file_name or "file",
            "size": message.document.file_size or 0,
        }
    return None


def _check_text(text: str, texts: list[str]) -> str | None:
    """Why this text cannot be added, or None."""
    if len(text) > TEXT_LIMIT:
        return _(
            "That message has %(length)s characters, and each message can have at most "
            "%(limit)s. It was not added: send it again in shorter parts.",
            length=len(text),
            limit=TEXT_LIMIT,
        )
    if len(body_of([*texts, text])) > MESSAGE_MAX:
        return _(
            "Together your messages would be longer than %(limit)s characters, so this "
            "one was not added. Press Complete to send what you have.",
            limit=number(MESSAGE_MAX),
        )
    return None


async def collect(message: Message, state: FSMContext, bot: Bot) -> str:
    """Add the message's text or file to the conversation; the answer for the customer."""
    data = await state.get_data()
    texts: list[str] = list(data.get("texts", []))
    files: list[dict[str, Any]] = list(data.get("files", []))
    text = message.text if message.text is not None else (message.caption or "")
    file = _file_of(message)
    if file is None and message.text is None:
        return _(
            "Send text, photos or files (.jpg, .png, .gif, .zip); other kinds cannot be attached."
        )
    if text.strip():
        refusal = _check_text(text, texts)
        if refusal:
            return refusal
    if file is not None:
        if len(files) >= MAX_FILES:
            return _(
                "A message can have at most %(files)s files, so %(name)s was not added.",
                files=MAX_FILES,
                name=file["name"],
            )
        if file["size"] > MAX_BYTES:
            return _("%(name)s is larger than 5 MB, so it was not added.", name=file["name"])
        try:
            attachments.check_files([Upload(file["name"], await fetch(bot, file["file_id"]))])
        except DeskError as refusal:
            return _("%(refusal)s It was not added.", refusal=shown(refusal.detail))
        files.append(file)
    if text.strip():
        texts.append(text)
    elif file is None:
        return _("That message is empty.")
    await state.update_data(texts=texts, files=files)
    return _(
        "Added. So far: %(messages)s and %(files)s. Send more, or press Complete.",
        messages=ngettext("%(num)s message", "%(num)s messages", len(texts)),
        files=ngettext("%(num)s file", "%(num)s files", len(files)),
    )


async def uploads(bot: Bot, files: list[dict[str, Any]]) -> list[Upload]:
    """The collected files, fetched from Telegram for the domain's checks and storage."""
    return [Upload(file["name"], await fetch(bot, file["file_id"])) for file in files]
