"""The queue's page is SQL written once (billdesk.queues, billdesk.sql); it must answer
exactly what the Piccolo select it replaced answered: the same rows, in the same order,
with the same fields and types, the same cursors and totals, for every filter and sort,
for a member of one department and for an admin.

The reference below is that select as it was: `_queue_where`, paged by `keyset_page`,
counted by `count_up_to` or the open counters.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import pytest

from billdesk import open_counts, queues, tags
from billdesk.db import count_up_to
from billdesk.errors import ValidationFailed
from billdesk.tables import RequestKind, Ticket, TicketTag
from billdesk.web.api.desk import ticket_summary
from billdesk.web.paging import keyset_page
from tests.factories import add_member, as_current, make_department, make_service, make_user


async def _reference_page(
    user: Any, filters: queues.QueueFilters, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None, int, bool]:
    filters.check()
    departments = await queues.member_department_ids(user)
    where = queues._queue_where(user, departments, filters)
    rows, next_cursor = await keyset_page(
        Ticket.select(*queues.QUEUE_COLUMNS).where(where),
        sort=queues.sort_column(filters), id_column=Ticket.id, limit=limit, cursor=cursor,
        descending=queues.sort_descending(filters),
    )
    await tags.attach_tags(rows)
    if queues._is_default_queue(filters):
        wanted = departments
        if filters.department is not None:
            visible = departments is None or filters.department in departments
            wanted = [filters.department] if visible else []
        total, capped = sum((await open_counts.open_by_department(wanted)).values()), False
    else:
        total, capped = await count_up_to(Ticket.select(Ticket.id).where(where), queues.TOTAL_CAP)
    return rows, next_cursor, total, capped


def _typed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with each value's type, so 1 and True, or a time and its text, differ."""
    return [{key: (type(value).__name__, value) for key, value in row.items()} for row in rows]


async def _queue_of_every_kind(clock) -> dict[str, Any]:
    """Tickets that take every branch: other departments, the trash, awaiting payment,
    solved, no assignee or service, requests decided and pending, tags, deadlines passed,
    near and none, and two tickets with the same last activity."""
    ours, theirs = await make_department(name="Hosting"), await make_department(name="Billing")
    staff, other_staff = await make_user(role="staff"), await make_user(role="staff")
    admin = await make_user(role="admin")
    customers = [await make_user(), await make_user()]
    await add_member(department_id=ours, user_id=staff.id)
    await add_member(department_id=ours, user_id=other_staff.id)
    service = await make_service(customer_id=customers[0].id)
    kind = (
        await RequestKind.insert(RequestKind(department=ours, name="Open port 25"))
        .returning(RequestKind.id)
    )[0]["id"]
    now = clock.now()
    same_moment = now - timedelta(minutes=30)
    made = []
    for n in range(14):
        status = ["in_progress", "waiting_for_reply", "solved", "awaiting_payment"][n % 4]
        priority = ["low", "normal", "high", "urgent"][n % 3 + (n % 2)]
        row: dict[str, Any] = {
            "customer": customers[n % 2].id,
            "department": theirs if n % 5 == 4 else ours,
            "service": service if n % 3 == 0 else None,
            "subject": f"Ticket {n}",
            "status": status,
            "priority": priority,
            "priority_rank": queues.PRIORITY_RANKS[priority],
            "assignee": [None, staff.id, other_staff.id][n % 3],
            "archived": n == 2,
            "created_at": now - timedelta(hours=n),
            "last_message_at": same_moment if n in (5, 6) else now - timedelta(minutes=7 * n),
            "unread_by_staff": n % 2 == 0,
            "answers": n % 3,
        }
        if n == 9:
            row["removed_at"] = now
        if n % 4 == 1:  # due: passed, near (at risk) or later
            row["due_at"] = now + timedelta(minutes=[-20, 10, 120][n % 3])
            row["risk_at"] = now + timedelta(minutes=[-40, -5, 90][n % 3])
            row["first_response_due_at"] = row["due_at"]
            row["due_kind"] = "first_response"
        if n in (3, 7, 10):
            row.update(type="request", request_kind=kind, request_state="pending")
        if n == 7:
            row.update(
                request_state="approved", decided_by=staff.id, decided_at=now,
                request_reason="Fine",
            )
        made.append(Ticket(**row))
    ids = [row["id"] for row in await Ticket.insert(*made).returning(Ticket.id)]
    await open_counts.recount()
    vip = await tags.create_tag(name="VIP", colour="#be185d")
    outage = await tags.create_tag(name="Outage", colour="#b91c1c")
    await TicketTag.insert(
        *[TicketTag(ticket=ids[n], tag=vip["id"]) for n in (0, 1, 5, 9)],
        *[TicketTag(ticket=ids[n], tag=outage["id"]) for n in (1, 6)],
    )
    return {
        "ours": ours, "theirs": theirs, "staff": staff, "admin": admin, "customers": customers,
        "service": service, "ids": ids, "vip": vip["id"],
    }


