"""What happens to an open ticket: replies from both sides, closing, archiving, deleting a reply, reading."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from billdesk import attachments, notifications, search
from billdesk.attachments import Upload
from billdesk.auth import CurrentUser
from billdesk.errors import (
    InvalidTransition,
    NotFound,
    StaleReply,
)
from billdesk.i18n import tr, tr_n
from billdesk.tables import Department, Message, Ticket, TicketEvent, User
from billdesk.tickets.lifecycle import (
    Action,
    Status,
    add_message,
    check_body,
    current_row,
    ensure_support_enabled,
    move_status,
    next_status,
    record_event,
    utc_now,
    write_transaction,
)


async def customer_ticket(ticket_id: int, customer_id: int) -> dict[str, Any]:
    """The customer's own ticket (not in the trash), or NotFound as if it did not exist."""
    row = await Ticket.select().where(
        (Ticket.id == ticket_id) & (Ticket.customer == customer_id) & Ticket.removed_at.is_null()
    ).first()
    if row is None:
        raise NotFound(tr("There is no such ticket."))
    return row


async def staff_ticket(ticket_id: int, user: CurrentUser) -> dict[str, Any]:
    """A ticket of one of the staff member's departments (any for admins), else NotFound."""
    row = await Ticket.select().where(Ticket.id == ticket_id).first()
    if row is None or not await attachments.staff_may_see_department(user, row["department"]):
        raise NotFound(tr("There is no such ticket."))
    return row


async def reply_as_customer(
    *, ticket_id: int, customer: CurrentUser, body: str | None, files: Sequence[Upload | Any],
    channel: Message.Channel = Message.Channel.web,
) -> int:
    """The customer answers on their ticket: it goes back to support (in progress). The message id.

    `channel` says how the reply arrived (web, api, mail, telegram)."""
    await ensure_support_enabled()
    ticket = await customer_ticket(ticket_id, customer.id)
    next_status(ticket["status"], Action.customer_reply)
    text = check_body(body, "body")
    checked = attachments.check_files(files)
    storage_names = attachments.write_files(checked)
    try:
        async with write_transaction():
            ticket = await current_row(ticket_id)
            new = await move_status(ticket, Action.customer_reply, customer.id)
            now = utc_now()
            message_id = await add_message(
                ticket_id=ticket_id, author_id=customer.id, body=text, internal=False,
                opening=False, files=checked, storage_names=storage_names, at=now,
                channel=channel,
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
    files: Sequence[Upload | Any] | None = None, *, last_seen_message_id: int | None = None,
    force: bool = False,
) -> int:
    """Staff answer a ticket of their department. A public reply waits for the customer
    (waiting_for_reply, unread by them, notified); an internal note changes no status.
    The message id.

    With `last_seen_message_id` (the newest message the agent had on screen), a reply
    written while someone else added a message is refused with StaleReply carrying
    those messages, and nothing is sent, unless `force`."""
    ticket = await staff_ticket(ticket_id, author)
    action = Action.internal_note if internal else Action.staff_reply
    next_status(ticket["status"], action)
    text = check_body(body, "body")
    checked = attachments.check_files(files or [])
    storage_names = attachments.write_files(checked)
    try:
        async with write_transaction():
            ticket = await current_row(ticket_id)
            if last_seen_message_id is not None and not force:
                await refuse_stale_reply(ticket_id, last_seen_message_id)
            new = await move_status(ticket, action, author.id)
            now = utc_now()
            message_id = await add_message(
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
                    ticket_id=ticket_id,
                    text=tr(
                        "Support replied on #%(id)s: %(subject)s",
                        id=ticket_id,
                        subject=ticket["subject"],
                    ),
                )
                if ticket["assignee"] is None:
                    await _take_on_reply(ticket, author)
    except BaseException:
        attachments.discard_files(storage_names)
        raise
    return message_id


async def _take_on_reply(ticket: dict[str, Any], author: CurrentUser) -> None:
    """The agent answering an unassigned ticket takes it, where the department says so."""
    department = await Department.select(Department.assign_on_reply).where(
        Department.id == ticket["department"]
    ).first()
    if not department or not department["assign_on_reply"]:
        return
    await Ticket.update({Ticket.assignee: author.id}).where(
        (Ticket.id == ticket["id"]) & Ticket.assignee.is_null()
    )
    await record_event(
        ticket_id=ticket["id"], kind=TicketEvent.Kind.assignee, actor_id=author.id,
        old_value="", new_value=author.name,
    )


