"""Every update passes here first: private chats only, who the chat acts as, refusals.

A chat that is not linked gets a short explanation and nothing else, except the
`/start <token>` that links it. A linked chat acts as its one customer (handlers
receive it as `customer`). A refusal of the domain (a DeskError: a quota, a closed
ticket, a ticket that is not theirs) becomes the bot's answer, in the domain's words.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, Update

from billdesk.auth import CurrentUser
from billdesk.errors import DeskError
from billdesk.i18n import speaking, supported
from billdesk.settings import get_settings
from billdesk.telegram import links
from billdesk.telegram.speech import _, shown

log = logging.getLogger("billdesk.telegram")


def not_linked_text() -> str:
    return _(
        "This chat is not linked to a billdesk account. To link it, open your account "
        "page (%(url)s), press \u201cConnect Telegram\u201d and open the link it shows.",
        url=get_settings().base_url + "/account",
    )


def _links_the_chat(message: Message | None) -> bool:
    text = (message.text or "") if message else ""
    command, _, argument = text.partition(" ")
    return command.split("@", 1)[0] == "/start" and bool(argument.strip())


async def answer(event: Message | CallbackQuery, text: str, **kwargs: Any) -> None:
    """Say `text` in the event's chat (a pressed button is answered as well)."""
    if isinstance(event, CallbackQuery):
        await event.answer()
        if event.message is not None:
            await event.bot.send_message(chat_id=event.message.chat.id, text=text, **kwargs)  # type: ignore[union-attr]
        return
    await event.answer(text, **kwargs)


class Gate(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        inner: Message | CallbackQuery | None = event.message or event.callback_query
        if inner is None:
            return None  # billdesk asks Telegram for messages and button presses only
        chat: Chat | None = (
            inner.chat
            if isinstance(inner, Message)
            else (inner.message.chat if inner.message else None)
        )
        customer = (
            await links.customer_of_chat(chat.id)
            if chat is not None and chat.type == "private"
            else None
        )
        # The customer's chosen language, else the one Telegram reports for the person.
        reported = inner.from_user.language_code if inner.from_user else None
        with speaking(supported(customer.language if customer else None) or reported):
            return await self._within(handler, event, data, inner, chat, customer)

    async def _within(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: Update,
        data: dict[str, Any],
        inner: Message | CallbackQuery,
        chat: Chat | None,
        customer: CurrentUser | None,
    ) -> Any:
        if chat is None or chat.type != "private":
            if isinstance(inner, CallbackQuery):
                await inner.answer(_("billdesk works in a private chat with the bot only."))
            elif chat is not None:
                await inner.answer(_("billdesk works in a private chat with the bot only."))
            return None
        data["customer"] = customer
        if customer is None and not _links_the_chat(event.message):
            if isinstance(inner, CallbackQuery):
                await inner.answer(not_linked_text(), show_alert=True)
            else:
                await inner.answer(not_linked_text())
            return None
        try:
            return await handler(event, data)
        except DeskError as refusal:
            await answer(inner, shown(refusal.detail))
            return None
