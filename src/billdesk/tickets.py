"""Ticket lifecycle: subjects, the table of allowed status moves, and the history.

Every change of a ticket's status goes through `next_status()`, and every
recorded change through `record_event()`, so the client area, the desk, the API
and the webhooks cannot disagree about what may happen to a ticket.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from billdesk import attachments, notifications, quotas
from billdesk.attachments import Upload
from billdesk.auth import CurrentUser
from billdesk.db import DB
from billdesk.errors import (
    DeskError,
    InvalidTransition,
    NotFound,
    PaymentConfirmationRequired,
    PaymentsUnavailable,
    PriceChanged,
    SupportDisabled,
    TicketClosed,
    ValidationFailed,
)
from billdesk.navigation import support_enabled
from billdesk.quotas import Price
from billdesk.settings import get_settings
from billdesk.tables import Department, Message, Service, Ticket, TicketEvent, User

SUBJECT_MAX = 100
MESSAGE_MAX = 10_000

Status = Ticket.Status


class Action(str, enum.Enum):
    pay = "pay"
    customer_reply = "customer_reply"
    staff_reply = "staff_reply"
    internal_note = "internal_note"
    close = "close"
    cancel = "cancel"
    archive = "archive"


# (current status, action) -> the status after it. A pair not listed is refused.
TRANSITIONS: dict[tuple[Status, Action], Status] = {
    (Status.awaiting_payment, Action.pay): Status.in_progress,
    (Status.awaiting_payment, Action.cancel): Status.solved,
    (Status.in_progress, Action.customer_reply): Status.in_progress,
    (Status.waiting_for_reply, Action.customer_reply): Status.in_progress,
    (Status.in_progress, Action.staff_reply): Status.waiting_for_reply,
    (Status.waiting_for_reply, Action.staff_reply): Status.waiting_for_reply,
    (Status.in_progress, Action.internal_note): Status.in_progress,
    (Status.waiting_for_reply, Action.internal_note): Status.waiting_for_reply,
    (Status.in_progress, Action.close): Status.solved,
    (Status.waiting_for_reply, Action.close): Status.solved,
    (Status.solved, Action.close): Status.solved,
    (Status.solved, Action.archive): Status.solved,
}

CUSTOMER_LABELS = {
    Status.awaiting_payment: "Awaiting payment",
    Status.in_progress: "In progress",
    Status.waiting_for_reply: "Waiting for your reply",
    Status.solved: "Solved",
}

STAFF_LABELS = {**CUSTOMER_LABELS, Status.waiting_for_reply: "Waiting for customer"}


def next_status(current: str | Status, action: Action) -> Status:
    """The status after `action`, or the error the caller must show.

    Replies to a solved ticket are `ticket_closed`; any other move the table does
    not list is `invalid_transition`.
    """
    status = Status(current)
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        pass
    if status == Status.solved and action in (
        Action.customer_reply, Action.staff_reply, Action.internal_note
    ):
        raise TicketClosed(
            "This ticket is solved and read-only. Open a new ticket to continue.",
            errors={"body": "This ticket is solved and read-only."},
        )
    if action == Action.archive:
        raise InvalidTransition(
            "Only a solved ticket can be archived. Close it first.",
            errors={"status": "Only a solved ticket can be archived."},
        )
    raise InvalidTransition(
        f"A ticket that is {CUSTOMER_LABELS[status].lower()} cannot be changed this way.",
        errors={"status": f"Not possible while the ticket is {CUSTOMER_LABELS[status].lower()}."},
    )


def derive_subject(message: str) -> str:
    """The first non-blank line of the message, whitespace collapsed, cut to 100 characters with …."""
    for line in message.splitlines():
        collapsed = " ".join(line.split())
        if collapsed:
            if len(collapsed) > SUBJECT_MAX:
                return collapsed[: SUBJECT_MAX - 1].rstrip() + "…"
            return collapsed
    return "(no subject)"


async def record_event(
    *, ticket_id: int, kind: TicketEvent.Kind, actor_id: int | None,
    old_value: object = "", new_value: object = "",
) -> None:
    """Add a line to the ticket's history (call inside the action's transaction)."""
    await TicketEvent.insert(
        TicketEvent(
            ticket=ticket_id, actor=actor_id, kind=kind,
            old_value=str(old_value or "")[:200], new_value=str(new_value or "")[:200],
        )
    )


# ------------------------------------------------------------ writing helpers


def write_transaction():
    """One action's transaction; on SQLite it takes the write lock at once, so the
    conditional updates inside it (quota counters) are atomic across processes."""
    if isinstance(DB, SQLiteEngine):
        return DB.transaction(transaction_type=TransactionType.immediate)
    return DB.transaction()


def _now() -> datetime:
    return datetime.now(UTC)


def check_body(body: str | None, field: str) -> str:
    """The message text, or a validation error naming `field` (1-10,000 characters, not only blanks)."""
    text = (body or "").replace("\r\n", "\n")
    if not text.strip():
        raise ValidationFailed.field(field, "Write a message: it cannot be empty.")
    if len(text) > MESSAGE_MAX:
        raise ValidationFailed.field(
            field, f"The message is {len(text):,} characters long; the limit is {MESSAGE_MAX:,}."
        )
    return text


async def ensure_support_enabled() -> None:
    if not await support_enabled():
        raise SupportDisabled(
            "Support is switched off for now: you can read your tickets, "
            "but not open new ones or reply."
        )


async def _add_message(
    *, ticket_id: int, author_id: int, body: str, internal: bool, opening: bool,
    files: list[attachments.CheckedFile], storage_names: list[str], at: datetime,
) -> int:
    rows = await Message.insert(
        Message(
            ticket=ticket_id, author=author_id, body=body, internal=internal, opening=opening,
            created_at=at,
        )
    ).returning(Message.id)
    message_id = rows[0]["id"]
    await attachments.insert_rows(
        ticket_id=ticket_id, message_id=message_id, files=files, storage_names=storage_names
    )
    return message_id


async def _move(ticket: dict[str, Any], action: Action, actor_id: int | None) -> Status:
    """The status after `action`, with its history line when it changes."""
    new = next_status(ticket["status"], action)
    if new != ticket["status"]:
        await record_event(
            ticket_id=ticket["id"], kind=TicketEvent.Kind.status, actor_id=actor_id,
            old_value=Status(ticket["status"]).value, new_value=new.value,
        )
    return new


async def _locked_ticket(ticket_id: int) -> dict[str, Any]:
    """The ticket's current row, read inside the write transaction."""
    row = await Ticket.select().where(Ticket.id == ticket_id).first()
    if row is None:
        raise NotFound("There is no such ticket.")
    return row


