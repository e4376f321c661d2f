"""Reading one RFC 5322 message: who sent it to whom, what it answers, its text
without the quoted history and the signature, its files, and whether a machine sent it.

Pure functions, no database: `parse()` is what `billdesk mail-receive` and the
IMAP poller both start with.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

from billdesk.attachments import Upload

MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
TICKET_TOKEN = re.compile(r"\[#(\d{1,12})\]")
# Senders that are machines: nothing answers them.
MACHINE_SENDERS = re.compile(
    r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|auto-?reply)([+.-].*)?$",
    re.IGNORECASE,
)


class Unreadable(ValueError):
    """Not a mail billdesk can read (no sender, not RFC 5322)."""


@dataclass
class IncomingMail:
    message_id: str  # without <>; made from the bytes when the mail has none
    sender: str  # lower-case address
    sender_name: str
    recipients: list[str]  # lower-case addresses: To, Cc, Delivered-To, X-Original-To
    subject: str
    in_reply_to: list[str]
    references: list[str]
    text: str  # the new text: quoted history and signature trimmed
    attachments: list[Upload] = field(default_factory=list)
    automatic: str = ""  # why a machine sent it (bounce, auto-reply, list…), or ""

    @property
    def ticket_token(self) -> int | None:
        """The N of a `[#N]` in the subject."""
        match = TICKET_TOKEN.search(self.subject)
        return int(match.group(1)) if match else None

    def thread_ids(self) -> list[str]:
        """What it answers, most direct first: In-Reply-To, then References newest first."""
        return list(dict.fromkeys([*self.in_reply_to, *reversed(self.references)]))


def _ids(value: str | None) -> list[str]:
    return MESSAGE_ID.findall(str(value or ""))[:50]


def _header(message: EmailMessage, name: str) -> str:
    try:
        return " ".join(str(message.get(name, "") or "").split())
    except (ValueError, TypeError):  # a header the parser could not decode
        return ""


def automatic_reason(message: EmailMessage, sender: str) -> str:
    """Why the mail was sent by a machine (RFC 3834 and common practice), or ""."""
    auto_submitted = _header(message, "Auto-Submitted").lower().split(";")[0].strip()
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {auto_submitted}"
    precedence = _header(message, "Precedence").lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if message.get(name):
            return f"{name} header"
    if message.get("List-Id") or message.get("List-Unsubscribe"):
        return "sent through a mailing list"
    if message.get_content_type() == "multipart/report":
        return "a delivery status report (bounce)"
    if _header(message, "Return-Path") == "<>":
        return "a bounce (empty Return-Path)"
    local = sender.partition("@")[0]
    if MACHINE_SENDERS.match(local):
        return f"sent by {local}@"
    return ""


# ------------------------------------------------------------------ text


QUOTE_HEADERS = [
    re.compile(r"^On\b.{0,300}\bwrote:\s*$", re.IGNORECASE),  # Gmail, Apple Mail, Thunderbird
    re.compile(r"^Le\b.{0,300}\ba écrit\s?:\s*$", re.IGNORECASE),
    re.compile(r"^Am\b.{0,300}\bschrieb\b.{0,200}:\s*$", re.IGNORECASE),
    re.compile(r"^El\b.{0,300}\bescribió:\s*$", re.IGNORECASE),
    re.compile(r"^-{2,}\s*Original Message\s*-{2,}\s*$", re.IGNORECASE),  # Outlook
    re.compile(r"^-{2,}\s*Ursprüngliche Nachricht\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^_{20,}\s*$"),  # Outlook on the web, before its From:/Sent: block
]
OUTLOOK_FROM = re.compile(r"^\*?(From|Von|De):\*?\s", re.IGNORECASE)
OUTLOOK_SENT = re.compile(r"^\*?(Sent|Date|Gesendet|Envoyé|To):\*?\s", re.IGNORECASE)
SIGNATURE = re.compile(r"^-- ?$")
PHONE_FOOTER = re.compile(r"^(Sent from my |Get Outlook for |Sent from Mail for )", re.IGNORECASE)


def _quote_start(lines: list[str]) -> int | None:
    """Where the quoted history begins: its header line, or None."""
    for index, line in enumerate(lines):
        stripped = line.strip()
        joined = f"{stripped} {lines[index + 1].strip()}" if index + 1 < len(lines) else stripped
        for pattern in QUOTE_HEADERS:
            if pattern.match(stripped) or (stripped.startswith("On ") and pattern.match(joined)):
                return index
        if OUTLOOK_FROM.match(stripped) and any(
            OUTLOOK_SENT.match(later.strip()) for later in lines[index + 1 : index + 5]
        ):
            return index
    return None


def trim_reply(text: str) -> str:
    """The new part of a reply: without the quoted history, trailing `>` lines and the signature.

    When trimming would leave nothing, the text is kept whole.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    start = _quote_start(lines)
    if start is not None:
        lines = lines[:start]
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith(">")):
        lines.pop()
    for index, line in enumerate(lines):
        if SIGNATURE.match(line):
            lines = lines[:index]
            break
    while lines and (not lines[-1].strip() or PHONE_FOOTER.match(lines[-1].strip())):
        lines.pop()
    trimmed = "\n".join(lines).strip("\n")
    return trimmed if trimmed.strip() else text.strip()


