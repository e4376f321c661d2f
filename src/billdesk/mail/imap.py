"""The IMAP poller: the worker reads new mail from BILLDESK_IMAP_URL every
BILLDESK_IMAP_POLL_SECONDS and hands each message to `inbound.receive()`.

`imaps://user:pass@host[:993]/INBOX` (or `imap://…:143`, with `?starttls` not
supported: use imaps). A message is fetched with BODY.PEEK (so fetching does not
mark it) and marked `\\Seen` — or moved to `?processed=Folder` — only after
receive() has committed what became of it. When the database cannot be reached
the message stays unseen and the next poll tries again; a message delivered
twice is handled once (its Message-ID).
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import aioimaplib

from billdesk import jobs
from billdesk.mail.inbound import receive
from billdesk.mail.urls import ImapMailbox, parse_imap_url
from billdesk.settings import get_settings

log = logging.getLogger("billdesk.mail")

POLL = "mail.poll_imap"
# Messages read in one poll, at most: a full mailbox is worked through over several polls.
BATCH = 50
LITERAL = re.compile(rb"\{(\d+)\}$")

__all__ = ["ImapError", "ImapMailbox", "parse_imap_url", "poll_mailbox"]


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _message_bytes(lines: list) -> bytes | None:
    """The literal of a FETCH answer: the line after the one ending in {size}."""
    for index, line in enumerate(lines[:-1]):
        if isinstance(line, bytes | bytearray) and LITERAL.search(bytes(line)):
            return bytes(lines[index + 1])
    return None


class ImapError(Exception):
    """The IMAP server refused or did not answer; the next poll tries again."""


def _check(response, what: str) -> None:
    if response.result != "OK":
        detail = b" ".join(
            bytes(line) for line in response.lines if isinstance(line, bytes | bytearray)
        )
        raise ImapError(f"IMAP {what} failed: {detail.decode(errors='replace')[:200]}")


async def poll_mailbox(mailbox: ImapMailbox) -> int:
    """Read the unseen messages (up to BATCH), hand each to receive(); how many were handled."""
    client_class = aioimaplib.IMAP4_SSL if mailbox.use_tls else aioimaplib.IMAP4
    client = client_class(host=mailbox.host, port=mailbox.port, timeout=30)
    await client.wait_hello_from_server()
    handled = 0
    try:
        _check(await client.login(mailbox.username, mailbox.password), "login")
        _check(await client.select(_quoted(mailbox.mailbox)), f"select {mailbox.mailbox}")
        found = await client.uid_search("UNSEEN")
        _check(found, "search")
        uids = (
            [uid.decode() for uid in bytes(found.lines[0]).split()][:BATCH] if found.lines else []
        )
        for uid in uids:
            fetched = await client.uid("fetch", uid, "(BODY.PEEK[])")
            _check(fetched, f"fetch {uid}")
            raw = _message_bytes(fetched.lines)
            if raw is None:
                continue
            # Raises when the database is down: the message stays unseen for the next poll.
            result = await receive(raw, source="imap")
            if mailbox.processed:
                _check(await client.uid("move", uid, _quoted(mailbox.processed)), f"move {uid}")
            else:
                _check(await client.uid("store", uid, "+FLAGS", "(\\Seen)"), f"store {uid}")
            handled += 1
            log.info("IMAP message %s: %s", uid, result.outcome)
    finally:
        try:
            await client.logout()
        except Exception:  # the server went away: nothing left to tidy
            log.debug("IMAP logout failed", exc_info=True)
    return handled


if get_settings().imap_url:

    @jobs.periodic(POLL, every=timedelta(seconds=get_settings().imap_poll_seconds), timeout=600)
    async def poll_imap() -> None:
        """Read new mail from BILLDESK_IMAP_URL into tickets."""
        url = get_settings().imap_url
        if url:
            await poll_mailbox(parse_imap_url(url))
