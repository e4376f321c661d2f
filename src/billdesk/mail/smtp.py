"""Talking to the SMTP server: BILLDESK_SMTP_URL, and one send through aiosmtplib."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from billdesk.mail.urls import SmtpServer, parse_smtp_url

__all__ = ["PermanentFailure", "SmtpServer", "parse_smtp_url", "send"]


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
            raise PermanentFailure(
                f"the server refused {recipient}: {error.recipients[0].message}"
            ) from None
        raise
    except aiosmtplib.SMTPResponseException as error:
        if 500 <= error.code < 600 and not isinstance(error, aiosmtplib.SMTPAuthenticationError):
            raise PermanentFailure(
                f"the server refused the mail: {error.code} {error.message}"
            ) from None
        raise
