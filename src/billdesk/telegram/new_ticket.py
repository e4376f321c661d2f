"""/createticket: department, subject, service (or Skip), the message, Complete.

The same `open_ticket` the client area calls opens the ticket, so the quota, the
price confirmation and the exactly-once charge hold here as well: when no free
ticket is left, the domain refuses until the customer presses the button that
accepts the price it named, and a price that changed meanwhile is asked again.
A conversation token is the ticket's client token, so Complete pressed twice (or
retried by Telegram) opens one ticket. Cancel, at any step, stores nothing.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from billdesk import quotas, tickets
from billdesk.auth import CurrentUser
from billdesk.errors import PaymentConfirmationRequired, PriceChanged
from billdesk.i18n import current_language, gettext
from billdesk.quotas import Price
from billdesk.tables import Charge, Service, Ticket
from billdesk.tables import Message as TicketMessage
from billdesk.telegram import collecting, deliveries
from billdesk.telegram.keyboards import (
    DepartmentChoice,
    ServiceChoice,
    Step,
    button,
    cancel_button,
    cancel_only,
    complete_or_cancel,
    rows,
    skip_button,
)
from billdesk.telegram.sending import ticket_url, web_button
from billdesk.telegram.speech import _
from billdesk.telegram.speech import shown as said

log = logging.getLogger("billdesk.telegram")

MAX_SERVICE_BUTTONS = 20


class NewTicket(StatesGroup):
    department = State()
    subject = State()
    service = State()
    message = State()
    price = State()


def department_label(department: dict[str, Any]) -> str:
    quota: quotas.QuotaStatus = department["quota"]
    if quota.always_free:
        return _("%(department)s \u00b7 free", department=department["name"])
    if quota.always_paid and quota.price is not None:
        return _(
            "%(department)s \u00b7 %(price)s a ticket",
            department=department["name"],
            price=quota.price.label(),
        )
    if quota.next_ticket_paid and quota.price is not None:
        return _(
            "%(department)s \u00b7 %(price)s (no free tickets left)",
            department=department["name"],
            price=quota.price.label(),
        )
    return _(
        "%(department)s \u00b7 %(left)s of %(free)s free left",
        department=department["name"],
        left=quota.remaining,
        free=quota.free_per_period,
    )


async def edit(callback: CallbackQuery, text: str) -> None:
    """Show the choice in place of the question that offered it (its buttons go).

    Only a courtesy: a message Telegram no longer lets the bot edit stays as it was.
    """
    if isinstance(callback.message, Message):
        try:
            await callback.message.edit_text(text)
        except TelegramBadRequest as refused:
            log.info("could not edit message %s: %s", callback.message.message_id, refused.message)


async def create_ticket(message: Message, state: FSMContext, customer: CurrentUser) -> None:
    await state.clear()
    await tickets.ensure_support_enabled()
    departments = await tickets.customer_departments(customer.id)
    if not departments:
        await message.answer(_("There is no department to write to right now."))
        return
    await state.set_state(NewTicket.department)
    await state.set_data({"token": secrets.token_urlsafe(16)})
    await message.answer(
        _("Which department is your question for?"),
        reply_markup=rows(
            *[button(department_label(d), DepartmentChoice(id=d["id"])) for d in departments],
            cancel_button(),
        ),
    )


async def choose_department(
    callback: CallbackQuery,
    callback_data: DepartmentChoice,
    state: FSMContext,
    customer: CurrentUser,
) -> None:
    department = await tickets.usable_department(callback_data.id)
    await callback.answer()
    await state.update_data(department_id=department["id"])
    await edit(callback, _("Department: %(name)s", name=department["name"]))
    await state.set_state(NewTicket.subject)
    await callback.bot.send_message(  # type: ignore[union-attr]
        chat_id=callback.from_user.id,
        text=_("What is it about? Send the subject in one line."),
        reply_markup=cancel_only(),
    )


async def _ask_for_service(message: Message, customer: CurrentUser) -> None:
    services = await tickets.customer_services(customer.id)
    shown = services[:MAX_SERVICE_BUTTONS]
    await message.answer(
        _("Which of your services is it about? Press one, send its id, or press Skip.")
        if shown
        else _("Is it about one of your services? Send its id, or press Skip."),
        reply_markup=rows(
            *[
                button(f"{s['label']} ({s['external_id'] or s['id']})", ServiceChoice(id=s["id"]))
                for s in shown
            ],
            skip_button(),
            cancel_button(),
        ),
    )


async def enter_subject(message: Message, state: FSMContext, customer: CurrentUser) -> None:
    text = message.text or ""
    subject = " ".join(text.split())
    if not subject:
        await message.answer(_("The subject cannot be empty. Send it in one line."))
        return
    if len(text) > collecting.TEXT_LIMIT:
        await message.answer(
            _(
                "That subject has %(length)s characters; at most %(limit)s. Send a shorter one.",
                length=len(text),
                limit=collecting.TEXT_LIMIT,
            )
        )
        return
    await state.update_data(subject=subject)
    await state.set_state(NewTicket.service)
    await _ask_for_service(message, customer)


async def _ask_for_message(bot: Bot, chat_id: int, state: FSMContext) -> None:
    await state.set_state(NewTicket.message)
    await state.update_data(texts=[], files=[])
    await bot.send_message(
        chat_id=chat_id,
        text=_("Now write your message.") + " " + collecting.limits(),
        reply_markup=complete_or_cancel(),
    )


async def _own_service(customer: CurrentUser, condition: Any) -> dict[str, Any] | None:
    """One of the customer's services (any status) matching `condition`, or None."""
    return (
        await Service.select(Service.id, Service.name, Service.status)
        .where((Service.customer == customer.id) & condition)
        .first()
    )


