"""Mail into tickets: one function, `receive()`, for `billdesk mail-receive` and the
IMAP poller. It parses the mail and makes one call of the ticket domain, exactly
as a page would (`open_ticket`, `reply_as_customer`, with `channel=mail`), so
quotas, price confirmation and the status table hold for mail too.

What becomes of a mail, in order (each logged in `inbound_mails` with why):

1. unreadable, a repeated delivery (same Message-ID), a machine's mail (bounce,
   auto-reply, list, `Auto-Submitted`, mailer-daemon…) or one from billdesk's own
   addresses: ignored, answered by nothing;
2. a reply matched by In-Reply-To/References to a ticket, or else by the `[#N]`
   in its subject, lands on that ticket only when its sender is the ticket's
   customer: a customer reply (a solved ticket is never reopened: the customer
   is told to open a new one);
3. otherwise a known customer's mail opens a ticket in the department of the
   address it was sent to (each department may have one; BILLDESK_MAIL_DEPARTMENT
   for the rest). Beyond the free quota it waits, unpaid and uncharged, for the
   customer to confirm the price on the web;
4. an unknown sender opens nothing and gets one answer a day.

The log row, the ticket change and the answering mails are one transaction: a
mail is handled once or not at all, and a repeated delivery finds its row.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from billdesk import clock
from billdesk.attachments import Upload
from billdesk.auth import CurrentUser
from billdesk.errors import DeskError
from billdesk.i18n import tr
from billdesk.mail.outgoing import queue_mail, ticket_summary
from billdesk.mail.parsing import IncomingMail, Unreadable, parse
from billdesk.mail.routing import (
    checked_files,
    department_for,
    message_text,
    own_addresses,
    ticket_by_headers,
)
from billdesk.tables import (
    InboundMail,
    MailReplyLimit,
    Message,
    Ticket,
    User,
)
from billdesk.tickets import open_ticket, reply_as_customer
from billdesk.tickets.lifecycle import Status, write_transaction

log = logging.getLogger("billdesk.mail")

Outcome = InboundMail.Outcome
ANSWER_EVERY = timedelta(hours=24)
MAX_MAIL_BYTES = 40 * 1024 * 1024
HEADERS_OF_LARGE = 256 * 1024


@dataclass(frozen=True)
class Received:
    """What became of one mail."""

    outcome: str
    reason: str
    ticket_id: int | None = None
    log_id: int | None = None


# ---------------------------------------------------------------- answers


async def once_a_day(key: str) -> bool:
    """True (and remembered) when nothing was sent under `key` in the last 24 hours."""
    now = clock.now()
    rows = await (
        MailReplyLimit.insert(MailReplyLimit(key=key[:300], last_sent_at=now))
        .on_conflict(
            target=MailReplyLimit.key,
            action="DO UPDATE",
            values=[MailReplyLimit.last_sent_at],
            where=MailReplyLimit.last_sent_at <= now - ANSWER_EVERY,
        )
        .returning(MailReplyLimit.id)
    )
    return bool(rows)


async def _answer(
    mail: IncomingMail,
    kind: str,
    *,
    user: dict[str, Any] | None = None,
    ticket_id: int | None = None,
    reason: str = "",
) -> None:
    """Answer the sender (at most once a day per sender, kind and ticket)."""
    if not await once_a_day(f"{kind}:{ticket_id or ''}:{mail.sender}"):
        return
    ticket = await ticket_summary(ticket_id) if ticket_id else None
    await queue_mail(
        kind=kind,
        to_address=mail.sender,
        user_id=user["id"] if user else None,
        ticket=ticket,
        their_subject=mail.subject,
        params={
            "name": mail.sender_name,
            "reason": reason,
            "their_subject": mail.subject,
            "in_reply_to": None if ticket else mail.message_id,
        },
    )


# ---------------------------------------------------------------- receiving


async def _log(
    mail: IncomingMail,
    *,
    source: str,
    outcome: Outcome,
    reason: str,
    ticket_id: int | None = None,
    message_id: int | None = None,
    first: bool = True,
) -> int | None:
    query = InboundMail.insert(
        InboundMail(
            message_id=mail.message_id,
            dedupe_key=mail.message_id if first else None,
            sender=mail.sender,
            recipient=(mail.recipients[0] if mail.recipients else "")[:254],
            subject=mail.subject,
            source=source,
            outcome=outcome,
            reason=reason[:2000],
            ticket=ticket_id,
            message=message_id,
            received_at=clock.now(),
        )
    ).returning(InboundMail.id)
    if first:
        query = query.on_conflict(target=InboundMail.dedupe_key, action="DO NOTHING")
    rows = await query
    return rows[0]["id"] if rows else None


class _Duplicate(Exception):
    pass


async def receive(
    raw: bytes, *, source: str = "pipe", envelope_recipient: str | None = None
) -> Received:
    """Handle one mail (RFC 5322 bytes) and log what became of it.

    Raises only when the database cannot be reached (the caller should retry
    later); everything else, refusals included, is handled and logged.
    """
    too_large = len(raw) >= MAX_MAIL_BYTES
    try:
        mail = parse(
            raw[:HEADERS_OF_LARGE] if too_large else raw, envelope_recipient=envelope_recipient
        )
    except Unreadable as error:
        digest = hashlib.sha256(raw).hexdigest()[:48]
        unreadable = IncomingMail(
            message_id=f"sha256-{digest}@billdesk",
            sender="",
            sender_name="",
            recipients=[],
            subject="",
            in_reply_to=[],
            references=[],
            text="",
        )
        log_id = await _log(unreadable, source=source, outcome=Outcome.ignored, reason=str(error))
        return Received(Outcome.ignored.value, str(error), log_id=log_id)

    if await InboundMail.exists().where(InboundMail.dedupe_key == mail.message_id):
        return await _duplicate(mail, source)
    if mail.automatic:
        return await _ignored(mail, source, f"Sent by a machine ({mail.automatic}): not answered.")
    if mail.sender in await own_addresses():
        return await _ignored(mail, source, "Sent from billdesk's own address: a mail loop.")
    if too_large:
        try:
            return await _refuse(mail, source, "Larger than 40 MB: not read.")
        except _Duplicate:
            return await _duplicate(mail, source)

    try:
        return await _handle(mail, source)
    except _Duplicate:
        return await _duplicate(mail, source)


async def _ignored(mail: IncomingMail, source: str, reason: str) -> Received:
    log_id = await _log(mail, source=source, outcome=Outcome.ignored, reason=reason)
    if log_id is None:
        return await _duplicate(mail, source)
    log.info("mail %s from %s ignored: %s", mail.message_id, mail.sender, reason)
    return Received(Outcome.ignored.value, reason, log_id=log_id)


async def _duplicate(mail: IncomingMail, source: str) -> Received:
    reason = "The same message (Message-ID) was handled already."
    log_id = await _log(mail, source=source, outcome=Outcome.duplicate, reason=reason, first=False)
    return Received(Outcome.duplicate.value, reason, log_id=log_id)


async def _handle(mail: IncomingMail, source: str) -> Received:
    user = (
        await User.select(User.id, User.email, User.name, User.role, User.active)
        .where(User.email == mail.sender)
        .first()
    )
    notes: list[str] = []
    ticket_id = await ticket_by_headers(mail)
    how = "its In-Reply-To/References"
    if ticket_id is not None and not await _customer_of(ticket_id, user):
        notes.append(
            f"It answers ticket #{ticket_id}, whose customer is not its sender: not added there."
        )
        ticket_id = None
    if ticket_id is None and mail.ticket_token is not None:
        if await _customer_of(mail.ticket_token, user):
            ticket_id, how = mail.ticket_token, f"[#{mail.ticket_token}] in its subject"
        else:
            notes.append(f"[#{mail.ticket_token}] in its subject is not a ticket of its sender.")

    if user is None:
        reason = " ".join([*notes, "No account uses this address: nothing opened."])
        return await _refuse(mail, source, reason, answer="unknown_sender")
    if not user["active"]:
        return await _refuse(mail, source, " ".join([*notes, "The account is deactivated."]))
    if user["role"] != User.Role.customer.value:
        reason = "Only customers open tickets or answer by mail; staff answer on the desk."
        return await _refuse(
            mail,
            source,
            " ".join([*notes, reason]),
            answer="mail_refused",
            user=user,
            answer_reason=reason,
        )
    customer = CurrentUser(id=user["id"], email=user["email"], name=user["name"], role=user["role"])
    files, refused = checked_files(mail.attachments)
    if ticket_id is not None:
        return await _reply(mail, source, customer, user, ticket_id, how, files, refused, notes)
    return await _open(mail, source, customer, user, files, refused, notes)


async def _customer_of(ticket_id: int, user: dict[str, Any] | None) -> bool:
    if user is None:
        return False
    return await Ticket.exists().where(
        (Ticket.id == ticket_id) & (Ticket.customer == user["id"]) & Ticket.removed_at.is_null()
    )


async def _in_one_transaction(
    mail: IncomingMail,
    source: str,
    change: Callable[[], Awaitable[tuple[Outcome, str, int, int | None]]],
) -> Received:
    """The ticket change and its log row, together; a repeated delivery waits for the
    first one's row and finds it."""
    async with write_transaction():
        log_id = await _log(mail, source=source, outcome=Outcome.ignored, reason="(being handled)")
        if log_id is None:
            raise _Duplicate()
        outcome, reason, ticket_id, message_id = await change()
        await InboundMail.update(
            {
                InboundMail.outcome: outcome,
                InboundMail.reason: reason[:2000],
                InboundMail.ticket: ticket_id,
                InboundMail.message: message_id,
            }
        ).where(InboundMail.id == log_id)
    log.info("mail %s from %s: %s", mail.message_id, mail.sender, reason)
    return Received(outcome.value, reason, ticket_id=ticket_id, log_id=log_id)


