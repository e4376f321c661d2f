"""Talking to the SMTP server: BILLDESK_SMTP_URL, and one send through aiosmtplib."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

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


class PermanentFailure(Exception):
    """The server refused the mail for good (a 5xx): trying again cannot help."""


async def send(server: SmtpServer, message: EmailMessage, *, sender: str, recipient: str) -> None:
    """Hand one message to the server; raises PermanentFailure on a 5xx, else the SMTP error."""
    try:
        await aiosmtplib.send(
            message,
            sender=sender,
            recipients=[recipient],
            hostname=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.use_tls,
            start_tls=server.start_tls,
            timeout=server.timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as error:
        codes = [refused.code for refused in error.recipients]
        if codes and all(500 <= code < 600 for code in codes):
            raise PermanentFailure(f"the server refused {recipient}: {error.recipients[0].message}") from None
        raise
    except aiosmtplib.SMTPResponseException as error:
        if 500 <= error.code < 600 and not isinstance(error, aiosmtplib.SMTPAuthenticationError):
            raise PermanentFailure(f"the server refused the mail: {error.code} {error.message}") from None
        raise
