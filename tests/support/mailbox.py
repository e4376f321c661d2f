"""The test suite's SMTP server: billdesk's own mail catcher (aiosmtpd) on 127.0.0.1,
one per test session, which tests read, empty, stop and start again."""

from __future__ import annotations

import logging
import socket
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from billdesk.mail import catcher

# aiosmtpd logs every SMTP command at INFO.
logging.getLogger("mail.log").setLevel(logging.WARNING)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """What the catcher received, as parsed messages."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        self._controller = None
        self._handler: catcher.CatchingHandler | None = None

    def start(self) -> None:
        """Listen (again) on the same port; what was caught before is kept."""
        kept = self._handler.messages if self._handler else []
        for _ in range(50):
            try:
                self._controller, self._handler = catcher.start(
                    "127.0.0.1", self.port, self.directory
                )
                break
            except (OSError, RuntimeError):
                time.sleep(0.1)  # the port of a server just stopped
        else:
            raise RuntimeError(f"the mail catcher could not listen on {self.port}")
        self._handler.messages[:0] = kept

    def stop(self) -> None:
        """The SMTP server goes down: connections are refused until start()."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def raw(self) -> list[bytes]:
        return list(self._handler.messages) if self._handler else []

    def messages(self) -> list[EmailMessage]:
        parser = BytesParser(policy=policy.default)
        return [parser.parsebytes(raw) for raw in self.raw()]  # type: ignore[misc]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if address.lower() in str(m["To"]).lower()]

    def clear(self) -> None:
        if self._handler is not None:
            self._handler.messages.clear()
        for path in self.directory.glob("*.eml"):
            path.unlink()


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "the mail has no text part"
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "the mail has no HTML part"
    return str(part.get_content())
