"""/start in a linked chat: the open tickets as buttons, a ticket with its last message,
and Add a reply, which collects messages and files until Complete."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from billdesk import tickets
from billdesk.auth import CurrentUser
from billdesk.errors import TicketClosed
from billdesk.tables import Message as TicketMessage
from billdesk.tables import Ticket
from billdesk.telegram import collecting
from billdesk.telegram.keyboards import (
    Step,
    TicketAction,
    all_tickets_button,
    button,
    complete_or_cancel,
    rows,
)
from billdesk.telegram.sending import (
    cut,
    message_files,
    read_file,
    send_file,
    ticket_url,
    web_button,
)
from billdesk.telegram.speech import _, shown

LIST_LIMIT = 20
Status = Ticket.Status


class Reply(StatesGroup):
    message = State()


async def open_tickets(customer_id: int) -> list[dict[str, Any]]:
    """The customer's tickets that are not solved, newest activity first (at most 20)."""
    return (
        await Ticket.select(Ticket.id, Ticket.subject, Ticket.status)
        .where(
            (Ticket.customer == customer_id)
            & Ticket.removed_at.is_null()
            & (Ticket.archived == False)  # noqa: E712
            & (Ticket.status != Status.solved.value)
        )
        .order_by(Ticket.last_message_at, Ticket.id, ascending=False)
        .limit(LIST_LIMIT)
    )


async def send_list(bot: Bot, chat_id: int, customer: CurrentUser) -> None:
    found = await open_tickets(customer.id)
    if not found:
        await bot.send_message(
            chat_id=chat_id, text=_("You have no open tickets. /createticket opens one.")
        )
        return
    await bot.send_message(
        chat_id=chat_id,
        text=_("Your open tickets (press one to see it; /createticket opens a new one):"),
        reply_markup=rows(
            *[
                button(
                    f"#{t['id']} {t['subject']} \u00b7 {tickets.CUSTOMER_LABELS[Status(t['status'])]}",
                    TicketAction(action="open", id=t["id"]),
                )
                for t in found
            ]
        ),
    )


async def start(message: Message, state: FSMContext, customer: CurrentUser, bot: Bot) -> None:
    if await state.get_state():
        await message.answer(_("What you were writing was dropped: nothing was sent."))
    await state.clear()
    await send_list(bot, message.chat.id, customer)


async def list_again(
    callback: CallbackQuery, state: FSMContext, customer: CurrentUser, bot: Bot
) -> None:
    await callback.answer()
    await send_list(bot, callback.from_user.id, customer)


async def _last_public_message(ticket_id: int) -> dict[str, Any] | None:
    return (
        await TicketMessage.select(
            TicketMessage.id,
            TicketMessage.body,
            TicketMessage.created_at,
            TicketMessage.author.name.as_alias("author_name"),
        )
        .where(
            (TicketMessage.ticket == ticket_id)
            & (TicketMessage.internal == False)  # noqa: E712
            & (TicketMessage.deleted == False)  # noqa: E712
        )
        .order_by(TicketMessage.id, ascending=False)
        .first()
    )


