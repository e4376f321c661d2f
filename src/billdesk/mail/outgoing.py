"""Outgoing mail: a mail is decided (a row in `outgoing_mails` and a `mail.send` job,
in the transaction of the change that causes it), then rendered and sent by the job.

The row is the log admins see: to, subject, ticket, status, tries, last error.
The body is rendered when the job runs, from the data as it is then, so the
database never holds a password link: the link's token is made at that moment.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from piccolo.query import Select

from billdesk import clock, jobs
from billdesk.errors import InvalidTransition, NotFound, ValidationFailed
from billdesk.i18n import speaking, tr
from billdesk.jobs.store import attempt_limit
from billdesk.mail import compose, smtp
from billdesk.settings import get_settings
from billdesk.tables import Department, InboundMail, Job, Message, OutgoingMail, Ticket, User

log = logging.getLogger("billdesk.mail")

SEND = "mail.send"
Status = OutgoingMail.Status
NOT_CONFIGURED = "Not sent: no SMTP server is configured (BILLDESK_SMTP_URL)."
# A ticket's mails refer to the ticket's thread and to the customer's latest mails in it.
THREAD_REFERENCES = 5


class MailNotRetriable(InvalidTransition):
    title = tr("Not possible in the mail's current status")


def _loads(value: Any) -> dict:
    return json.loads(value) if isinstance(value, str | bytes) else dict(value or {})


async def ticket_summary(ticket_id: int) -> dict[str, Any] | None:
    """What subjects and templates say about a ticket."""
    row = await (
        Ticket.select(
            Ticket.id,
            Ticket.subject,
            Ticket.status,
            Ticket.customer,
            Ticket.assignee,
            Ticket.price_unconfirmed,
            Ticket.merged_into,
            Ticket.department.id.as_alias("department_id"),
            Ticket.department.name.as_alias("department_name"),
            Ticket.department.inbound_address.as_alias("department_address"),
            Ticket.department.ticket_price.as_alias("price_amount"),
            Ticket.department.currency.as_alias("price_currency"),
        )
        .where(Ticket.id == ticket_id)
        .first()
    )
    return dict(row) if row else None


async def queue_mail(
    *,
    kind: str,
    to_address: str,
    user_id: int | None = None,
    ticket: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
    their_subject: str = "",
) -> int | None:
    """Decide a mail, in the caller's transaction; its id, or None when `dedupe_key` was used.

    Committed: the `mail.send` job sends it. Without BILLDESK_SMTP_URL it is kept
    in the log as `unsent`, with no job.
    """
    if kind not in compose.KINDS:
        raise ValueError(f"no mail template {kind!r}")
    language = await _language(user_id)
    subject = compose.subject_for(
        kind, ticket=ticket, their_subject=their_subject, language=language
    )
    configured = bool(get_settings().smtp_url)
    query = OutgoingMail.insert(
        OutgoingMail(
            kind=kind,
            to_address=to_address.lower()[:254],
            user=user_id,
            ticket=ticket["id"] if ticket else None,
            subject=subject,
            message_id=compose.new_message_id(ticket["id"] if ticket else None),
            params=json.dumps(params or {}),
            dedupe_key=dedupe_key,
            status=Status.queued if configured else Status.unsent,
            last_error="" if configured else NOT_CONFIGURED,
            created_at=clock.now(),
        )
    ).returning(OutgoingMail.id)
    if dedupe_key is not None:
        query = query.on_conflict(target=OutgoingMail.dedupe_key, action="DO NOTHING")
    rows = await query
    if not rows:
        return None
    mail_id = rows[0]["id"]
    if configured:
        job_id = await jobs.enqueue(SEND, {"mail_id": mail_id})
        await OutgoingMail.update({OutgoingMail.job_id: job_id}).where(OutgoingMail.id == mail_id)
    else:
        log.warning("mail %s (%s) not sent: BILLDESK_SMTP_URL is not set", mail_id, kind)
    return mail_id


async def _language(user_id: int | None) -> str:
    """The language a mail is written in: its recipient's, English for a stranger."""
    from billdesk.accounts import language_of
    from billdesk.i18n import DEFAULT_LANGUAGE

    return await language_of(user_id) if user_id is not None else DEFAULT_LANGUAGE


# ----------------------------------------------------------------- sending


