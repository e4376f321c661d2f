"""The mail catcher of the offline demo: a local SMTP server (aiosmtpd) that keeps
every mail it is given as a .eml file instead of delivering it, so admins can read
at /admin/mail what billdesk sent, with no internet. `make run` starts it
(`billdesk mail-catcher`) and points BILLDESK_SMTP_URL and BILLDESK_MAIL_CATCHER_DIR at it.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import threading
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

NAME = re.compile(r"^[0-9]{17}-[0-9a-f]{8}\.eml$")
# The admin page lists the newest caught mails only: the folder of a long demo can grow.
LIST_LIMIT = 200


class CatchingHandler:
    """aiosmtpd handler: every message accepted, written to `directory`, kept in `messages`."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.messages: list[bytes] = []
        self._lock = threading.Lock()
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        raw = data if isinstance(data, bytes) else str(data).encode()
        if self.directory is not None:
            name = f"{time.strftime('%Y%m%d%H%M%S')}{int(time.time() * 1000) % 1000:03d}-{secrets.token_hex(4)}.eml"
            temporary = self.directory / f".{name}.part"
            temporary.write_bytes(raw)
            os.replace(temporary, self.directory / name)
        with self._lock:
            self.messages.append(raw)
        return "250 Message accepted for delivery"


def start(host: str, port: int, directory: Path | None) -> tuple[Controller, CatchingHandler]:
    """A running catcher on host:port (in a thread of its own)."""
    handler = CatchingHandler(directory)
    controller = Controller(handler, hostname=host, port=port)
    controller.start()
    return controller, handler


def serve(*, host: str, port: int, directory: Path) -> None:
    """Run the catcher until SIGTERM or Ctrl-C."""
    controller, _ = start(host, port, directory)
    print(f"Mail catcher on smtp://{host}:{port}, keeping mails in {directory}", flush=True)
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    try:
        stopped.wait()
    finally:
        controller.stop()


# ------------------------------------------------------------------ reading


@dataclass(frozen=True)
class CaughtMail:
    name: str
    sender: str
    to: str
    subject: str
    date: str
    text: str = ""
    html: str = ""
    headers: tuple[tuple[str, str], ...] = ()


def _parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def _part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):
        return ""
    return content if isinstance(content, str) else ""


def caught_mails(directory: Path, *, limit: int = LIST_LIMIT) -> list[CaughtMail]:
    """The newest caught mails first (headers only)."""
    if not directory.is_dir():
        return []
    names = sorted(
        (entry.name for entry in os.scandir(directory) if NAME.match(entry.name)), reverse=True
    )[:limit]
    found = []
    for name in names:
        try:
            message = _parse((directory / name).read_bytes())
        except OSError:
            continue
        found.append(
            CaughtMail(
                name=name,
                sender=str(message.get("From", "")),
                to=str(message.get("To", "")),
                subject=str(message.get("Subject", "")),
                date=str(message.get("Date", "")),
            )
        )
    return found


def caught_mail(directory: Path, name: str) -> CaughtMail | None:
    """One caught mail with its text, its HTML and its headers; None for an unknown name."""
    if not NAME.match(name):
        return None
    path = directory / name
    try:
        message = _parse(path.read_bytes())
    except OSError:
        return None
    return CaughtMail(
        name=name,
        sender=str(message.get("From", "")),
        to=str(message.get("To", "")),
        subject=str(message.get("Subject", "")),
        date=str(message.get("Date", "")),
        text=_part(message, "plain"),
        html=_part(message, "html"),
        headers=tuple((key, str(value)) for key, value in message.items()),
    )