async def _reply(
    mail: IncomingMail,
    source: str,
    customer: CurrentUser,
    user: dict[str, Any],
    ticket_id: int,
    how: str,
    files: list[Upload],
    refused: list[str],
    notes: list[str],
) -> Received:
    ticket = await Ticket.select(Ticket.status).where(Ticket.id == ticket_id).first()
    assert ticket is not None
    if ticket["status"] == Status.solved.value:
        return await _refuse(
            mail,
            source,
            f"Ticket #{ticket_id} is solved: not reopened; the customer was told.",
            answer="reply_to_solved",
            user=user,
            ticket_id=ticket_id,
        )

    async def change() -> tuple[Outcome, str, int, int | None]:
        message_id = await reply_as_customer(
            ticket_id=ticket_id,
            customer=customer,
            files=files,
            channel=Message.Channel.mail,
            body=message_text(mail, refused, with_subject=False),
        )
        reason = " ".join([*notes, f"Added to ticket #{ticket_id}, matched by {how}."])
        return Outcome.replied, reason, ticket_id, message_id

    return await _try(mail, source, user, change, ticket_id=ticket_id)


async def _open(
    mail: IncomingMail,
    source: str,
    customer: CurrentUser,
    user: dict[str, Any],
    files: list[Upload],
    refused: list[str],
    notes: list[str],
) -> Received:
    department = await department_for(mail.recipients)
    if department is None:
        return await _refuse(
            mail,
            source,
            "No department takes tickets: nothing opened.",
            answer="mail_refused",
            user=user,
            answer_reason="Support takes no new tickets right now.",
        )

    async def change() -> tuple[Outcome, str, int, int | None]:
        opened = await open_ticket(
            customer=customer,
            department_id=department["id"],
            service_id=None,
            message=message_text(mail, refused, with_subject=True),
            files=files,
            accept_price=None,
            client_token="mail:" + hashlib.sha256(mail.message_id.encode()).hexdigest()[:40],
            channel=Message.Channel.mail,
            confirm_price_later=True,
        )
        ticket = await Ticket.select(Ticket.status).where(Ticket.id == opened.ticket_id).first()
        waiting = ticket is not None and ticket["status"] == Status.awaiting_payment.value
        message = (
            await Message.select(Message.id)
            .where(
                (Message.ticket == opened.ticket_id) & (Message.opening == True)  # noqa: E712
            )
            .first()
        )
        reason = f"Opened ticket #{opened.ticket_id} in {department['name']}" + (
            ", awaiting the customer's confirmation of the price (no free ticket left)."
            if waiting
            else "."
        )
        return (
            Outcome.opened,
            " ".join([*notes, reason]),
            opened.ticket_id,
            message["id"] if message else None,
        )

    return await _try(mail, source, user, change)


