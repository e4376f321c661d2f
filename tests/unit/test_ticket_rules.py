"""Subjects derived from the first message, and the table of allowed status moves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billdesk.errors import InvalidTransition, TicketClosed
from billdesk.tickets import (
    SUBJECT_MAX,
    TRANSITIONS,
    Action,
    Status,
    derive_subject,
    next_status,
)


@pytest.mark.parametrize(
    ("message", "subject"),
    [
        ("Server down", "Server down"),
        ("\n\n   \nSecond line wins\nthird", "Second line wins"),
        ("  lots\tof   spaces  \n", "lots of spaces"),
        ("a\r\nb", "a"),
        ("", "(no subject)"),
        (" \n\t\n ", "(no subject)"),
        ("x" * 100, "x" * 100),
        ("x" * 101, "x" * 99 + "…"),
        ("word " * 30, ("word " * 20).strip()[:99].rstrip() + "…"),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),
    ],
)
def test_subject_examples(message, subject):
    assert derive_subject(message) == subject


@given(st.text())
def test_subject_is_never_empty_never_long_never_multiline(message):
    subject = derive_subject(message)
    assert subject
    assert len(subject) <= SUBJECT_MAX
    assert not any(ch in subject for ch in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
    assert subject == subject.strip()


@given(st.text(min_size=1).filter(lambda text: text.strip()))
def test_subject_comes_from_the_first_non_blank_line(message):
    first = next(line for line in message.splitlines() if line.split())
    collapsed = " ".join(first.split())
    subject = derive_subject(message)
    if len(collapsed) <= SUBJECT_MAX:
        assert subject == collapsed
    else:
        assert subject.endswith("…") and collapsed.startswith(subject[:-1])


def test_the_documented_moves():
    assert next_status("awaiting_payment", Action.pay) == Status.in_progress
    assert next_status("awaiting_payment", Action.cancel) == Status.solved
    assert next_status("in_progress", Action.staff_reply) == Status.waiting_for_reply
    assert next_status("waiting_for_reply", Action.customer_reply) == Status.in_progress
    assert next_status("in_progress", Action.customer_reply) == Status.in_progress
    assert next_status("waiting_for_reply", Action.internal_note) == Status.waiting_for_reply
    for status in ("in_progress", "waiting_for_reply", "solved"):
        assert next_status(status, Action.close) == Status.solved
    assert next_status("solved", Action.archive) == Status.solved


@pytest.mark.parametrize("action", [Action.customer_reply, Action.staff_reply, Action.internal_note])
def test_replies_to_a_solved_ticket_are_ticket_closed(action):
    with pytest.raises(TicketClosed) as caught:
        next_status("solved", action)
    assert caught.value.code == "ticket_closed" and caught.value.status == 409


def test_every_move_not_in_the_table_is_refused():
    for status in Status:
        for action in Action:
            if (status, action) in TRANSITIONS:
                continue
            with pytest.raises((InvalidTransition, TicketClosed)):
                next_status(status, action)


@pytest.mark.parametrize("status", ["in_progress", "waiting_for_reply", "awaiting_payment"])
def test_only_solved_tickets_are_archived(status):
    with pytest.raises(InvalidTransition) as caught:
        next_status(status, Action.archive)
    assert caught.value.code == "invalid_transition"


def test_nothing_leaves_solved_but_archive_and_close():
    leaving = {action for (status, action) in TRANSITIONS if status == Status.solved}
    assert leaving == {Action.close, Action.archive}
    assert all(TRANSITIONS[(Status.solved, action)] == Status.solved for action in leaving)