async def _context(mail: dict[str, Any], ticket: dict[str, Any] | None) -> dict[str, Any]:
    """What the templates of the mail's kind read, as the data stands now."""
    base = get_settings().base_url
    params = _loads(mail["params"])
    name = params.get("name", "")
    role = ""
    if mail["user"] is not None:
        user = await User.select(User.name, User.role).where(User.id == mail["user"]).first()
        if user is not None:
            name, role = user["name"], user["role"]
    context: dict[str, Any] = {
        "name": name or mail["to_address"],
        "base_url": base,
        "params": params,
        "ticket": ticket,
        "new_ticket_url": f"{base}/tickets/new",
        "login_url": f"{base}/login",
    }
    if ticket is not None:
        staff = role in (User.Role.staff.value, User.Role.admin.value)
        context["ticket_url"] = (
            f"{base}/desk/tickets/{ticket['id']}" if staff else (f"{base}/tickets/{ticket['id']}")
        )
        context["pay_url"] = f"{base}/tickets/{ticket['id']}/payment"
    if params.get("amount") is not None and params.get("currency"):
        from billdesk.quotas import Price

        context["price"] = Price(int(params["amount"]), str(params["currency"])).label()
    if "message_id" in params:
        message = await (
            Message.select(Message.body, Message.author.name.as_alias("author_name"))
            .where(Message.id == params["message_id"])
            .first()
        )
        context["message"] = message or {"body": "", "author_name": ""}
    if mail["kind"] in ("password_reset", "invite"):
        from billdesk import passwords

        if mail["user"] is None:
            raise jobs.GiveUp("a password mail needs its user")
        purpose = "invite" if mail["kind"] == "invite" else "reset"
        token, lifetime = await passwords.issue_token(user_id=mail["user"], purpose=purpose)
        context["reset_url"] = f"{base}/password/reset/{token}"
        context["valid_for"] = lifetime
    return context


async def _thread(ticket_id: int) -> tuple[str, list[str]]:
    """(In-Reply-To, References) for a mail about the ticket."""
    inbound = await (
        InboundMail.select(InboundMail.message_id)
        .where(
            (InboundMail.ticket == ticket_id)
            & InboundMail.outcome.is_in(
                [InboundMail.Outcome.opened.value, InboundMail.Outcome.replied.value]
            )
        )
        .order_by(InboundMail.id, ascending=False)
        .limit(THREAD_REFERENCES)
        .output(as_list=True)
    )
    root = compose.thread_id(ticket_id)
    references = [root, *reversed(inbound)]
    return (inbound[0] if inbound else root), references


async def _reply_to(ticket: dict[str, Any] | None) -> str:
    if ticket is not None and ticket.get("department_address"):
        return str(ticket["department_address"])
    return compose.reply_address()


async def message_for(mail: dict[str, Any]):
    """The EmailMessage of a logged mail, rendered now."""
    ticket = await ticket_summary(mail["ticket"]) if mail["ticket"] is not None else None
    language = await _language(mail["user"])
    with speaking(language):  # prices and dates in the context read in it too
        context = await _context(mail, ticket)
    text, html = compose.render(mail["kind"], context, language)
    in_reply_to, references = (None, None)
    if ticket is not None:
        in_reply_to, references = await _thread(ticket["id"])
    params = _loads(mail["params"])
    if params.get("in_reply_to"):
        # An answer to a mail that matched no ticket: thread it under that mail.
        in_reply_to, references = params["in_reply_to"], [params["in_reply_to"]]
    return compose.build_message(
        kind=mail["kind"],
        to_address=mail["to_address"],
        to_name=context["name"] if context["name"] != mail["to_address"] else "",
        subject=mail["subject"],
        message_id=mail["message_id"],
        text=text,
        html=html,
        reply_to=await _reply_to(ticket),
        in_reply_to=in_reply_to,
        references=references,
    )


async def _last_try(job_id: int | None) -> bool:
    if job_id is None:
        return True
    job = await Job.select(Job.attempts, Job.max_attempts).where(Job.id == job_id).first()
    if job is None:
        return True
    return job["attempts"] >= attempt_limit(SEND, job["max_attempts"])


