"""The queue page's HTML for a fixed set of tickets, pinned apart from whitespace.

The page is rendered on every desk request and its templates are written for speed:
this test keeps what it shows (rows, badges, times, tags, the filter form with its choices
and refusals, the bulk form, the navigation) from changing while it is made faster. The
expected pages are in tests/fixtures/desk/; ids of users are written as ${name}, the
other ids are fixed by the test. After a deliberate change of the page, write them again
with BILLDESK_WRITE_DESK_PAGES=1 and read the diff.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from string import Template

import pytest

from billdesk.search import reindex_tickets
from billdesk.tables import Department, Notification, Tag, Ticket, TicketTag, User
from tests.factories import add_member, login, make_user

PAGES = Path(__file__).resolve().parent.parent / "fixtures" / "desk"
WRITE = os.environ.get("BILLDESK_WRITE_DESK_PAGES") == "1"
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # the `clock` fixture's


def _normal(html: str) -> str:
    """The page with its whitespace and per-request values (form tokens, the queue's change
    stamp) evened out, one tag a line."""
    html = re.sub(r'(name="_csrf_token" value=")[^"]+"', r'\1TOKEN"', html)
    html = re.sub(r'data-live-version="[^"]*"', 'data-live-version="VERSION"', html)
    html = re.sub(r">\s+<", "><", html)
    html = re.sub(r"\s+", " ", html).strip()
    return html.replace("><", ">\n<") + "\n"


async def _fixed_desk() -> dict[str, int]:
    """Two departments of the staff member (and one not), a colleague, two tags, unread
    notifications, and tickets that show every kind of row."""
    await Department.insert(
        *[
            Department(
                id=id_,
                name=name,
                slug=name.lower(),
                free_tickets=3,
                quota_period="month",
                ticket_price=0,
                currency="usd",
                public=True,
                active=True,
            )
            for id_, name in ((7101, "Hosting"), (7102, "Billing"), (7103, "Domains"))
        ]
    )
    staff = await make_user(role="staff", name="Sam <Staff>", email="sam@desk.test")
    colleague = await make_user(role="staff", name="Olga Other", email="olga@desk.test")
    outsider = await make_user(role="staff", name="Nina Elsewhere", email="nina@desk.test")
    customer = await make_user(role="customer", name="Carla & Co", email="carla@desk.test")
    await User.update({User.time_zone: "Europe/Berlin"}).where(User.id == staff.id)
    for department, user in ((7101, staff), (7102, staff), (7101, colleague), (7103, outsider)):
        await add_member(department_id=department, user_id=user.id)
    await Tag.insert(
        Tag(id=7201, name="VIP", name_key="vip", colour="#be185d"),
        Tag(id=7202, name="Outage", name_key="outage", colour="#b91c1c"),
    )

    def ticket(id_: int, subject: str, minutes_ago: int, **values) -> Ticket:
        when = NOW - timedelta(minutes=minutes_ago)
        return Ticket(
            id=id_,
            customer=customer.id,
            department=values.pop("department", 7101),
            subject=subject,
            created_at=when - timedelta(hours=1),
            last_message_at=when,
            **values,
        )

    await Ticket.insert(
        # Unanswered and unread: shown as new; two tags; overdue.
        ticket(
            7001,
            'Server <b>down</b> & "quoted"',
            30,
            priority="urgent",
            priority_rank=3,
            answers=0,
            due_at=NOW - timedelta(minutes=10),
            due_kind="first_response",
        ),
        # Waiting for the customer, a colleague's, at risk.
        ticket(
            7002,
            "Invoice question",
            90,
            department=7102,
            status="waiting_for_reply",
            unread_by_staff=False,
            answers=1,
            assignee=colleague.id,
            priority="high",
            priority_rank=2,
            due_at=NOW + timedelta(hours=1),
            risk_at=NOW - timedelta(minutes=5),
            due_kind="resolution",
        ),
        # Answered before, a new customer message: in progress with the "new" badge; due later.
        ticket(
            7003,
            "Backups",
            200,
            answers=2,
            assignee=staff.id,
            due_at=NOW + timedelta(days=1),
            risk_at=NOW + timedelta(hours=20),
            due_kind="next_response",
        ),
        # A request waiting for a decision.
        ticket(
            7004,
            "Raise my quota",
            400,
            department=7102,
            type="request",
            request_state="pending",
            priority="low",
            priority_rank=0,
            answers=1,
            unread_by_staff=False,
        ),
        # Not on the default queue: solved, in the trash, another department's.
        ticket(7005, "Solved long ago", 600, status="solved", unread_by_staff=False),
        ticket(7006, "In the trash", 50, removed_at=NOW - timedelta(minutes=1)),
        ticket(7007, "Domain transfer", 20, department=7103),
    )
    await reindex_tickets([7001, 7002, 7003, 7004, 7005, 7006, 7007])
    await TicketTag.insert(
        TicketTag(ticket=7001, tag=7201),
        TicketTag(ticket=7001, tag=7202),
        TicketTag(ticket=7004, tag=7202),
    )
    await Notification.insert(
        *[
            Notification(user=staff.id, kind="reply_received", ticket=7001, text="A reply")
            for _ in range(2)
        ]
    )
    return {"staff": staff.id, "colleague": colleague.id}


SHOWN = {
    "default.html": "/desk",
    "filtered.html": "/desk?department=7101&assignee=me&sort=priority&priority=normal",
    "tagged.html": "/desk?tag=7202&type=request&request_state=pending&sla=",
    "searched.html": "/desk?status=solved&q=long",
    "refused.html": "/desk?status=closed&sort=size&sla=soon",
    "no_customer.html": "/desk?customer=nobody%40nowhere.test&service=12",
}


@pytest.mark.parametrize("name", list(SHOWN))
async def test_the_queue_page_shows_what_it_showed(client, clock, name):
    ids = await _fixed_desk()
    await login(client, "sam@desk.test")
    # The default page first, as a person lands on it: what one page renders must not leak
    # into the next.
    await client.get("/desk")
    answer = await client.get(SHOWN[name])
    assert answer.status_code == (422 if name in ("refused.html", "no_customer.html") else 200), (
        answer.text[:300]
    )
    shown = _normal(answer.text)
    path = PAGES / name
    if WRITE:
        for key, value in sorted(ids.items(), key=lambda item: -len(str(item[1]))):
            shown = shown.replace(f'value="{value}"', f'value="${{{key}}}"')
        path.parent.mkdir(exist_ok=True)
        path.write_text(shown)
        pytest.skip(f"wrote {path}")
    expected = Template(path.read_text()).substitute({key: str(v) for key, v in ids.items()})
    assert shown == expected
