"""Ticket lifecycle: subjects, the table of allowed status moves, the history, and the
helpers every ticket action shares (its transaction, message checks, status moves).

Every change of a ticket's status goes through `next_status()`, and every
recorded change through `record_event()`, so the client area, the desk, the API
and the webhooks cannot disagree about what may happen to a ticket.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from billdesk import attachments, clock
from billdesk.db import write_transaction as write_transaction  # re-exported for the package
from billdesk.errors import (
    InvalidTransition,
    NotFound,
    SupportDisabled,
    TicketClosed,
    ValidationFailed,
)
from billdesk.navigation import support_enabled
from billdesk.tables import Message, Ticket, TicketEvent

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


def utc_now() -> datetime:
    return clock.now()


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


async def add_message(
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


async def move_status(ticket: dict[str, Any], action: Action, actor_id: int | None) -> Status:
    """The status after `action`, with its history line when it changes."""
    new = next_status(ticket["status"], action)
    if new != ticket["status"]:
        await record_event(
            ticket_id=ticket["id"], kind=TicketEvent.Kind.status, actor_id=actor_id,
            old_value=Status(ticket["status"]).value, new_value=new.value,
        )
    return new


async def current_row(ticket_id: int) -> dict[str, Any]:
    """The ticket's current row, read inside the write transaction."""
    row = await Ticket.select().where(Ticket.id == ticket_id).first()
    if row is None:
        raise NotFound("There is no such ticket.")
    return row