async def _try(
    mail: IncomingMail,
    source: str,
    user: dict[str, Any],
    change: Callable[[], Awaitable[tuple[Outcome, str, int, int | None]]],
    ticket_id: int | None = None,
) -> Received:
    try:
        return await _in_one_transaction(mail, source, change)
    except DeskError as error:
        # The change was refused and rolled back, log row included: log the refusal.
        return await _refuse(
            mail,
            source,
            f"Refused: {error.detail}",
            answer="mail_refused",
            user=user,
            ticket_id=ticket_id,
            answer_reason=error.detail,
        )


async def _refuse(
    mail: IncomingMail,
    source: str,
    reason: str,
    *,
    answer: str | None = None,
    user: dict[str, Any] | None = None,
    ticket_id: int | None = None,
    answer_reason: str = "",
) -> Received:
    async with write_transaction():
        log_id = await _log(
            mail, source=source, outcome=Outcome.refused, reason=reason, ticket_id=ticket_id
        )
        if log_id is None:
            raise _Duplicate()
        if answer is not None:
            await _answer(mail, answer, user=user, ticket_id=ticket_id, reason=answer_reason)
    log.info("mail %s from %s refused: %s", mail.message_id, mail.sender, reason)
    return Received(Outcome.refused.value, reason, ticket_id=ticket_id, log_id=log_id)


# ------------------------------------------------------------------ admins

INBOUND_COLUMNS = (
    InboundMail.id,
    InboundMail.message_id,
    InboundMail.sender,
    InboundMail.recipient,
    InboundMail.subject,
    InboundMail.source,
    InboundMail.outcome,
    InboundMail.reason,
    InboundMail.ticket,
    InboundMail.received_at,
)


def inbound_query(*, outcome: str | None = None):
    """The inbound log, optionally one outcome, for a keyset page by id."""
    from billdesk.errors import ValidationFailed

    query = InboundMail.select(*INBOUND_COLUMNS)
    if outcome:
        outcomes = [item.value for item in Outcome]
        if outcome not in outcomes:
            raise ValidationFailed.field(
                "outcome", tr("outcome must be one of %(choices)s.", choices=", ".join(outcomes))
            )
        query = query.where(InboundMail.outcome == outcome)
    return query
