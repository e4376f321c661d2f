"""Merging a duplicate ticket into another ticket of the same customer (docs/desk.md, "Merge").

The merged ticket's messages and their attachments move to the ticket it is merged
into, keeping their times, so the thread reads in time order; the merged ticket is
solved, read-only for good, and points at the other one (`merged_into`). A charge
stays with the ticket it paid for. Both tickets' histories record the merge.
"""

from __future__ import annotations

from typing import Any

from billdesk import notifications, outbox, search
from billdesk.auth import CurrentUser
from billdesk.errors import InvalidTransition, NotFound, TicketClosed, ValidationFailed
from billdesk.i18n import tr
from billdesk.tables import Attachment, Message, Ticket, TicketEvent, User
from billdesk.tickets.lifecycle import (
    Action,
    Status,
    locked_row,
    move_status,
    record_event,
    write_transaction,
)


async def merge_ticket(*, actor: CurrentUser, ticket_id: int, into_id: int) -> int:
    """Merge ticket `ticket_id` into ticket `into_id`; the id of the ticket merged into.

    Both must be open tickets of the actor's departments (else NotFound, naming
    `into_id` for the target) and of the same customer (else a validation error
    naming `into_id`). A solved ticket is neither merged nor merged into
    (`ticket_closed`), and a service request is decided, not merged
    (`invalid_transition`). Both tickets are locked in ascending id order.
    """
    from billdesk import queues

    if into_id == ticket_id:
        raise ValidationFailed.field("into_id", tr("A ticket cannot be merged into itself."))
    async with write_transaction():
        locked = {number: await locked_row(Ticket, number) for number in sorted((ticket_id, into_id))}
        source, target = locked[ticket_id], locked[into_id]
        departments = await queues.member_department_ids(actor)
        if source is None or not queues.may_work(departments, source):
            raise NotFound(tr("There is no such ticket in your departments."))
        if target is None or not queues.may_work(departments, target):
            message = tr("There is no ticket #%(id)s in your departments.", id=into_id)
            raise NotFound(message, errors={"into_id": message})
        if target["customer"] != source["customer"]:
            message = tr(
                "Ticket #%(id)s belongs to another customer: only a customer's own tickets "
                "can be merged.",
                id=into_id,
            )
            raise ValidationFailed(message, errors={"into_id": message})
        if source["status"] == Status.solved.value:
            raise TicketClosed(
                tr("This ticket is solved and read-only: it cannot be merged."),
                errors={"status": tr("This ticket is solved and read-only.")},
            )
        if target["status"] == Status.solved.value:
            message = tr(
                "Ticket #%(id)s is solved and read-only: merge into an open ticket.", id=into_id
            )
            raise TicketClosed(message, errors={"into_id": message})
        if source["type"] == Ticket.Type.request.value:
            message = tr("A service request is approved or rejected, not merged.")
            raise InvalidTransition(message, errors={"status": message})

        moved = await (
            Message.update({Message.ticket: into_id, Message.opening: False})
            .where(Message.ticket == ticket_id)
            .returning(Message.id)
        )
        await Attachment.update({Attachment.ticket: into_id}).where(
            Attachment.ticket == ticket_id
        )
        await _take_over_activity(target, source, actor)
        new = await move_status(source, Action.merge, actor.id)
        await Ticket.update(
            {
                Ticket.status: new, Ticket.merged_into: into_id, Ticket.answers: 0,
                Ticket.unread_by_staff: False, Ticket.unread_by_customer: False,
            }
        ).where(Ticket.id == ticket_id)
        await record_event(
            ticket_id=ticket_id, kind=TicketEvent.Kind.merged_into, actor_id=actor.id,
            new_value=f"#{into_id}",
        )
        await record_event(
            ticket_id=into_id, kind=TicketEvent.Kind.merged_from, actor_id=actor.id,
            new_value=f"#{ticket_id}",
        )
        await search.reindex_tickets([ticket_id, into_id])
        await outbox.publish(
            outbox.MERGED, ticket_id=ticket_id, actor_id=actor.id, into_id=into_id,
            moved_messages=len(moved),
        )
        await notifications.notify(
            user_id=source["customer"], kind=notifications.Kind.ticket_solved,
            ticket_id=into_id,
            text=tr(
                "#%(id)s was merged into #%(into)s: %(subject)s",
                id=ticket_id, into=into_id, subject=target["subject"],
            ),
        )
    return into_id


async def _take_over_activity(
    target: dict[str, Any], source: dict[str, Any], actor: CurrentUser
) -> None:
    """The target's counters after the move: its public answers, its newest activity and
    who spoke last, what either side has not read. When the newest public message is now
    a customer's that the target was not waiting on, the target goes back to support."""
    answers = await Message.count().where(
        (Message.ticket == target["id"]) & (Message.internal == False)  # noqa: E712
        & (Message.deleted == False) & (Message.opening == False)  # noqa: E712
    )
    changes: dict[Any, Any] = {
        Ticket.answers: answers,
        Ticket.unread_by_staff: bool(target["unread_by_staff"] or source["unread_by_staff"]),
        Ticket.unread_by_customer: bool(
            target["unread_by_customer"] or source["unread_by_customer"]
        ),
    }
    if source["last_message_at"] > target["last_message_at"]:
        changes[Ticket.last_message_at] = source["last_message_at"]
        changes[Ticket.last_author_role] = source["last_author_role"]
        if (
            source["last_author_role"] == User.Role.customer.value
            and target["status"] == Status.waiting_for_reply.value
        ):
            changes[Ticket.status] = await move_status(target, Action.customer_reply, actor.id)
    await Ticket.update(changes).where(Ticket.id == target["id"])
