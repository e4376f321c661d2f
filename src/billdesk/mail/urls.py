"""BILLDESK_SMTP_URL and BILLDESK_IMAP_URL read into what the mail code needs.

Plain functions of the standard library only, so that the settings can check
both when a process starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool  # smtps://: TLS from the first byte
    start_tls: bool | None  # None: STARTTLS when the server offers it
    timeout: float

    def __repr__(self) -> str:  # never the password, in a log or a traceback
        return f"SmtpServer({self.host}:{self.port}, tls={self.use_tls}, starttls={self.start_tls})"


def parse_smtp_url(url: str) -> SmtpServer:
    """`smtp://user:pass@host:587?starttls=true`, `smtps://host` (465), `smtp://host` (25).

    Query: `starttls` (true, false; unset: when the server offers it), `timeout` in seconds.
    Raises ValueError naming BILLDESK_SMTP_URL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("BILLDESK_SMTP_URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("BILLDESK_SMTP_URL has no host")
    query = {key: values[-1].lower() for key, values in parse_qs(parts.query).items()}
    start_tls: bool | None = None
    if "starttls" in query:
        if query["starttls"] not in TRUE + FALSE:
            raise ValueError("BILLDESK_SMTP_URL: starttls must be true or false")
        start_tls = query["starttls"] in TRUE
    use_tls = parts.scheme == "smtps"
    if use_tls and start_tls:
        raise ValueError("BILLDESK_SMTP_URL: smtps:// is TLS already; drop starttls=true")
    try:
        port = parts.port or (465 if use_tls else 25)
        timeout = float(query.get("timeout", "30"))
    except ValueError:
        raise ValueError("BILLDESK_SMTP_URL has a port or a timeout that is not a number") from None
    return SmtpServer(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=use_tls,
        start_tls=False if use_tls else start_tls,
        timeout=timeout,
    )


@dataclass(frozen=True)
class ImapMailbox:
    host: str
    port: int
    username: str
    password: str
    use_tls: bool
    mailbox: str
    processed: str | None  # move handled messages here; None: mark them \Seen

    def __repr__(self) -> str:  # never the password
        return f"ImapMailbox({self.host}:{self.port}/{self.mailbox})"


def parse_imap_url(url: str) -> ImapMailbox:
    """`imaps://user:pass@host/INBOX?processed=Done`; ValueError naming BILLDESK_IMAP_URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps"):
        raise ValueError("BILLDESK_IMAP_URL must start with imaps:// or imap://")
    if not parts.hostname or not parts.username or parts.password is None:
        raise ValueError("BILLDESK_IMAP_URL needs a user, a password and a host")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    use_tls = parts.scheme == "imaps"
    try:
        port = parts.port or (993 if use_tls else 143)
    except ValueError:
        raise ValueError("BILLDESK_IMAP_URL has a port that is not a number") from None
    return ImapMailbox(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username),
        password=unquote(parts.password),
        use_tls=use_tls,
        mailbox=unquote(parts.path.lstrip("/")) or "INBOX",
        processed=query.get("processed") or None,
    )
