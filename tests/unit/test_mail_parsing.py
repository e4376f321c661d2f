"""Reading mail: quoted history and signatures trimmed, HTML as text, machines recognised,
SMTP URLs read; subjects of the mails billdesk sends."""

from __future__ import annotations

import pytest

from billdesk.mail.compose import subject_for
from billdesk.mail.parsing import Unreadable, automatic_reason, html_to_text, parse, trim_reply
from billdesk.mail.smtp import parse_smtp_url


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Thanks!\n\nOn Tue, 3 Nov 2026, Support <s@x.test> wrote:\n> old", "Thanks!"),
        (
            "Fine now.\n\nOn Tue, 3 Nov 2026 at 10:02, Example Hosting <\ns@x.test> wrote:\n> a",
            "Fine now.",
        ),
        ("Merci\n\nLe mar. 3 nov. 2026 à 10:02, Support <s@x.test> a écrit :\n> a", "Merci"),
        ("Danke\n\nAm 03.11.2026 um 10:02 schrieb Support <s@x.test>:\n> a", "Danke"),
        ("Ok\n\n-----Original Message-----\nFrom: Support\nSent: Monday", "Ok"),
        ("Ok\r\n\r\nFrom: Support <s@x.test>\r\nSent: Monday\r\nTo: me\r\n\r\nold", "Ok"),
        ("Answer\n-- \nAlice\nExample Shop", "Answer"),
        ("Answer\n\nSent from my iPhone", "Answer"),
        ("See below\n> quoted 1\n> quoted 2\n", "See below"),
        ("Inline:\n> your question\nmy answer\n", "Inline:\n> your question\nmy answer"),
        ("> only a quote\n", "> only a quote"),
    ],
)
def test_replies_keep_only_their_new_text(text, kept):
    assert trim_reply(text) == kept


def test_html_becomes_text_with_blocks_on_lines_and_quotes_marked():
    html = (
        "<html><head><title>t</title><style>p{}</style></head><body><p>Hello <b>there</b>,</p>"
        "<div>line one<br>line&nbsp;two &amp; more.</div><blockquote>old text</blockquote>"
        "<script>bad()</script></body></html>"
    )
    assert html_to_text(html) == "Hello there,\n\nline one\nline two & more.\n\n> old text"


def test_machines_are_recognised_by_their_headers_and_addresses():
    def reason(headers: str, sender: str = "alice@x.test") -> str:
        message = parse(f"From: {sender}\r\n{headers}\r\n\r\nbody\r\n".encode())
        return message.automatic

    assert reason("Auto-Submitted: auto-replied") == "Auto-Submitted: auto-replied"
    assert reason("Auto-Submitted: no") == ""
    assert reason("Precedence: bulk") == "Precedence: bulk"
    assert reason("Precedence: list") == "Precedence: list"
    assert reason("List-Id: <news.x.test>") == "sent through a mailing list"
    assert reason("Return-Path: <>") == "a bounce (empty Return-Path)"
    assert reason("", sender="MAILER-DAEMON@x.test") == "sent by mailer-daemon@"
    assert reason("", sender="no-reply@x.test") == "sent by no-reply@"
    assert reason("", sender="postmaster@x.test") == "sent by postmaster@"
    assert reason("X-Autoreply: yes") == "X-Autoreply header"
    assert reason("") == ""
    assert automatic_reason is not None


def test_a_mail_without_sender_is_unreadable_and_one_without_message_id_gets_a_stable_one():
    with pytest.raises(Unreadable):
        parse(b"Subject: hi\r\n\r\nbody")
    raw = b"From: a@x.test\r\nSubject: [#42] Re: hi\r\n\r\nbody"
    first, second = parse(raw), parse(raw)
    assert first.message_id == second.message_id and first.message_id.startswith("sha256-")
    assert first.ticket_token == 42


def test_smtp_urls_are_read_or_refused_naming_the_setting():
    server = parse_smtp_url("smtp://me%40x.test:p%40ss@mail.x.test:587?starttls=true")
    assert (server.host, server.port, server.username, server.password) == (
        "mail.x.test",
        587,
        "me@x.test",
        "p@ss",
    )
    assert (server.use_tls, server.start_tls) == (False, True)
    assert "p@ss" not in repr(server)
    tls = parse_smtp_url("smtps://mail.x.test")
    assert (tls.port, tls.use_tls, tls.start_tls) == (465, True, False)
    assert parse_smtp_url("smtp://localhost").port == 25
    for bad in (
        "http://x",
        "smtp://",
        "smtp://h?starttls=maybe",
        "smtps://h?starttls=true",
        "smtp://h:port",
    ):
        with pytest.raises(ValueError, match="BILLDESK_SMTP_URL"):
            parse_smtp_url(bad)


def test_subjects_carry_the_ticket_and_are_one_line():
    ticket = {"id": 1042, "subject": "Server\ndown", "department_name": "VPS"}
    assert subject_for("staff_reply", ticket=ticket) == "[#1042] Server down"
    assert subject_for("new_ticket", ticket=ticket) == "[#1042] New ticket in VPS: Server down"
    assert subject_for("unknown_sender", their_subject="") == (
        "We could not find your account: (no subject)"
    )
    assert len(subject_for("staff_reply", ticket={**ticket, "subject": "x" * 400})) == 250
