"""Turning a decided mail into a message: subjects, the text and HTML parts from
templates/mail/, and the headers that thread it and keep auto-responders quiet."""

from __future__ import annotations

import re
import secrets
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from billdesk import clock
from billdesk.i18n import DEFAULT_LANGUAGE, Text, speaking, tr, translate
from billdesk.i18n.jinja import install
from billdesk.settings import get_settings, resource_dir

# kind: who it is for and the subject, in English (translated for each recipient).
# `%(id)s` and `%(subject)s` are the ticket's; `%(their_subject)s` is the subject of
# the mail billdesk is answering.
KINDS: dict[str, Text] = {
    # customers
    "staff_reply": tr("[#%(id)s] %(subject)s"),
    "ticket_solved": tr("[#%(id)s] Solved: %(subject)s"),
    "payment_failed": tr("[#%(id)s] Payment needed: %(subject)s"),
    "mail_received": tr("[#%(id)s] Received: %(subject)s"),
    "confirm_price": tr("[#%(id)s] Confirm the price: %(subject)s"),
    "reply_to_solved": tr("[#%(id)s] This ticket is solved: %(subject)s"),
    "mail_refused": tr("Not added to a ticket: %(their_subject)s"),
    "unknown_sender": tr("We could not find your account: %(their_subject)s"),
    "password_reset": tr("Reset your password"),
    "invite": tr("Set your password"),
    # staff
    "new_ticket": tr("[#%(id)s] New ticket in %(department)s: %(subject)s"),
    "customer_reply": tr("[#%(id)s] Customer replied: %(subject)s"),
    "paid_ticket": tr("[#%(id)s] Paid ticket in %(department)s: %(subject)s"),
    "sla_escalation": tr("[#%(id)s] Service level alert: %(subject)s"),
    # customers, about service levels
    "inactivity_reminder": tr("[#%(id)s] Closes tomorrow unless you reply: %(subject)s"),
    "rating_request": tr("[#%(id)s] How did we do? %(subject)s"),
}
# Answers to a mail that came in (RFC 3834 calls them auto-replied); the rest are notifications.
AUTO_REPLIES = {
    "mail_received",
    "confirm_price",
    "reply_to_solved",
    "mail_refused",
    "unknown_sender",
}

SUBJECT_MAX = 250
TICKET_THREAD = re.compile(r"^ticket-(\d+)@(.+)$")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


NO_SUBJECT = tr("(no subject)")


def subject_for(
    kind: str,
    *,
    ticket: dict[str, Any] | None = None,
    language: str = DEFAULT_LANGUAGE,
    **values: Any,
) -> str:
    """The subject of a mail of `kind` in `language`; `ticket` has id, subject and
    department name."""
    fields = {
        "their_subject": translate(NO_SUBJECT, language),
        "department": "",
        "id": "",
        "subject": "",
    }
    if ticket is not None:
        fields.update(
            id=ticket["id"], subject=ticket["subject"], department=ticket.get("department_name", "")
        )
    fields.update({key: value for key, value in values.items() if value})
    subject = _one_line(translate(KINDS[kind], language) % fields)
    return subject if len(subject) <= SUBJECT_MAX else subject[: SUBJECT_MAX - 1] + "…"


# ------------------------------------------------------------------ addresses


def sender() -> tuple[str, str]:
    """(display name, address) of BILLDESK_MAIL_FROM."""
    name, address = parseaddr(get_settings().mail_from)
    return name or "billdesk", address or "billdesk@localhost"


def mail_domain() -> str:
    return sender()[1].rpartition("@")[2].lower() or "localhost"


def reply_address() -> str:
    """Where replies go when a department has no inbound address of its own."""
    configured = get_settings().mail_reply_to
    return parseaddr(configured)[1].lower() if configured else sender()[1].lower()


def new_message_id(ticket_id: int | None) -> str:
    """A fresh Message-ID (without <>), naming its ticket for whoever reads headers."""
    prefix = f"billdesk.{ticket_id}" if ticket_id else "billdesk"
    return f"{prefix}.{secrets.token_hex(10)}@{mail_domain()}"


def thread_id(ticket_id: int) -> str:
    """The ticket's thread: every mail about it refers to this id, so clients group them."""
    return f"ticket-{ticket_id}@{mail_domain()}"


def ticket_of_thread_id(message_id: str) -> int | None:
    match = TICKET_THREAD.match(message_id)
    if match and match.group(2).lower() == mail_domain():
        return int(match.group(1))
    return None


def bracketed(message_id: str) -> str:
    return f"<{message_id}>"


# ------------------------------------------------------------------ templates


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(resource_dir("templates")),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return install(env)


def render(kind: str, context: dict[str, Any], language: str = DEFAULT_LANGUAGE) -> tuple[str, str]:
    """The text and the HTML part of a mail of `kind`, in `language`."""
    env = environment()
    with speaking(language) as chosen:
        page = {"site_name": sender()[0], "language": chosen, **context}
        text = env.get_template(f"mail/{kind}.txt").render(page)
        html = env.get_template(f"mail/{kind}.html").render(page)
    return text, html


def _set_subject(message: EmailMessage, subject: str) -> None:
    """The Subject, with non-ASCII words encoded so that a reader sees every space.

    The standard library's folding of a long non-ASCII header can leave the space
    between two words as the fold between two RFC 2047 encoded-words, where readers
    drop it ("сервер не" arrives as "серверне"). `Header` puts the spaces inside the
    encoded-words, and `set_raw` keeps its folding as it is (its lines are short)."""
    if subject.isascii():
        message["Subject"] = subject
        return
    message.set_raw("Subject", Header(subject, "utf-8", header_name="Subject").encode())


def build_message(
    *,
    kind: str,
    to_address: str,
    to_name: str,
    subject: str,
    message_id: str,
    text: str,
    html: str,
    reply_to: str | None = None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
) -> EmailMessage:
    """The RFC 5322 message: text and HTML alternatives, threading and auto-reply headers."""
    name, address = sender()
    message = EmailMessage()
    message["From"] = formataddr((name, address))
    message["To"] = Address(display_name=_one_line(to_name), addr_spec=to_address)
    _set_subject(message, subject)
    message["Date"] = format_datetime(clock.now())
    message["Message-ID"] = bracketed(message_id)
    if reply_to:
        message["Reply-To"] = formataddr((name, reply_to))
    if in_reply_to:
        message["In-Reply-To"] = bracketed(in_reply_to)
    if references:
        message["References"] = " ".join(bracketed(ref) for ref in references)
    message["Auto-Submitted"] = "auto-replied" if kind in AUTO_REPLIES else "auto-generated"
    # Outlook and Exchange: send no out-of-office or read receipt back.
    message["X-Auto-Response-Suppress"] = "All"
    message["X-Billdesk-Kind"] = kind
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message
