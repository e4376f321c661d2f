"""An opening writes its ticket's row, clock and search row in one go; they must be exactly
what the general write paths (`sla.timers.on_ticket_event`, `search.reindex_tickets`)
write for the same ticket, on every branch: a service level or none, a service or
none, attachments, an urgent ticket, a paid one, a request, one opened by staff."""

from __future__ import annotations

from typing import Any

import pytest

from billdesk import search
from billdesk.attachments import Upload
from billdesk.sla import policy
from billdesk.sla.timers import on_ticket_event
from billdesk.tables import NEVER, Department, RequestKind, Ticket, TicketEvent, TicketSearch
from billdesk.tickets import open_ticket, opening
from billdesk.tickets.opening import open_ticket_for_customer
from tests.factories import add_member, as_current, make_department, make_service, make_user

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
OFFICE = {
    "timezone": "Europe/Berlin",
    "always": False,
    "week": {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
}
TARGETS = {
    "normal": {"first_response": 60, "next_response": 120, "resolution": 480},
    "urgent": {"first_response": 15, "next_response": 30, "resolution": 120},
}

# The clock's columns as a ticket row starts before its `opened` line moves the clock.
UNSTARTED: dict[str, Any] = {
    "sla_paid": False, "clock_started_at": None, "clock_running_since": None,
    "clock_elapsed_seconds": 0, "first_response_due_at": None, "next_response_due_at": None,
    "resolution_due_at": None, "due_at": NEVER, "due_kind": "", "risk_at": None,
    "risk_told": False, "breach_told": False,
}


async def ticket_row(ticket_id: int) -> dict[str, Any]:
    row = await Ticket.select().where(Ticket.id == ticket_id).first()
    assert row is not None
    return row


async def search_row(ticket_id: int) -> dict[str, Any]:
    row = await TicketSearch.select(
        TicketSearch.customer, TicketSearch.public_text, TicketSearch.internal_text
    ).where(TicketSearch.ticket == ticket_id).first()
    assert row is not None
    return row


async def assert_written_as_the_general_paths_would(ticket_id: int) -> dict[str, Any]:
    """The row and search row as written, against the clock replayed from an unstarted row
    by `on_ticket_event` and the search row read back by `reindex_tickets`."""
    written, indexed = await ticket_row(ticket_id), await search_row(ticket_id)
    await Ticket.update({getattr(Ticket, name): value for name, value in UNSTARTED.items()}).where(
        Ticket.id == ticket_id
    )
    events = await TicketEvent.select(TicketEvent.kind, TicketEvent.old_value, TicketEvent.new_value).where(
        TicketEvent.ticket == ticket_id
    ).order_by(TicketEvent.id)
    for event in events:
        await on_ticket_event(
            ticket_id=ticket_id, kind=event["kind"], old=event["old_value"], new=event["new_value"]
        )
    await search.reindex_tickets([ticket_id])
    assert await ticket_row(ticket_id) == written
    assert await search_row(ticket_id) == indexed
    return written


@pytest.fixture
async def setting():
    with_level = await make_department(free_tickets=None)
    await policy.set_service_level(with_level, {"hours": OFFICE, "targets": TARGETS})
    without_level = await make_department(free_tickets=None)
    customer = await make_user(name="Ada Lovelace", email="ada@example.test")
    other = await make_user()
    return with_level, without_level, customer, other


async def test_an_opening_starts_the_clock_and_indexes_as_the_general_paths_do(clock, setting):
    with_level, without_level, customer, other = setting
    service = await make_service(customer_id=customer.id, name="Web-7")
    for department in (with_level, without_level):
        for service_id, files, urgent in (
            (None, [], False),
            (service, [Upload("screen.png", PNG), Upload("second.png", PNG)], False),
            (None, [], True),
        ):
            opened = await open_ticket(
                customer=as_current(customer), department_id=department, service_id=service_id,
                message="My site is down\n\nsince 10:00", files=files, accept_price=None,
                client_token=None, urgent=urgent,
            )
            row = await assert_written_as_the_general_paths_would(opened.ticket_id)
            assert row["status"] == Ticket.Status.in_progress.value
            assert row["customer"] == customer.id and row["service"] == service_id
            assert row["priority"] == ("urgent" if urgent else "normal")
            assert row["priority_rank"] == (3 if urgent else 1)  # the queue sorts on it
            assert row["subject"] == "My site is down"
            assert row["created_at"] == row["last_message_at"] == clock.now()
            assert row["clock_started_at"] == row["clock_running_since"] == clock.now()
            assert (row["due_at"] < NEVER) == (department == with_level)
            indexed = await search_row(opened.ticket_id)
            assert "ada@example.test" in indexed["public_text"]
            assert ("svc-t" in indexed["public_text"]) == (service_id is not None)
            assert ("screen.png" in indexed["public_text"]) == bool(files)
    # Someone else's service is refused, and nothing is written.
    foreign = await make_service(customer_id=other.id)
    before = await Ticket.count()
    with pytest.raises(Exception, match="services"):
        await open_ticket(
            customer=as_current(customer), department_id=with_level, service_id=foreign,
            message="Hello", files=[], accept_price=None, client_token=None,
        )
    assert await Ticket.count() == before


async def test_paid_requested_and_staff_opened_tickets_keep_their_clock_unstarted(
    clock, setting, monkeypatch
):
    with_level, _, customer, _ = setting

    async def never_called(*_: Any, **__: Any) -> None:
        raise AssertionError("a ticket whose price is not confirmed is not charged")

    class Payments:
        write_first_attempt = charge_opened_ticket = charge_new_ticket = staticmethod(never_called)

    monkeypatch.setattr(opening, "_payments", lambda: Payments)
    await Department.update({Department.free_tickets: 0}).where(Department.id == with_level)
    staff = await make_user(role="staff")
    await add_member(department_id=with_level, user_id=staff.id)
    kind = await RequestKind.insert(
        RequestKind(department=with_level, name="Reverse DNS change", requires_service=False)
    ).returning(RequestKind.id)

    requested = await open_ticket(
        customer=as_current(customer), department_id=with_level, service_id=None,
        message="Please set rDNS", files=[], accept_price=None, client_token=None,
        request_kind_id=kind[0]["id"],
    )
    row = await assert_written_as_the_general_paths_would(requested.ticket_id)
    assert row["type"] == "request" and row["request_state"] == "pending"
    assert row["subject"] == "Reverse DNS change"

    mailed = await open_ticket(
        customer=as_current(customer), department_id=with_level, service_id=None,
        message="Beyond the quota", files=[], accept_price=None, client_token=None,
        confirm_price_later=True,
    )
    row = await assert_written_as_the_general_paths_would(mailed.ticket_id)
    assert row["status"] == Ticket.Status.awaiting_payment.value and row["price_unconfirmed"]
    assert row["clock_started_at"] is None

    by_staff = await open_ticket_for_customer(
        staff=as_current(staff), customer_id=customer.id, department_id=with_level,
        service_id=None, message="We will reboot your server tonight.",
    )
    row = await assert_written_as_the_general_paths_would(by_staff.ticket_id)
    assert row["status"] == Ticket.Status.waiting_for_reply.value
    assert row["opened_by"] == staff.id and row["unread_by_customer"] and not row["unread_by_staff"]
    assert row["clock_started_at"] is None


async def test_a_repeated_client_token_answers_the_first_ticket(setting):
    _, without_level, customer, other = setting
    first = await open_ticket(
        customer=as_current(customer), department_id=without_level, service_id=None,
        message="Hello", files=[], accept_price=None, client_token="form-1",
    )
    again = await open_ticket(
        customer=as_current(customer), department_id=without_level, service_id=None,
        message="Hello", files=[], accept_price=None, client_token="form-1",
    )
    theirs = await open_ticket(
        customer=as_current(other), department_id=without_level, service_id=None,
        message="Hello", files=[], accept_price=None, client_token="form-1",
    )
    assert first.created and not again.created and again.ticket_id == first.ticket_id
    assert theirs.created and theirs.ticket_id != first.ticket_id


@pytest.mark.parametrize(
    ("statement", "table"),
    [
        ("billdesk.tickets.opening:_TICKET", "Ticket"),
        ("billdesk.tickets.lifecycle:_MESSAGE", "Message"),
        ("billdesk.tickets.lifecycle:_EVENT", "TicketEvent"),
        ("billdesk.jobs.store:_ENQUEUE", "Job"),
        ("billdesk.payments.charges:_NEW_CHARGE", "Charge"),
        ("billdesk.payments.charges:_NEW_ATTEMPT", "PaymentAttempt"),
    ],
)
def test_the_written_inserts_name_every_column_but_the_id(statement: str, table: str) -> None:
    """A column added to the table must be added to the insert written for it, with the
    value Piccolo's insert would give it."""
    import importlib
    import re

    from billdesk import tables

    module, name = statement.split(":")
    written = getattr(importlib.import_module(module), name)
    expected = {
        column._meta.db_column_name
        for column in getattr(tables, table)._meta.columns
        if column._meta.db_column_name != "id"
    }
    for text in filter(None, (written.text, written.postgres)):
        named = re.search(r"INSERT INTO \w+ \(([^)]*)\)", text)
        assert named is not None
        columns = {column.strip() for column in named.group(1).split(",")} - {"id"}
        assert columns == expected
