"""A small IMAP4rev1 server for the poller's tests: one mailbox in memory, the commands
billdesk's poller uses (LOGIN, SELECT, UID SEARCH UNSEEN, UID FETCH BODY.PEEK[],
UID STORE +FLAGS, UID MOVE, LOGOUT), over real TCP on 127.0.0.1, driven by aioimaplib."""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass, field

TOKEN = re.compile(rb'"((?:[^"\\]|\\.)*)"|(\S+)')


@dataclass
class StoredMessage:
    uid: int
    raw: bytes
    flags: set[str] = field(default_factory=set)
    folder: str = "INBOX"


class ImapServer:
    """Runs in a thread of its own; `messages` is what the mailbox holds."""

    def __init__(self, *, username: str = "billdesk", password: str = "s3cret pass") -> None:  # noqa: S107
        self.username, self.password = username, password
        self.messages: list[StoredMessage] = []
        self.commands: list[str] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def add(self, raw: bytes) -> int:
        uid = len(self.messages) + 1
        self.messages.append(StoredMessage(uid=uid, raw=raw))
        return uid

    def __enter__(self) -> ImapServer:
        self._thread.start()
        assert self._ready.wait(10), "the IMAP test server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def _inbox(self) -> list[StoredMessage]:
        return [m for m in self.messages if m.folder == "INBOX"]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def send(line: bytes) -> None:
            writer.write(line + b"\r\n")

        send(b"* OK [CAPABILITY IMAP4rev1 MOVE UIDPLUS] billdesk test IMAP ready")
        await writer.drain()
        while True:
            line = await reader.readline()
            if not line:
                break
            tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
            words = [a or b for a, b in TOKEN.findall(rest)]
            command = words[0].upper() if words else b""
            self.commands.append(" ".join(w.decode(errors="replace") for w in words[:2]))
            if command == b"CAPABILITY":
                send(b"* CAPABILITY IMAP4rev1 MOVE UIDPLUS")
                send(tag + b" OK CAPABILITY completed")
            elif command == b"LOGIN":
                user, password = (w.decode().replace('\\"', '"') for w in words[1:3])
                if (user, password) == (self.username, self.password):
                    send(tag + b" OK LOGIN completed")
                else:
                    send(tag + b" NO [AUTHENTICATIONFAILED] wrong user or password")
            elif command == b"SELECT":
                send(b"* %d EXISTS" % len(self._inbox()))
                send(b"* OK [UIDVALIDITY 1] UIDs valid")
                send(tag + b" OK [READ-WRITE] SELECT completed")
            elif command == b"UID":
                self._uid(tag, words[1:], send)
            elif command == b"LOGOUT":
                send(b"* BYE logging out")
                send(tag + b" OK LOGOUT completed")
                await writer.drain()
                break
            else:
                send(tag + b" OK done")
            await writer.drain()
        writer.close()

    def _uid(self, tag: bytes, words: list[bytes], send) -> None:
        sub = words[0].upper()
        inbox = self._inbox()
        if sub == b"SEARCH":
            unseen = [str(m.uid).encode() for m in inbox if "\\Seen" not in m.flags]
            send(b"* SEARCH " + b" ".join(unseen) if unseen else b"* SEARCH")
            send(tag + b" OK SEARCH completed")
            return
        uid = int(words[1])
        found = [(n, m) for n, m in enumerate(inbox, 1) if m.uid == uid]
        if not found:
            send(tag + b" OK nothing")
            return
        seq, message = found[0]
        if sub == b"FETCH":
            send(b"* %d FETCH (UID %d BODY[] {%d}" % (seq, uid, len(message.raw)))
            send(message.raw + b")")
            send(tag + b" OK FETCH completed")
        elif sub == b"STORE":
            message.flags.add("\\Seen")
            send(b"* %d FETCH (UID %d FLAGS (\\Seen))" % (seq, uid))
            send(tag + b" OK STORE completed")
        elif sub == b"MOVE":
            message.folder = words[2].decode()
            send(b"* %d EXPUNGE" % seq)
            send(tag + b" OK MOVE completed")
        else:
            send(tag + b" BAD unknown UID command")
