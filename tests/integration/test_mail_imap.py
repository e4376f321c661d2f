"""The worker's IMAP poller, against a small IMAP server on loopback through aioimaplib:
each new mail goes through receive(), and is marked or moved only once handled."""

from __future__ import annotations

import pytest

from billdesk.mail import imap
from billdesk.tables import InboundMail, Ticket
from tests.factories import make_department, make_user
from tests.support.imap_server import ImapServer


def mail(sender: str, n: int) -> bytes:
    return (
        f"From: {sender}\r\nTo: support@hosting.test\r\nSubject: Question {n}\r\n"
        f"Message-ID: <imap-{n}@x.test>\r\n\r\nHow do I renew domain {n}?\r\n"
    ).encode()


def url(server: ImapServer, query: str = "") -> str:
    return f"imap://billdesk:s3cret%20pass@127.0.0.1:{server.port}/INBOX{query}"


async def test_new_mail_is_read_into_tickets_and_marked_seen_once_handled(mailbox):
    customer = await make_user(email="alice@alice.test")
    await make_department(free_tickets=None)
    with ImapServer() as server:
        server.add(mail(customer.email, 1))
        server.add(mail("stranger@elsewhere.test", 2))
        assert await imap.poll_mailbox(imap.parse_imap_url(url(server))) == 2
        assert [m.flags for m in server.messages] == [{"\\Seen"}, {"\\Seen"}]
        assert await imap.poll_mailbox(imap.parse_imap_url(url(server))) == 0  # nothing new
    [ticket] = await Ticket.select().where(Ticket.customer == customer.id)
    assert ticket["subject"] == "Question 1"
    logged = await InboundMail.select(InboundMail.source, InboundMail.outcome).order_by(
        InboundMail.id
    )
    assert logged == [
        {"source": "imap", "outcome": "opened"},
        {"source": "imap", "outcome": "refused"},
    ]


async def test_a_mail_that_could_not_be_handled_stays_unseen_for_the_next_poll(
    mailbox, monkeypatch
):
    customer = await make_user(email="alice@alice.test")
    await make_department(free_tickets=None)
    real_receive = imap.receive

    async def database_down(raw: bytes, **options):
        raise OSError("connection refused")

    with ImapServer() as server:
        server.add(mail(customer.email, 1))
        monkeypatch.setattr(imap, "receive", database_down)
        with pytest.raises(OSError):
            await imap.poll_mailbox(imap.parse_imap_url(url(server)))
        assert server.messages[0].flags == set()
        assert not [c for c in server.commands if c.startswith("UID STORE")]
        monkeypatch.setattr(imap, "receive", real_receive)
        assert await imap.poll_mailbox(imap.parse_imap_url(url(server, "?processed=Done"))) == 1
        assert server.messages[0].folder == "Done"
    assert await Ticket.count().where(Ticket.customer == customer.id) == 1


async def test_wrong_credentials_fail_the_poll_and_touch_nothing(mailbox):
    with ImapServer() as server:
        server.add(mail("alice@alice.test", 1))
        wrong = f"imap://billdesk:nope@127.0.0.1:{server.port}/INBOX"
        with pytest.raises(imap.ImapError, match="login"):
            await imap.poll_mailbox(imap.parse_imap_url(wrong))
        assert server.messages[0].flags == set()


def test_imap_urls_are_read_or_refused_with_the_setting_named():
    box = imap.parse_imap_url("imaps://me%40x.test:p%40ss@mail.x.test/Support?processed=Done")
    assert (box.host, box.port, box.username, box.password, box.use_tls) == (
        "mail.x.test",
        993,
        "me@x.test",
        "p@ss",
        True,
    )
    assert (box.mailbox, box.processed) == ("Support", "Done")
    assert "p@ss" not in repr(box)
    for bad in ("http://x", "imaps://mail.x.test/INBOX", "imap://u:p@h:port/INBOX"):
        with pytest.raises(ValueError, match="BILLDESK_IMAP_URL"):
            imap.parse_imap_url(bad)