async def refuse_stale_reply(ticket_id: int, last_seen_message_id: int) -> None:
    """StaleReply with the messages written after `last_seen_message_id`, if there are any
    (call under the ticket's row lock, so none can slip in between the check and the reply)."""
    newer = await Message.select(
        Message.id, Message.body, Message.internal, Message.created_at,
        Message.author.id, Message.author.name, Message.author.role,
    ).where(
        (Message.ticket == ticket_id) & (Message.id > last_seen_message_id)
        & (Message.deleted == False)  # noqa: E712
    ).order_by(Message.id)
    if not newer:
        return
    raise StaleReply(
        tr_n(
            "A new message arrived while you were writing; nothing was sent. Read it, then "
            "send anyway or edit your reply.",
            "%(num)s new messages arrived while you were writing; nothing was sent. Read "
            "them, then send anyway or edit your reply.",
            len(newer),
        ),
        errors={"last_seen_message_id": tr("Newer messages arrived; nothing was sent.")},
        extra={
            "messages": [
                {
                    "id": row["id"],
                    "author": {
                        "id": row["author.id"], "name": row["author.name"],
                        "role": row["author.role"],
                    },
                    "body": row["body"],
                    "internal": row["internal"],
                    "created_at": row["created_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
                for row in newer
            ],
            "last_message_id": newer[-1]["id"],
        },
    )


# ------------------------------------------------------------ closing and archiving


async def close_ticket(ticket: dict[str, Any] | int, actor: CurrentUser) -> Status:
    """Close a ticket (customer or staff): solved, read-only. Closing a solved ticket changes nothing.

    The caller has already checked that `actor` may see the ticket (customer_ticket
    or staff_ticket). Staff closing tell the customer.
    """
    ticket_id = ticket if isinstance(ticket, int) else ticket["id"]
    async with write_transaction():
        current = await current_row(ticket_id)
        if current["status"] == Status.solved:
            return Status.solved
        new = await move_status(current, Action.close, actor.id)
        await Ticket.update({Ticket.status: new}).where(Ticket.id == ticket_id)
        if actor.id != current["customer"]:
            await notifications.notify(
                user_id=current["customer"], kind=notifications.Kind.ticket_solved,
                ticket_id=ticket_id,
                text=tr(
                    "#%(id)s was marked solved: %(subject)s", id=ticket_id, subject=current["subject"]
                ),
            )
    return new


async def archive_ticket(ticket: dict[str, Any] | int, actor: CurrentUser) -> None:
    """Archive a solved ticket, out of the customer's default list; other statuses are refused."""
    ticket_id = ticket if isinstance(ticket, int) else ticket["id"]
    async with write_transaction():
        current = await current_row(ticket_id)
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
            raise NotFound(tr("There is no such message."))
        if message["opening"]:
            raise InvalidTransition(
                tr("The opening message cannot be deleted."),
                errors={"message_id": tr("The opening message cannot be deleted.")},
            )
        if message["deleted"]:
            return
        await Message.update(
            {Message.deleted: True, Message.deleted_at: utc_now(), Message.deleted_by: customer.id}
        ).where(Message.id == message_id)
        await Ticket.update({Ticket.answers: Ticket.answers - 1}).where(
            (Ticket.id == ticket_id) & (Ticket.answers > 0)
        )
        await search.reindex_tickets([ticket_id])


async def delete_message_as_staff(*, ticket_id: int, message_id: int, actor: CurrentUser) -> None:
    """Staff delete a message of a ticket in their departments (any but the opening message).

    It shows as "message deleted", is kept for audit, and the history records who.
    Deleting a deleted message changes nothing.
    """
    await staff_ticket(ticket_id, actor)
    async with write_transaction():
        await current_row(ticket_id)
        message = await Message.select().where(
            (Message.id == message_id) & (Message.ticket == ticket_id)
        ).first()
        if message is None:
            raise NotFound(tr("There is no such message."))
        if message["opening"]:
            raise InvalidTransition(
                tr("The opening message cannot be deleted."),
                errors={"message_id": tr("The opening message cannot be deleted.")},
            )
        if message["deleted"]:
            return
        await Message.update(
            {Message.deleted: True, Message.deleted_at: utc_now(), Message.deleted_by: actor.id}
        ).where(Message.id == message_id)
        if not message["internal"]:
            await Ticket.update({Ticket.answers: Ticket.answers - 1}).where(
                (Ticket.id == ticket_id) & (Ticket.answers > 0)
            )
        await record_event(
            ticket_id=ticket_id, kind=TicketEvent.Kind.message_deleted, actor_id=actor.id,
            old_value=f"message {message_id}", new_value="deleted",
        )


async def mark_read_by_customer(ticket_id: int) -> None:
    await Ticket.update({Ticket.unread_by_customer: False}).where(
        (Ticket.id == ticket_id) & (Ticket.unread_by_customer == True)  # noqa: E712
    )


async def mark_read_by_staff(ticket_id: int) -> None:
    await Ticket.update({Ticket.unread_by_staff: False}).where(
        (Ticket.id == ticket_id) & (Ticket.unread_by_staff == True)  # noqa: E712
    )
