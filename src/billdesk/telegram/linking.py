"""/start <token> links the chat to a customer; /stop unlinks it; /cancel and Cancel
drop an unfinished conversation."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from billdesk.auth import CurrentUser
from billdesk.i18n import current_language, speaking
from billdesk.telegram import links
from billdesk.telegram.keyboards import Step
from billdesk.telegram.new_ticket import edit
from billdesk.telegram.speech import _


def help_text() -> str:
    return _(
        "/createticket opens a ticket, /start shows your open tickets, /cancel drops what you "
        "were writing, /stop disconnects this chat from billdesk."
    )


async def link_chat(
    message: Message, command: CommandObject, state: FSMContext, customer: CurrentUser | None
) -> None:
    assert message.from_user is not None
    linked = await links.redeem(
        (command.args or "").strip(),
        chat_id=message.chat.id,
        username=message.from_user.username or "",
    )
    if linked is None:
        text = _(
            "This link has expired or was already used. Press \u201cConnect Telegram\u201d on "
            "your account page again for a new one (a link works once, for 15 minutes)."
        )
        if customer is not None:
            text += "\n" + _("This chat stays linked to %(name)s.", name=customer.name)
        await message.answer(text)
        return
    await state.clear()
    with speaking(linked.language or current_language()):
        linked_text = _(
            "This chat is now linked to %(name)s (%(email)s).", name=linked.name, email=linked.email
        )
        await message.answer(f"{linked_text}\n{help_text()}")


async def unlink_chat(message: Message, state: FSMContext) -> None:
    await links.unlink_chat(message.chat.id)
    await state.clear()
    await message.answer(
        _(
            "This chat is disconnected from billdesk: it will get no more messages about your "
            "tickets. Connect it again from your account page."
        )
    )


async def cancel_command(message: Message, state: FSMContext) -> None:
    was = await state.get_state()
    await state.clear()
    await message.answer(
        _("Cancelled: nothing was sent.")
        if was
        else _("There is nothing to cancel.") + " " + help_text()
    )


async def cancel_button(callback: CallbackQuery, state: FSMContext) -> None:
    was = await state.get_state()
    await state.clear()
    await callback.answer()
    await edit(
        callback, _("Cancelled: nothing was sent.") if was else _("There was nothing to cancel.")
    )


async def help_command(message: Message) -> None:
    await message.answer(help_text())


def router() -> Router:
    """The handlers of linking, unlinking and cancelling, in the order they are tried."""
    made = Router(name="linking")
    made.message.register(link_chat, CommandStart(deep_link=True))
    made.message.register(unlink_chat, Command("stop"))
    made.message.register(cancel_command, Command("cancel"))
    made.callback_query.register(cancel_button, Step.filter(F.action == "cancel"))
    made.message.register(help_command, Command("help"))
    return made
