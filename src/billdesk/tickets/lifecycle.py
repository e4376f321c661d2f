"""Ticket lifecycle: subjects, the table of allowed status moves, the history, and the
helpers every ticket action shares (its transaction, message checks, status moves).

Every change of a ticket's status goes through `next_status()`, and every
recorded change through `record_event()`, so the client area, the desk, the API
and the webhooks cannot disagree about what may happen to a ticket.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.query.mixins import LockStrength
from piccolo.table import Table
from piccolo.utils.encoding import dump_json

from billdesk import attachments, clock, formatting, outbox, search
from billdesk.db import DB
from billdesk.errors import (
    InvalidTransition,
    NotFound,
    SupportDisabled,
    TicketClosed,
    ValidationFailed,
)
from billdesk.i18n import Text, to_json, tr
from billdesk.navigation import support_enabled
from billdesk.sql import Statement
from billdesk.tables import Message, Ticket, TicketEvent, User

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
    merge = "merge"


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
    (Status.in_progress, Action.merge): Status.solved,
    (Status.waiting_for_reply, Action.merge): Status.solved,
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
            tr("This ticket is solved and read-only. Open a new ticket to continue."),
            errors={"body": tr("This ticket is solved and read-only.")},
        )
    if action == Action.archive:
        raise InvalidTransition(
            tr("Only a solved ticket can be archived. Close it first."),
            errors={"status": tr("Only a solved ticket can be archived.")},
        )
    raise InvalidTransition(
        tr(
            "A ticket in the status “%(status)s” cannot be changed this way.",
            status=CUSTOMER_LABELS[status],
        ),
        errors={
            "status": tr(
                "Not possible in the status “%(status)s”.", status=CUSTOMER_LABELS[status]
            )
        },
    )


# History lines that channels hear about, by the happening they publish.
PUBLISHED_EVENTS = {
    TicketEvent.Kind.opened: outbox.TICKET_OPENED,
    TicketEvent.Kind.status: outbox.STATUS_CHANGED,
    TicketEvent.Kind.assignee: outbox.ASSIGNED,
}


def derive_subject(message: str) -> str:
    """The first non-blank line of the message, whitespace collapsed, cut to 100 characters with …."""
    for line in message.splitlines():
        collapsed = " ".join(line.split())
        if collapsed:
            if len(collapsed) > SUBJECT_MAX:
                return collapsed[: SUBJECT_MAX - 1].rstrip() + "…"
            return collapsed
    return "(no subject)"


_EVENT = Statement(
    "INSERT INTO ticket_events (ticket, actor, kind, old_value, new_value, params, created_at) "
    "VALUES (:ticket, :actor, :kind, :old, :new, :params, :at)"
)


async def record_event(
    *, ticket_id: int, kind: TicketEvent.Kind, actor_id: int | None,
    old_value: object = "", new_value: object = "", text: Text | None = None,
    clock_moved: bool = False,
) -> None:
    """Add a line to the ticket's history (call inside the action's transaction).

    `old_value`/`new_value` are what the API shows (status names, names, English words);
    `text`, a tr() text, is how the pages write the line, in the reader's language
    (`billdesk.tickets.history`).

    Openings, status moves and assignments are also published to the channels
    (`billdesk.outbox`), so every write path that records them tells them; openings,
    status moves, priorities and transfers move the ticket's service-level clock
    (`billdesk.sla.timers`); `clock_moved` says the caller wrote the clock's columns
    already (an opening writes them with the ticket's row).
    """
    old, new = str(old_value or "")[:200], str(new_value or "")[:200]
    await _EVENT.write(
        ticket=ticket_id, actor=actor_id, kind=TicketEvent.Kind(kind).value, old=old, new=new,
        params=dump_json(to_json(text) if text is not None else {}),
        at=datetime.now(UTC),
    )
    if not clock_moved:
        from billdesk.sla.timers import on_ticket_event

        await on_ticket_event(ticket_id=ticket_id, kind=kind, old=old, new=new)
    published = PUBLISHED_EVENTS.get(TicketEvent.Kind(kind))
    if published == outbox.TICKET_OPENED:
        await outbox.publish(published, ticket_id=ticket_id, actor_id=actor_id, status=new)
    elif published is not None:
        await outbox.publish(published, ticket_id=ticket_id, actor_id=actor_id, old=old, new=new)


# ------------------------------------------------------------ writing helpers


def write_transaction():
    """One action's transaction; on SQLite it takes the write lock at once, so the
    conditional updates inside it (quota counters) are atomic across processes."""
    if isinstance(DB, SQLiteEngine):
        return DB.transaction(transaction_type=TransactionType.immediate)
    return DB.transaction()


def utc_now() -> datetime:
    return clock.now()


def check_body(body: str | None, field: str) -> str:
    """The message text, or a validation error naming `field` (1-10,000 characters, not only blanks)."""
    text = (body or "").replace("\r\n", "\n")
    if not text.strip():
        raise ValidationFailed.field(field, tr("Write a message: it cannot be empty."))
    if len(text) > MESSAGE_MAX:
        raise ValidationFailed.field(
            field,
            tr(
                "The message is %(length)s characters long; the limit is %(limit)s.",
                length=formatting.number(len(text)),
                limit=formatting.number(MESSAGE_MAX),
            ),
        )
    return text


async def ensure_support_enabled() -> None:
    if not await support_enabled():
        raise SupportDisabled(
            tr(
                "Support is switched off for now: you can read your tickets, "
                "but not open new ones or reply."
            )
        )


_MESSAGE = Statement(
    "INSERT INTO messages (ticket, author, body, internal, opening, channel, deleted, "
    "deleted_at, deleted_by, created_at) "
    "VALUES (:ticket, :author, :body, :internal, :opening, :channel, FALSE, NULL, NULL, :at) "
    "RETURNING id"
)


async def add_message(
    *, ticket_id: int, author_id: int, body: str, internal: bool, opening: bool,
    files: list[attachments.CheckedFile], storage_names: list[str], at: datetime,
    channel: Message.Channel = Message.Channel.web, announce: bool = False,
    reindex: bool = True,
) -> int:
    """Store a message and its files; every message but a customer's opening one is told
    to the channels (`announce` tells an opening message written by staff). Without
    `reindex` the caller writes the ticket's search row itself."""
    rows = await _MESSAGE.rows(
        ticket=ticket_id, author=author_id, body=body, internal=internal, opening=opening,
        channel=Message.Channel(channel).value, at=at,
    )
    message_id: int = rows[0]["id"]
    await attachments.insert_rows(
        ticket_id=ticket_id, message_id=message_id, files=files, storage_names=storage_names
    )
    if reindex:
        await search.reindex_tickets([ticket_id])
    if not opening or announce:
        author = await User.select(User.role).where(User.id == author_id).first()
        await outbox.publish(
            outbox.MESSAGE_ADDED, ticket_id=ticket_id, actor_id=author_id,
            message_id=message_id, internal=internal,
            author_role=author["role"] if author else "", channel=Message.Channel(channel).value,
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


async def locked_row(table: type[Table], row_id: int) -> dict[str, Any] | None:
    """A row read for update inside the caller's write transaction.

    On PostgreSQL the row is locked (`FOR NO KEY UPDATE`, which still lets other
    transactions insert rows that refer to it); on SQLite the immediate write
    transaction already holds the database's write lock. Money and ticket moves
    take their locks in one order: the ticket, then its charge, then the charge's
    attempts.
    """
    return await for_update(table.select().where(table._meta.primary_key == row_id)).first()


def for_update(query: Any) -> Any:
    """The select, locking the rows it reads on PostgreSQL (see `locked_row`)."""
    if isinstance(DB, SQLiteEngine):
        return query
    return query.lock_rows(LockStrength.no_key_update)


async def current_row(ticket_id: int) -> dict[str, Any]:
    """The ticket's current row, locked inside the write transaction."""
    row = await locked_row(Ticket, ticket_id)
    if row is None:
        raise NotFound(tr("There is no such ticket."))
    return row