def _typed_service(typed: str) -> Any:
    """A service as a person types it: its billing-system id, or billdesk's number."""
    if typed.isdigit() and len(typed) < 10:
        return (Service.external_id == typed) | (Service.id == int(typed))
    return Service.external_id == typed


async def choose_service(
    callback: CallbackQuery,
    callback_data: ServiceChoice,
    state: FSMContext,
    customer: CurrentUser,
    bot: Bot,
) -> None:
    service = await _own_service(customer, Service.id == callback_data.id)
    if service is None:
        await callback.answer(_("That is not one of your services."), show_alert=True)
        return
    await callback.answer()
    await state.update_data(service_id=service["id"])
    await edit(callback, _("Service: %(service)s", service=said(tickets.service_label(service))))
    await _ask_for_message(bot, callback.from_user.id, state)


async def skip_service(callback: CallbackQuery, state: FSMContext, bot: Bot) -> None:
    await callback.answer()
    await state.update_data(service_id=None)
    await edit(callback, _("Service: none"))
    await _ask_for_message(bot, callback.from_user.id, state)


async def enter_service(
    message: Message, state: FSMContext, customer: CurrentUser, bot: Bot
) -> None:
    typed = (message.text or "").strip()
    service = await _own_service(customer, _typed_service(typed)) if len(typed) <= 100 else None
    if service is None:
        await message.answer(
            _(
                "None of your services has the id \u201c%(id)s\u201d. "
                "Press one of the buttons, send another id, or press Skip.",
                id=typed[:100],
            )
        )
        return
    await state.update_data(service_id=service["id"])
    await message.answer(_("Service: %(service)s", service=said(tickets.service_label(service))))
    await _ask_for_message(bot, message.chat.id, state)


async def add_to_message(message: Message, state: FSMContext, bot: Bot) -> None:
    answer = await collecting.collect(message, state, bot)
    await message.answer(answer, reply_markup=complete_or_cancel())


async def complete(
    callback: CallbackQuery, state: FSMContext, customer: CurrentUser, bot: Bot
) -> None:
    data = await state.get_data()
    if not data.get("texts"):
        await callback.answer(_("Write your message first, then press Complete."), show_alert=True)
        return
    await callback.answer()
    await _submit(bot, callback.from_user.id, state, customer, accept_price=None)


async def confirm_price(
    callback: CallbackQuery, state: FSMContext, customer: CurrentUser, bot: Bot
) -> None:
    price = (await state.get_data())["price"]
    await callback.answer()
    await edit(
        callback,
        _("Price accepted: %(price)s", price=Price(price["amount"], price["currency"]).label()),
    )
    await _submit(
        bot,
        callback.from_user.id,
        state,
        customer,
        accept_price=Price(price["amount"], price["currency"]),
    )