@pytest.mark.slow
async def test_the_queue_answers_as_the_piccolo_select_did(clock):
    made = await _queue_of_every_kind(clock)
    filter_sets: list[dict[str, Any]] = [
        {},
        {"statuses": ["solved"]},
        {"statuses": ["in_progress", "solved"]},
        {"statuses": list(queues.QUEUE_STATUSES)},
        {"department": made["ours"]},
        {"department": made["theirs"]},
        {"customer": made["customers"][0].id},
        {"service": made["service"]},
        {"assignee": "me"},
        {"assignee": "none"},
        {"assignee": str(made["staff"].id)},
        {"priorities": ["high", "urgent"]},
        {"sla": "breached"},
        {"sla": "at_risk"},
        {"type": "request"},
        {"type": "request", "request_state": "pending", "statuses": list(queues.QUEUE_STATUSES)},
        {"tag": made["vip"]},
        {"id": made["ids"][1]},
        {"department": made["ours"], "assignee": "none", "priorities": ["low", "normal"]},
    ]
    compared = 0
    for who in ("staff", "admin"):
        user = as_current(made[who])
        for chosen in filter_sets:
            for sort in queues.SORTS:
                cursor: str | None = None
                expected_cursor: str | None = None
                while True:
                    filters = queues.QueueFilters(**chosen, sort=sort)
                    found = await queues.queue(user, filters, limit=3, cursor=cursor)
                    rows, expected_cursor, total, capped = await _reference_page(
                        user, queues.QueueFilters(**chosen, sort=sort), limit=3, cursor=cursor
                    )
                    where = f"{who}, {chosen}, sort={sort}, after {cursor}"
                    assert _typed(found.items) == _typed(rows), where
                    assert msgspec.json.encode([ticket_summary(r) for r in found.items]) == (
                        msgspec.json.encode([ticket_summary(r) for r in rows])
                    ), where
                    assert (found.next_cursor, found.total, found.total_capped) == (
                        expected_cursor, total, capped
                    ), where
                    compared += len(rows)
                    if found.next_cursor is None:
                        break
                    cursor = found.next_cursor
    assert compared > 300  # the cases above do show rows


async def test_a_cursor_of_another_sort_is_refused_as_before(clock):
    made = await _queue_of_every_kind(clock)
    user = as_current(made["admin"])
    by_priority = await queues.queue(user, queues.QueueFilters(sort="priority"), limit=2)
    by_time = await queues.queue(user, queues.QueueFilters(), limit=2)
    for sort, cursor in (("last_message_at", by_priority.next_cursor), ("priority", by_time.next_cursor)):
        with pytest.raises(ValidationFailed) as refused:
            await queues.queue(user, queues.QueueFilters(sort=sort), limit=2, cursor=cursor)
        with pytest.raises(ValidationFailed) as before:
            await _reference_page(user, queues.QueueFilters(sort=sort), limit=2, cursor=cursor)
        assert list(refused.value.errors) == ["cursor"]
        assert str(refused.value.errors["cursor"]) == str(before.value.errors["cursor"])