class _HtmlText(HTMLParser):
    """Text of an HTML body: block elements on their own lines, quotes marked with `>`."""

    BLOCKS = {
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "ul",
        "ol",
        "hr",
        "pre",
        "section",
        "article",
        "header",
        "footer",
    }
    SKIPPED = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.skipping = 0
        self.quoting = 0
        self.space = False  # the text so far ended in whitespace

    def _newline(self) -> None:
        self.space = False
        if self.lines[-1].strip() or (len(self.lines) > 1 and self.lines[-2].strip()):
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIPPED:
            self.skipping += 1
        elif tag == "blockquote":
            self._newline()
            self.quoting += 1
        elif tag in self.BLOCKS:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag == "blockquote":
            self.quoting = max(0, self.quoting - 1)
            self._newline()
        elif tag in self.BLOCKS:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        text = " ".join(data.split())
        if not text:
            self.space = self.space or bool(data)
            return
        if not self.lines[-1]:
            self.lines[-1] = "> " * self.quoting
        elif (self.space or data[0].isspace()) and not self.lines[-1].endswith(" "):
            text = " " + text
        self.space = data[-1].isspace()
        self.lines[-1] += text


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    text = "\n".join(line.rstrip() for line in parser.lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    if part.get_content_type() == "text/html":
        content = html_to_text(content)
    return trim_reply(content)


def _attachments(message: EmailMessage) -> list[Upload]:
    files = []
    for part in message.iter_attachments():
        if part.is_multipart():
            continue
        filename = part.get_filename() or ""
        try:
            data = part.get_payload(decode=True) or b""
        except (ValueError, TypeError):
            data = b""
        if not filename:
            subtype = part.get_content_subtype() or "bin"
            filename = f"attachment.{subtype}"
        files.append(Upload(filename=filename, data=data if isinstance(data, bytes) else b""))
    return files


def parse(raw: bytes, *, envelope_recipient: str | None = None) -> IncomingMail:
    """Read a mail; Unreadable when it has no sender address."""
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as error:  # the parser is lenient; this is a last resort
        raise Unreadable(f"not an RFC 5322 message: {error}") from None
    assert isinstance(message, EmailMessage)
    sender_name, sender = parseaddr(_header(message, "From"))
    sender = sender.strip().lower()
    if "@" not in sender:
        raise Unreadable("the mail has no sender address (From)")
    recipients = [
        address.strip().lower()
        for _, address in getaddresses(
            [_header(message, name) for name in ("To", "Cc", "Delivered-To", "X-Original-To")]
        )
        if "@" in address
    ]
    if envelope_recipient:
        recipients.insert(0, envelope_recipient.strip().lower())
    ids = _ids(_header(message, "Message-ID"))
    message_id = ids[0] if ids else "sha256-" + hashlib.sha256(raw).hexdigest()[:48] + "@billdesk"
    return IncomingMail(
        message_id=message_id[:250],
        sender=sender[:254],
        sender_name=sender_name,
        recipients=list(dict.fromkeys(recipients)),
        subject=_header(message, "Subject")[:300],
        in_reply_to=_ids(_header(message, "In-Reply-To")),
        references=_ids(_header(message, "References")),
        text=_body_text(message),
        attachments=_attachments(message),
        automatic=automatic_reason(message, sender),
    )