async def _submit(
    bot: Bot,
    chat_id: int,
    state: FSMContext,
    customer: CurrentUser,
    *,
    accept_price: Price | None,
) -> None:
    data = await state.get_data()
    subject, texts = data["subject"], data["texts"]
    try:
        opened = await tickets.open_ticket(
            customer=customer,
            department_id=data["department_id"],
            service_id=data.get("service_id"),
            # The subject is derived from the first line, so the typed subject leads.
            message=collecting.body_of([subject, *texts]),
            files=await collecting.uploads(bot, data.get("files", [])),
            accept_price=accept_price,
            client_token=data["token"],
            channel=TicketMessage.Channel.telegram,
        )
    except (PaymentConfirmationRequired, PriceChanged) as asked:
        price = Price(asked.extra["price"]["amount"], asked.extra["price"]["currency"])
        await state.update_data(price=price.as_dict())
        await state.set_state(NewTicket.price)
        await bot.send_message(
            chat_id=chat_id,
            text=said(asked.detail),
            reply_markup=rows(
                button(
                    _("Pay %(price)s and open the ticket", price=price.label()),
                    Step(action="confirm"),
                ),
                cancel_button(),
            ),
        )
        return
    await state.clear()
    await _report(bot, chat_id, opened.ticket_id)


async def _report(bot: Bot, chat_id: int, ticket_id: int) -> None:
    """Where the new ticket stands: open, paid, or waiting for its payment (with the link)."""
    from billdesk.payments.charges import payment_url

    ticket = (
        await Ticket.select(Ticket.subject, Ticket.status).where(Ticket.id == ticket_id).first()
    )
    assert ticket is not None
    charge = (
        await Charge.select(
            Charge.id, Charge.amount, Charge.currency, Charge.status, Charge.failure_reason
        )
        .where(Charge.ticket == ticket_id)
        .first()
    )
    if ticket["status"] == Ticket.Status.awaiting_payment.value and charge is not None:
        url = payment_url(ticket_id)
        reason = (
            gettext(current_language(), charge["failure_reason"])
            if charge["failure_reason"]
            else _("the saved card could not be charged")
        )
        price = Price(charge["amount"], charge["currency"]).label()
        # The payment problem notification must not say it a second time.
        await deliveries.mark_sent(deliveries.payment_key(charge["id"], charge["failure_reason"]))
        await bot.send_message(
            chat_id=chat_id,
            text=_(
                "Ticket #%(id)s \u00b7 %(subject)s is waiting for its payment of %(price)s: "
                "%(reason)s. Pay here: %(url)s",
                id=ticket_id,
                subject=ticket["subject"],
                price=price,
                reason=reason,
                url=url,
            )
            + "\n"
            + _("Support sees the ticket once it is paid."),
            reply_markup=rows(web_button(_("Pay %(price)s", price=price), url)),
        )
        return
    paid = ""
    if charge is not None and charge["status"] == Charge.Status.succeeded.value:
        paid = " " + _(
            "%(price)s was charged to your saved card.",
            price=Price(charge["amount"], charge["currency"]).label(),
        )
    await bot.send_message(
        chat_id=chat_id,
        text=(
            _("Ticket #%(id)s is open: %(subject)s.", id=ticket_id, subject=ticket["subject"])
            + paid
            + "\n"
            + _("Support will answer here and at %(url)s.", url=ticket_url(ticket_id))
        ),
    )


def router() -> Router:
    """The handlers of /createticket, in the order they are tried."""
    made = Router(name="new_ticket")
    made.message.register(create_ticket, Command("createticket"))
    made.callback_query.register(choose_department, DepartmentChoice.filter(), NewTicket.department)
    made.message.register(enter_subject, NewTicket.subject, F.text, collecting.is_not_command)
    made.callback_query.register(choose_service, ServiceChoice.filter(), NewTicket.service)
    made.callback_query.register(skip_service, Step.filter(F.action == "skip"), NewTicket.service)
    made.message.register(enter_service, NewTicket.service, F.text, collecting.is_not_command)
    made.message.register(add_to_message, NewTicket.message, collecting.is_not_command)
    made.callback_query.register(complete, Step.filter(F.action == "complete"), NewTicket.message)
    made.callback_query.register(confirm_price, Step.filter(F.action == "confirm"), NewTicket.price)
    return made