async def show_ticket(
    callback: CallbackQuery, callback_data: TicketAction, customer: CurrentUser, bot: Bot
) -> None:
    ticket = await tickets.customer_ticket(callback_data.id, customer.id)
    await callback.answer()
    chat_id = callback.from_user.id
    status = Status(ticket["status"])
    lines = [
        f"#{ticket['id']} \u00b7 {ticket['subject']}",
        _("Status: %(status)s", status=shown(tickets.CUSTOMER_LABELS[status])),
    ]
    last = await _last_public_message(ticket["id"])
    files: list[dict[str, Any]] = []
    if last is not None:
        lines += [
            "",
            _(
                "Last message, from %(author)s on %(when)s UTC:",
                author=last["author_name"],
                when=last["created_at"].strftime("%Y-%m-%d %H:%M"),
            ),
            cut(last["body"], ticket["id"]),
        ]
        files = await message_files(last["id"])
    if status == Status.solved:
        lines += ["", _("This ticket is solved and read-only. /createticket opens a new one.")]
        markup = rows(all_tickets_button())
    elif status == Status.awaiting_payment:
        from billdesk.payments.charges import payment_url

        url = payment_url(ticket["id"])
        lines += ["", _("It is waiting for its payment: pay at %(url)s", url=url)]
        markup = rows(web_button(_("Pay"), url), all_tickets_button())
    else:
        markup = rows(
            button(_("Add a reply"), TicketAction(action="reply", id=ticket["id"])),
            all_tickets_button(),
        )
    await bot.send_message(chat_id=chat_id, text="\n".join(lines), reply_markup=markup)
    for file in files:
        data = await read_file(file["storage_name"])
        if data is not None:
            await send_file(bot, chat_id, file["filename"], data)
    await tickets.mark_read_by_customer(ticket["id"])


async def start_reply(
    callback: CallbackQuery,
    callback_data: TicketAction,
    state: FSMContext,
    customer: CurrentUser,
    bot: Bot,
) -> None:
    ticket = await tickets.customer_ticket(callback_data.id, customer.id)
    await callback.answer()
    chat_id = callback.from_user.id
    status = Status(ticket["status"])
    if status == Status.solved:
        await bot.send_message(
            chat_id=chat_id,
            text=_(
                "#%(id)s is solved and read-only. /createticket opens a new ticket.",
                id=ticket["id"],
            ),
        )
        return
    if status == Status.awaiting_payment:
        await bot.send_message(
            chat_id=chat_id,
            text=_(
                "#%(id)s is waiting for its payment; you can reply once it is paid.",
                id=ticket["id"],
            ),
        )
        return
    await state.clear()
    await state.set_state(Reply.message)
    await state.set_data({"ticket_id": ticket["id"], "texts": [], "files": []})
    await bot.send_message(
        chat_id=chat_id,
        text=_(
            "Write your reply to #%(id)s \u00b7 %(subject)s.",
            id=ticket["id"],
            subject=ticket["subject"],
        )
        + " "
        + collecting.limits(),
        reply_markup=complete_or_cancel(),
    )


async def add_to_reply(message: Message, state: FSMContext, bot: Bot) -> None:
    answer = await collecting.collect(message, state, bot)
    await message.answer(answer, reply_markup=complete_or_cancel())


async def complete_reply(
    callback: CallbackQuery, state: FSMContext, customer: CurrentUser, bot: Bot
) -> None:
    data = await state.get_data()
    if not data.get("texts"):
        await callback.answer(_("Write your reply first, then press Complete."), show_alert=True)
        return
    await callback.answer()
    ticket_id = data["ticket_id"]
    try:
        await tickets.reply_as_customer(
            ticket_id=ticket_id,
            customer=customer,
            body=collecting.body_of(data["texts"]),
            files=await collecting.uploads(bot, data.get("files", [])),
            channel=TicketMessage.Channel.telegram,
        )
    except TicketClosed as closed:
        await state.clear()
        await bot.send_message(chat_id=callback.from_user.id, text=shown(closed.detail))
        return
    await state.clear()
    await bot.send_message(
        chat_id=callback.from_user.id,
        text=_(
            "Your reply was added to #%(id)s. Support will answer here and at %(url)s.",
            id=ticket_id,
            url=ticket_url(ticket_id),
        ),
    )


def router() -> Router:
    """The handlers of following tickets, in the order they are tried."""
    made = Router(name="follow")
    made.message.register(start, CommandStart())
    made.callback_query.register(list_again, Step.filter(F.action == "list"))
    made.callback_query.register(show_ticket, TicketAction.filter(F.action == "open"))
    made.callback_query.register(start_reply, TicketAction.filter(F.action == "reply"))
    made.message.register(add_to_reply, Reply.message, collecting.is_not_command)
    made.callback_query.register(complete_reply, Step.filter(F.action == "complete"), Reply.message)
    return made
