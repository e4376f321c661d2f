"""Where an incoming mail goes: the ticket it answers, the department it was sent
to, and the text and files a ticket gets from it."""

from __future__ import annotations

from typing import Any

from billdesk import attachments
from billdesk.attachments import MAX_FILES, Upload
from billdesk.errors import DeskError
from billdesk.mail import compose
from billdesk.mail.outgoing import department_addresses
from billdesk.mail.parsing import IncomingMail
from billdesk.settings import get_settings
from billdesk.tables import Department, InboundMail, OutgoingMail
from billdesk.tickets import MESSAGE_MAX

# ---------------------------------------------------------------- matching


async def own_addresses() -> set[str]:
    """Every address billdesk sends from or receives on."""
    return {compose.sender()[1].lower(), compose.reply_address(), *await department_addresses()}


async def ticket_by_headers(mail: IncomingMail) -> int | None:
    """The ticket a reply's In-Reply-To/References point at: a mail billdesk sent about
    it, its thread id, or an earlier mail of the customer in it."""
    ids = mail.thread_ids()
    if not ids:
        return None
    sent = await OutgoingMail.select(OutgoingMail.message_id, OutgoingMail.ticket).where(
        OutgoingMail.message_id.is_in(ids) & OutgoingMail.ticket.is_not_null()
    )
    received = await InboundMail.select(InboundMail.message_id, InboundMail.ticket).where(
        InboundMail.message_id.is_in(ids) & InboundMail.ticket.is_not_null()
    )
    known = {row["message_id"]: row["ticket"] for row in [*received, *sent]}
    for message_id in ids:
        ticket_id = known.get(message_id) or compose.ticket_of_thread_id(message_id)
        if ticket_id:
            return ticket_id
    return None


async def department_for(recipients: list[str]) -> dict[str, Any] | None:
    """The public, active department whose inbound address the mail was sent to, else
    BILLDESK_MAIL_DEPARTMENT (a slug), else the first public one."""
    usable = (Department.public == True) & (Department.active == True)  # noqa: E712
    if recipients:
        rows = await Department.select().where(
            usable & Department.inbound_address.is_in(recipients)
        )
        by_address = {row["inbound_address"]: row for row in rows}
        for address in recipients:
            if address in by_address:
                return by_address[address]
    slug = get_settings().mail_department
    if slug:
        row = await Department.select().where(usable & (Department.slug == slug)).first()
        if row is not None:
            return row
    return await Department.select().where(usable).order_by(Department.id).first()


# ---------------------------------------------------------------- the text


def message_text(mail: IncomingMail, refused: list[str], *, with_subject: bool) -> str:
    """The message as the ticket shows it: for a new ticket the mail's subject is its
    first line (so it becomes the ticket's subject); refused files are named at the end."""
    body = mail.text.strip()
    if not body and mail.attachments:
        body = "(No text: see the attached files.)"
    parts = []
    subject = " ".join(mail.subject.split())
    if with_subject and subject:
        parts.append(subject)
    if body:
        parts.append(body)
    note = ""
    if refused:
        note = "\n\n[Files not attached: " + "; ".join(refused) + "]"
    text = "\n\n".join(parts)
    room = MESSAGE_MAX - len(note)
    if len(text) > room:
        cut = "\n[… the mail was longer and was cut here.]"
        text = text[: room - len(cut)].rstrip() + cut
    return text + note


def checked_files(files: list[Upload]) -> tuple[list[Upload], list[str]]:
    """The files that pass the upload checks one by one, and why each other one did not."""
    accepted: list[Upload] = []
    refused: list[str] = []
    for upload in files:
        try:
            attachments.check_files([upload])
        except DeskError as error:
            refused.append(error.detail)
            continue
        if len(accepted) >= MAX_FILES:
            refused.append(
                f"{attachments.clean_filename(upload.filename)}: at most {MAX_FILES} files per message."
            )
            continue
        accepted.append(upload)
    return accepted, refused