# ------------------------------------------------------------ opening


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
            now = _now()
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
            await _add_message(
                ticket_id=ticket_id, author_id=customer.id, body=body, internal=False,
                opening=True, files=checked, storage_names=storage_names, at=now,
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


# ------------------------------------------------------------ replies


async def customer_ticket(ticket_id: int, customer_id: int) -> dict[str, Any]:
    """The customer's own ticket (not in the trash), or NotFound as if it did not exist."""
    row = await Ticket.select().where(
        (Ticket.id == ticket_id) & (Ticket.customer == customer_id) & Ticket.removed_at.is_null()
    ).first()
    if row is None:
        raise NotFound("There is no such ticket.")
    return row


async def staff_ticket(ticket_id: int, user: CurrentUser) -> dict[str, Any]:
    """A ticket of one of the staff member's departments (any for admins), else NotFound."""
    row = await Ticket.select().where(Ticket.id == ticket_id).first()
    if row is None or not await attachments.staff_may_see_department(user, row["department"]):
        raise NotFound("There is no such ticket.")
    return row


async def reply_as_customer(
    *, ticket_id: int, customer: CurrentUser, body: str | None, files: Sequence[Upload | Any]
) -> int:
    """The customer answers on their ticket: it goes back to support (in progress). The message id."""
    await ensure_support_enabled()
    ticket = await customer_ticket(ticket_id, customer.id)
    next_status(ticket["status"], Action.customer_reply)
    text = check_body(body, "body")
    checked = attachments.check_files(files)
    storage_names = attachments.write_files(checked)
    try:
        async with write_transaction():
            ticket = await _locked_ticket(ticket_id)
            new = await _move(ticket, Action.customer_reply, customer.id)
            now = _now()
            message_id = await _add_message(
                ticket_id=ticket_id, author_id=customer.id, body=text, internal=False,
                opening=False, files=checked, storage_names=storage_names, at=now,
            )
            await Ticket.update(
                {
                    Ticket.status: new, Ticket.last_message_at: now,
                    Ticket.last_author_role: User.Role.customer.value,
                    Ticket.answers: Ticket.answers + 1, Ticket.unread_by_staff: True,
                    Ticket.unread_by_customer: False,
                }
            ).where(Ticket.id == ticket_id)
    except BaseException:
        attachments.discard_files(storage_names)
        raise
    return message_id


async def reply_as_staff(
    ticket_id: int, author: CurrentUser, body: str | None, internal: bool = False,
    files: Sequence[Upload | Any] | None = None,
) -> int:
    """Staff answer a ticket of their department. A public reply waits for the customer
    (waiting_for_reply, unread by them, notified); an internal note changes no status.
    The message id."""
    ticket = await staff_ticket(ticket_id, author)
    action = Action.internal_note if internal else Action.staff_reply
    next_status(ticket["status"], action)
    text = check_body(body, "body")
    checked = attachments.check_files(files or [])
    storage_names = attachments.write_files(checked)
    try:
        async with write_transaction():
            ticket = await _locked_ticket(ticket_id)
            new = await _move(ticket, action, author.id)
            now = _now()
            message_id = await _add_message(
                ticket_id=ticket_id, author_id=author.id, body=text, internal=internal,
                opening=False, files=checked, storage_names=storage_names, at=now,
            )
            if not internal:
                await Ticket.update(
                    {
                        Ticket.status: new, Ticket.last_message_at: now,
                        Ticket.last_author_role: author.role,
                        Ticket.answers: Ticket.answers + 1, Ticket.unread_by_customer: True,
                        Ticket.unread_by_staff: False,
                    }
                ).where(Ticket.id == ticket_id)
                await notifications.notify(
                    user_id=ticket["customer"], kind=notifications.Kind.reply_received,
                    ticket_id=ticket_id, text=f"Support replied on #{ticket_id}: {ticket['subject']}",
                )
    except BaseException:
        attachments.discard_files(storage_names)
        raise
    return message_id


# ------------------------------------------------------------ closing and archiving


async def close_ticket(ticket: dict[str, Any] | int, actor: CurrentUser) -> Status:
    """Close a ticket (customer or staff): solved, read-only. Closing a solved ticket changes nothing.

    The caller has already checked that `actor` may see the ticket (customer_ticket
    or staff_ticket). Staff closing tell the customer.
    """
    ticket_id = ticket if isinstance(ticket, int) else ticket["id"]
    async with write_transaction():
        current = await _locked_ticket(ticket_id)
        if current["status"] == Status.solved:
            return Status.solved
        new = await _move(current, Action.close, actor.id)
        await Ticket.update({Ticket.status: new}).where(Ticket.id == ticket_id)
        if actor.id != current["customer"]:
            await notifications.notify(
                user_id=current["customer"], kind=notifications.Kind.ticket_solved,
                ticket_id=ticket_id, text=f"#{ticket_id} was marked solved: {current['subject']}",
            )
    return new


async def archive_ticket(ticket: dict[str, Any] | int, actor: CurrentUser) -> None:
    """Archive a solved ticket, out of the customer's default list; other statuses are refused."""
    ticket_id = ticket if isinstance(ticket, int) else ticket["id"]
    async with write_transaction():
        current = await _locked_ticket(ticket_id)
        next_status(current["status"], Action.archive)
        if current["archived"]:
            return
        await Ticket.update({Ticket.archived: True}).where(Ticket.id == ticket_id)
        await record_event(
            ticket_id=ticket_id, kind=TicketEvent.Kind.archived, actor_id=actor.id,
            old_value="no", new_value="yes",
        )


async def delete_own_reply(*, ticket_id: int, message_id: int, customer: CurrentUser) -> None:
    """A customer deletes one of their own replies (never the opening message), even when solved.

    The message is kept for audit and shows as "message deleted".
    """
    await customer_ticket(ticket_id, customer.id)
    async with write_transaction():
        message = await Message.select().where(
            (Message.id == message_id) & (Message.ticket == ticket_id)
            & (Message.author == customer.id) & (Message.internal == False)  # noqa: E712
        ).first()
        if message is None:
            raise NotFound("There is no such message.")
        if message["opening"]:
            raise InvalidTransition(
                "The opening message cannot be deleted.",
                errors={"message_id": "The opening message cannot be deleted."},
            )
        if message["deleted"]:
            return
        await Message.update(
            {Message.deleted: True, Message.deleted_at: _now()}
        ).where(Message.id == message_id)
        await Ticket.update({Ticket.answers: Ticket.answers - 1}).where(
            (Ticket.id == ticket_id) & (Ticket.answers > 0)
        )


async def mark_read_by_customer(ticket_id: int) -> None:
    await Ticket.update({Ticket.unread_by_customer: False}).where(
        (Ticket.id == ticket_id) & (Ticket.unread_by_customer == True)  # noqa: E712
    )


async def mark_read_by_staff(ticket_id: int) -> None:
    await Ticket.update({Ticket.unread_by_staff: False}).where(
        (Ticket.id == ticket_id) & (Ticket.unread_by_staff == True)  # noqa: E712
    )


# ------------------------------------------------------------ reading


def customer_tickets_query(
    customer_id: int, *, status: str | None = None, department_id: int | None = None,
    archived: bool = False, columns: bool = True,
):
    """The customer's tickets (not in the trash) with the filters of the list, joined for summaries."""
    condition = (
        (Ticket.customer == customer_id) & Ticket.removed_at.is_null() & (Ticket.archived == archived)
    )
    if status:
        condition = condition & (Ticket.status == status)
    if department_id is not None:
        condition = condition & (Ticket.department == department_id)
    if not columns:
        return Ticket.count().where(condition)
    return Ticket.select(
        Ticket.id, Ticket.subject, Ticket.status, Ticket.archived, Ticket.created_at,
        Ticket.last_message_at, Ticket.answers, Ticket.unread_by_customer,
        Ticket.department.id.as_alias("department_id"),
        Ticket.department.name.as_alias("department_name"),
        Ticket.service.id.as_alias("service_id"),
        Ticket.service.name.as_alias("service_name"),
    ).where(condition)


def check_status_filter(value: str | None) -> str | None:
    """A status filter from a query string, or a validation error naming it."""
    if not value:
        return None
    try:
        return Status(value).value
    except ValueError:
        raise ValidationFailed.field(
            "status", "status must be one of " + ", ".join(s.value for s in Status) + "."
        ) from None


async def charges_by_ticket(ticket_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The charge of each paid ticket among these, by ticket id."""
    from billdesk.tables import Charge

    if not ticket_ids:
        return {}
    rows = await Charge.select(
        Charge.id, Charge.ticket, Charge.amount, Charge.currency, Charge.status
    ).where(Charge.ticket.is_in(ticket_ids))
    return {row["ticket"]: row for row in rows}


async def thread(ticket_id: int, *, include_internal: bool) -> list[dict[str, Any]]:
    """The ticket's messages, oldest first, with their authors and attachments."""
    query = Message.select(
        Message.id, Message.body, Message.internal, Message.opening, Message.deleted,
        Message.created_at, Message.author.id.as_alias("author_id"),
        Message.author.name.as_alias("author_name"), Message.author.role.as_alias("author_role"),
    ).where(Message.ticket == ticket_id)
    if not include_internal:
        query = query.where(Message.internal == False)  # noqa: E712
    messages = await query.order_by(Message.created_at).order_by(Message.id)
    files = await attachments.attachments_by_message([m["id"] for m in messages])
    for message in messages:
        # A deleted message keeps its row for audit, but neither its text nor its
        # files are shown to anyone reading the thread.
        message["attachments"] = [] if message["deleted"] else files.get(message["id"], [])
        if message["deleted"]:
            message["body"] = ""
    return messages


async def ticket_detail(ticket_id: int) -> dict[str, Any]:
    """One ticket with its department and service names."""
    row = await Ticket.select(
        *Ticket.all_columns(),
        Ticket.department.name.as_alias("department_name"),
        Ticket.service.name.as_alias("service_name"),
    ).where(Ticket.id == ticket_id).first()
    if row is None:
        raise NotFound("There is no such ticket.")
    return row


async def customer_departments(customer_id: int) -> list[dict[str, Any]]:
    """Departments open to customers, each with the customer's quota status under "quota"."""
    rows = await Department.select(
        Department.id, Department.slug, Department.name, Department.description,
        Department.free_tickets, Department.quota_period, Department.ticket_price,
        Department.currency,
    ).where(
        (Department.public == True) & (Department.active == True)  # noqa: E712
    ).order_by(Department.name)
    statuses = await quotas.quota_statuses(customer_id, rows)
    for row in rows:
        row["quota"] = statuses[row["id"]]
    return rows


async def customer_services(customer_id: int, *, active_only: bool = False) -> list[dict[str, Any]]:
    query = Service.select(
        Service.id, Service.external_id, Service.name, Service.kind, Service.status
    ).where(Service.customer == customer_id)
    if active_only:
        query = query.where(Service.status == Service.Status.active.value)
    return await query.order_by(Service.name).order_by(Service.id)
