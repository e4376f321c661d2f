"""Opening a ticket: the free quota, the confirmed price, the payments seam, double submits."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from billdesk import attachments, quotas
from billdesk.attachments import Upload
from billdesk.auth import CurrentUser
from billdesk.errors import (
    DeskError,
    PaymentConfirmationRequired,
    PaymentsUnavailable,
    PriceChanged,
    ValidationFailed,
)
from billdesk.quotas import Price
from billdesk.settings import get_settings
from billdesk.tables import Department, Message, Service, Ticket, TicketEvent, User
from billdesk.tickets.lifecycle import (
    Status,
    add_message,
    check_body,
    derive_subject,
    ensure_support_enabled,
    record_event,
    utc_now,
    write_transaction,
)


@dataclass(frozen=True)
class Opened:
    ticket_id: int
    created: bool  # False when a repeated submit found the ticket it opened before


def _payments_charger() -> Callable[..., Awaitable[Any]] | None:
    """`billdesk.payments.charge_new_ticket` when payments exist and are configured."""
    if not get_settings().payments_configured:
        return None
    try:
        payments = importlib.import_module("billdesk.payments")
    except ModuleNotFoundError:
        return None
    return getattr(payments, "charge_new_ticket", None)


def _accepted(accept_price: Price | int | None, price: Price) -> bool:
    if isinstance(accept_price, Price):
        return accept_price.amount == price.amount and accept_price.currency.lower() == price.currency
    return accept_price == price.amount


async def usable_department(department_id: int | None) -> dict[str, Any]:
    """A department customers may open tickets in, or a validation error naming it."""
    row = None
    if department_id is not None:
        row = await Department.select().where(
            (Department.id == department_id)
            & (Department.public == True)  # noqa: E712
            & (Department.active == True)  # noqa: E712
        ).first()
    if row is None:
        raise ValidationFailed.field("department_id", "Choose one of the departments listed.")
    return row


async def _check_service(service_id: int | None, customer_id: int) -> None:
    if service_id is None:
        return
    ok = await Service.exists().where(
        (Service.id == service_id)
        & (Service.customer == customer_id)
        & (Service.status == Service.Status.active.value)
    )
    if not ok:
        raise ValidationFailed.field(
            "service_id", "Choose one of your active services, or \u201cnot about a service\u201d."
        )


async def open_ticket(
    *,
    customer: CurrentUser,
    department_id: int | None,
    service_id: int | None,
    message: str | None,
    files: Sequence[Upload | Any],
    accept_price: Price | int | None,
    client_token: str | None,
    channel: Message.Channel = Message.Channel.web,
) -> Opened:
    """Open a ticket for a customer: free while the quota lasts, else paid once the price is accepted.

    A repeated submit with the same `client_token` answers the ticket the first
    one opened. A paid ticket is created as `awaiting_payment` and then handed
    to `billdesk.payments.charge_new_ticket(ticket_id=…)`, which charges it and
    moves it on; without payments configured a paid ticket is refused with
    `payments_unavailable` and nothing is stored.
    """
    await ensure_support_enabled()
    token_key = f"{customer.id}:{client_token}"[:100] if client_token else None
    if token_key:
        existing = await Ticket.select(Ticket.id).where(Ticket.client_token == token_key).first()
        if existing:
            return Opened(existing["id"], created=False)
    department = await usable_department(department_id)
    await _check_service(service_id, customer.id)
    body = check_body(message, "message")
    checked = attachments.check_files(files)

    storage_names = attachments.write_files(checked)
    charger = None
    try:
        async with write_transaction():
            paid = not await quotas.take_free_ticket(customer.id, department)
            if paid:
                price = Price(department["ticket_price"], department["currency"])
                if accept_price is None:
                    raise PaymentConfirmationRequired(
                        f"No free tickets are left in {department['name']} this period: "
                        f"this ticket costs {price.label()}. Confirm the price to open it.",
                        errors={"accept_price": f"Confirm the price of {price.label()}."},
                        extra={"price": price.as_dict()},
                    )
                if not _accepted(accept_price, price):
                    raise PriceChanged(
                        f"The price is now {price.label()}. Confirm the new price to open the ticket.",
                        errors={"accept_price": f"The price is now {price.label()}."},
                        extra={"price": price.as_dict()},
                    )
                charger = _payments_charger()
                if charger is None:
                    raise PaymentsUnavailable(
                        "Paid tickets cannot be taken right now, because card payments are "
                        "not available. Nothing was charged and no ticket was opened.",
                        errors={"accept_price": "Card payments are not available right now."},
                    )
            now = utc_now()
            status = Status.awaiting_payment if paid else Status.in_progress
            rows = await Ticket.insert(
                Ticket(
                    customer=customer.id, department=department["id"], service=service_id,
                    subject=derive_subject(body), status=status, created_at=now,
                    last_message_at=now, last_author_role=User.Role.customer.value,
                    unread_by_staff=True, unread_by_customer=False, client_token=token_key,
                )
            ).returning(Ticket.id)
            ticket_id = rows[0]["id"]
            await add_message(
                ticket_id=ticket_id, author_id=customer.id, body=body, internal=False,
                opening=True, files=checked, storage_names=storage_names, at=now,
                channel=channel,
            )
            await record_event(
                ticket_id=ticket_id, kind=TicketEvent.Kind.opened, actor_id=customer.id,
                new_value=status.value,
            )
    except DeskError:
        attachments.discard_files(storage_names)
        raise
    except Exception:
        attachments.discard_files(storage_names)
        # Two submits of one form at the same moment: the unique client token let
        # one of them in; the other answers with that ticket.
        if token_key:
            existing = await Ticket.select(Ticket.id).where(Ticket.client_token == token_key).first()
            if existing:
                return Opened(existing["id"], created=False)
        raise
    if charger is not None:
        # The payments seam: the ticket and its message are committed as
        # awaiting_payment; payments creates the charge, charges the saved card
        # and moves the ticket on. If it fails, the ticket waits to be paid.
        await charger(
            ticket_id=ticket_id, customer_id=customer.id, department_id=department["id"],
            amount=department["ticket_price"], currency=department["currency"],
        )
    return Opened(ticket_id, created=True)