@jobs.handler(SEND, max_attempts=8, backoff=[30, 120, 600, 1800, 3600])
async def send_mail(payload: dict) -> None:
    """Send one logged mail; a mail already sent is never sent again."""
    mail = await OutgoingMail.select().where(OutgoingMail.id == payload["mail_id"]).first()
    if mail is None or mail["status"] == Status.sent.value:
        return
    settings = get_settings()
    if not settings.smtp_url:
        await _failed(mail, NOT_CONFIGURED, final=True)
        raise jobs.GiveUp(NOT_CONFIGURED)
    server = smtp.parse_smtp_url(settings.smtp_url)
    message = await message_for(mail)
    try:
        await smtp.send(server, message, sender=compose.sender()[1], recipient=mail["to_address"])
    except smtp.PermanentFailure as error:
        await _failed(mail, str(error), final=True)
        raise jobs.GiveUp(str(error)) from None
    except Exception as error:
        reason = f"{type(error).__name__}: {error}".strip().removesuffix(":")
        await _failed(mail, reason, final=await _last_try(mail["job_id"]))
        raise
    await OutgoingMail.update(
        {
            OutgoingMail.status: Status.sent,
            OutgoingMail.sent_at: clock.now(),
            OutgoingMail.tries: OutgoingMail.tries + 1,
            OutgoingMail.last_error: "",
        }
    ).where(OutgoingMail.id == mail["id"])
    log.info("mail %s (%s) sent to %s", mail["id"], mail["kind"], mail["to_address"])


async def _failed(mail: dict[str, Any], error: str, *, final: bool) -> None:
    values: dict[Any, Any] = {
        OutgoingMail.tries: OutgoingMail.tries + 1,
        OutgoingMail.last_error: error[:2000],
    }
    if final:
        values[OutgoingMail.status] = Status.failed
    await OutgoingMail.update(values).where(OutgoingMail.id == mail["id"])
    log.warning("mail %s (%s) to %s: %s", mail["id"], mail["kind"], mail["to_address"], error)


# ------------------------------------------------------------------ admins

MAIL_COLUMNS = (
    OutgoingMail.id,
    OutgoingMail.kind,
    OutgoingMail.to_address,
    OutgoingMail.ticket,
    OutgoingMail.subject,
    OutgoingMail.status,
    OutgoingMail.tries,
    OutgoingMail.last_error,
    OutgoingMail.job_id,
    OutgoingMail.created_at,
    OutgoingMail.sent_at,
)
STATUSES = tuple(status.value for status in Status)


def mails_query(*, status: str | None = None, ticket_id: int | None = None) -> Select:
    """The mail log filtered by status and ticket (each optional), for a keyset page by id."""
    query = OutgoingMail.select(*MAIL_COLUMNS)
    if status:
        if status not in STATUSES:
            raise ValidationFailed.field("status", tr("status must be one of %(choices)s.", choices=", ".join(STATUSES)))
        query = query.where(OutgoingMail.status == status)
    if ticket_id is not None:
        query = query.where(OutgoingMail.ticket == ticket_id)
    return query


async def get_mail(mail_id: int) -> dict[str, Any]:
    row = await OutgoingMail.select(*MAIL_COLUMNS).where(OutgoingMail.id == mail_id).first()
    if row is None:
        raise NotFound(tr("There is no such mail."))
    return row


async def retry_mail(mail_id: int) -> dict[str, Any]:
    """Send a failed (or never sent) mail again, now, with a fresh round of tries."""
    from billdesk.tickets.lifecycle import write_transaction

    mail = await get_mail(mail_id)
    if mail["status"] not in (Status.failed.value, Status.unsent.value):
        raise MailNotRetriable(
            tr(
                "Only a failed or unsent mail can be sent again; this one is %(status)s.",
                status=mail["status"],
            ),
            errors={"status": tr("The mail is %(status)s.", status=mail["status"])},
        )
    if not get_settings().smtp_url:
        raise MailNotRetriable(NOT_CONFIGURED, errors={"status": NOT_CONFIGURED})
    async with write_transaction():
        job = None
        if mail["job_id"] is not None:
            job = await Job.select(Job.status).where(Job.id == mail["job_id"]).first()
        if job is not None and job["status"] == Job.Status.failed.value:
            await jobs.retry_job(mail["job_id"])
            job_id = mail["job_id"]
        elif job is not None and job["status"] in (
            Job.Status.pending.value,
            Job.Status.running.value,
        ):
            job_id = mail["job_id"]
        else:
            job_id = await jobs.enqueue(SEND, {"mail_id": mail_id})
        await OutgoingMail.update(
            {OutgoingMail.status: Status.queued, OutgoingMail.job_id: job_id}
        ).where(OutgoingMail.id == mail_id)
    return await get_mail(mail_id)


async def department_addresses() -> list[str]:
    rows = (
        await Department.select(Department.inbound_address)
        .where(Department.inbound_address.is_not_null())
        .output(as_list=True)
    )
    return [address for address in rows if address]
