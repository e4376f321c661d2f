"""Notifications to linked chats: a staff public reply, a solved ticket, a payment problem.

The outbox hands every happening to `tell_telegram` after its change committed; for
the three kinds a customer hears about, on a ticket whose customer has linked a
chat, it enqueues a `telegram.notify` job. The job sends the text (a long reply is
cut, with a link to the ticket page) and the reply's files as documents. A part
already sent is never sent again when the job is retried (see `deliveries`), and
Telegram's 429 answers retry the job after exactly the `retry_after` it asked for.
Internal notes never leave billdesk.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from billdesk import clock, jobs, outbox
from billdesk.i18n import current_language, gettext, speaking
from billdesk.quotas import Price
from billdesk.settings import get_settings
from billdesk.tables import (
    Charge,
    Message,
    TelegramChat,
    TelegramDelivery,
    TelegramLink,
    TelegramUpdate,
    Ticket,
    User,
)
from billdesk.telegram import deliveries
from billdesk.telegram.client import bot
from billdesk.telegram.speech import _

log = logging.getLogger("billdesk.telegram")

KEEP_UPDATES = timedelta(days=3)  # Telegram redelivers an update for at most a day
KEEP_DELIVERIES = timedelta(days=30)
KEEP_CONVERSATIONS = timedelta(days=30)

NOTIFY = "telegram.notify"
STAFF_ROLES = {User.Role.staff.value, User.Role.admin.value, User.Role.finance.value}


def wanted(happening: dict[str, Any]) -> bool:
    """Is this something a customer is told about in Telegram?"""
    kind = happening["type"]
    if kind == outbox.MESSAGE_ADDED:
        return not happening.get("internal") and happening.get("author_role") in STAFF_ROLES
    if kind == outbox.STATUS_CHANGED:
        return happening.get("new") == Ticket.Status.solved.value
    return kind == outbox.CHARGE_PAYMENT_FAILED


@outbox.subscriber("telegram")
async def tell_telegram(happening: dict[str, Any]) -> None:
    if not get_settings().telegram_configured or not wanted(happening):
        return
    ticket = await Ticket.select(Ticket.customer, Ticket.merged_into).where(
        Ticket.id == happening["ticket_id"]
    ).first()
    if ticket is None or not await TelegramLink.exists().where(
        TelegramLink.user == ticket["customer"]
    ):
        return
    if happening["type"] == outbox.STATUS_CHANGED and ticket["merged_into"] is not None:
        return  # merged into another ticket, not solved: the customer is told in-app
    payload = {
        key: happening.get(key)
        for key in ("id", "type", "ticket_id", "actor_id", "message_id", "charge_id", "reason")
        if happening.get(key) is not None
    }
    await jobs.enqueue(NOTIFY, payload, key=f"{NOTIFY}:{happening['id']}")


async def _send_part(key: str, send: Any) -> None:
    """Send one part unless it was sent before; Telegram's answers become the job's fate."""
    from aiogram.exceptions import (
        TelegramBadRequest,
        TelegramForbiddenError,
        TelegramNotFound,
        TelegramRetryAfter,
    )

    if await deliveries.was_sent(key):
        return
    try:
        await send()
    except TelegramRetryAfter as limited:
        raise jobs.RetryAfter(limited.retry_after, "Telegram asked to slow down") from None
    except (TelegramForbiddenError, TelegramNotFound) as gone:
        raise jobs.GiveUp(f"the chat cannot be written to: {gone.message}") from None
    except TelegramBadRequest as refused:
        raise jobs.GiveUp(f"Telegram refused the message: {refused.message}") from None
    await deliveries.mark_sent(key)


@jobs.handler(NOTIFY, max_attempts=12)
async def notify(payload: dict[str, Any]) -> None:
    """Tell the ticket's customer, in their language."""
    from billdesk.accounts import language_of

    owner = await Ticket.select(Ticket.customer).where(Ticket.id == payload["ticket_id"]).first()
    with speaking(await language_of(owner["customer"]) if owner else None):
        await _notify(payload)


async def _notify(payload: dict[str, Any]) -> None:
    from aiogram.types import InlineKeyboardMarkup

    from billdesk.telegram.keyboards import (
        TicketAction,
        all_tickets_button,
        button,
        link_button,
        rows,
    )
    from billdesk.telegram.sending import cut, message_files, read_file, send_file

    ticket = (
        await Ticket.select(Ticket.id, Ticket.subject, Ticket.customer, Ticket.status)
        .where(Ticket.id == payload["ticket_id"])
        .first()
    )
    if ticket is None:
        return
    link = (
        await TelegramLink.select(TelegramLink.chat_id)
        .where(TelegramLink.user == ticket["customer"])
        .first()
    )
    if link is None:
        return  # unlinked since: nothing to tell
    if not get_settings().telegram_configured:
        raise jobs.GiveUp("the Telegram bot is switched off (TELEGRAM_BOT_TOKEN is empty)")
    chat_id = link["chat_id"]
    current = bot()
    kind = payload["type"]
    heading = f"#{ticket['id']} \u00b7 {ticket['subject']}"
    if kind == outbox.MESSAGE_ADDED:
        message = (
            await Message.select(
                Message.id,
                Message.body,
                Message.deleted,
                Message.internal,
                Message.author.name.as_alias("author_name"),
            )
            .where(Message.id == payload["message_id"])
            .first()
        )
        if message is None or message["internal"] or message["deleted"]:
            return
        said = _("%(author)s replied on %(ticket)s:", author=message["author_name"], ticket=heading)
        text = f"{said}\n\n{cut(message['body'], ticket['id'])}"
        markup = rows(
            button(_("Add a reply"), TicketAction(action="reply", id=ticket["id"]))
            if ticket["status"] != Ticket.Status.solved.value
            else None,
            all_tickets_button(),
        )

        async def send_text() -> None:
            await current.send_message(chat_id=chat_id, text=text, reply_markup=markup)

        await _send_part(f"{payload['id']}:text", send_text)
        for file in await message_files(message["id"]):
            data = await read_file(file["storage_name"])
            if data is None:
                log.warning("attachment %s is missing from the upload folder", file["id"])
                continue

            async def send_document(name: str = file["filename"], content: bytes = data) -> None:
                await send_file(current, chat_id, name, content)

            await _send_part(f"{payload['id']}:file:{file['id']}", send_document)
        return
    if kind == outbox.STATUS_CHANGED:
        if payload.get("actor_id") == ticket["customer"]:
            return  # the customer closed it themselves
        solved = (
            _(
                "%(ticket)s was marked solved. It is read-only now; /createticket opens a new "
                "ticket.",
                ticket=heading,
            )
            + "\n\n"
            + _("How did we do? Rate it from 1 (poor) to 5 (excellent):")
        )
        ticket_url = f"{get_settings().base_url}/tickets/{ticket['id']}"
        rating = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    link_button(str(score), f"{ticket_url}?rate={score}#rating")
                    for score in range(1, 6)
                ]
            ]
        )

        async def send_solved() -> None:
            await current.send_message(chat_id=chat_id, text=solved, reply_markup=rating)

        await _send_part(f"{payload['id']}:text", send_solved)
        return
    if kind == outbox.CHARGE_PAYMENT_FAILED:
        await _payment_problem(payload, heading, chat_id)


async def _payment_problem(payload: dict[str, Any], heading: str, chat_id: int) -> None:
    from billdesk.payments.charges import payment_url
    from billdesk.telegram.keyboards import rows
    from billdesk.telegram.sending import web_button

    charge = (
        await Charge.select(
            Charge.id, Charge.amount, Charge.currency, Charge.status, Charge.ticket.status
        )
        .where(Charge.id == payload["charge_id"])
        .first()
    )
    if charge is None or charge["ticket.status"] != Ticket.Status.awaiting_payment.value:
        return  # paid or given up since
    reason = payload.get("reason") or ""
    url = payment_url(payload["ticket_id"])
    price = Price(charge["amount"], charge["currency"]).label()
    if reason:
        text = _(
            "The payment of %(price)s for %(ticket)s did not go through: %(reason)s. "
            "Pay here: %(url)s",
            price=price,
            ticket=heading,
            reason=gettext(current_language(), reason),
            url=url,
        )
    else:
        text = _(
            "The payment of %(price)s for %(ticket)s did not go through. Pay here: %(url)s",
            price=price,
            ticket=heading,
            url=url,
        )
    current = bot()

    async def send() -> None:
        await current.send_message(
            chat_id=chat_id,
            text=text,
            reply_markup=rows(web_button(_("Pay %(price)s", price=price), url)),
        )

    await _send_part(deliveries.payment_key(charge["id"], reason), send)


@jobs.periodic("telegram.prune", every=timedelta(hours=6))
async def prune() -> None:
    """Forget taken update ids and sent-part keys once no redelivery or retry can come,
    and conversations abandoned for a month."""
    now = clock.now()
    await TelegramUpdate.delete().where(TelegramUpdate.received_at < now - KEEP_UPDATES)
    await TelegramDelivery.delete().where(TelegramDelivery.sent_at < now - KEEP_DELIVERIES)
    # A conversation untouched for a month was abandoned: what it collected goes.
    await TelegramChat.delete().where(
        (TelegramChat.updated_at < now - KEEP_CONVERSATIONS)
        & (TelegramChat.locked_until.is_null() | (TelegramChat.locked_until < now))
    )
