"""Every list costs a fixed number of queries, whatever the number of rows.

Every query goes through the engine's `run_querystring`; the test wraps it and
counts, for each list page and its API twin (the desk queue, the customer's
tickets, finance's charges), with 10 rows and with 200 (a full page shown),
and the counts must be equal.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billdesk.db import DB
from billdesk.tables import Charge, Message, Tag, Ticket, TicketTag
from tests.desk_support import bearer
from tests.factories import add_member, login, make_department, make_service, make_user


@dataclass
class SentQuery:
    """A statement as the engine sent it: its SQL in the engine's placeholders, its arguments."""

    sql: str
    args: tuple[Any, ...]

    def compile_string(self, engine_type: str = "") -> tuple[str, list[Any]]:
        return self.sql, list(self.args)

    def __str__(self) -> str:
        return self.sql


@contextmanager
def counting_queries():
    """Every statement sent to the database in the block: Piccolo's queries and
    billdesk.sql's statements all go through the engine's `_run`."""
    counted: list[SentQuery] = []
    engine_class = type(DB)
    original = engine_class._run

    async def _run(self, sql, args, *more, **kwargs):
        counted.append(SentQuery(sql, tuple(args or ())))
        return await original(self, sql, args, *more, **kwargs)

    # The engine uses slots, so the method is wrapped on its class for the block.
    engine_class._run = _run  # type: ignore[method-assign]
    try:
        yield counted
    finally:
        engine_class._run = original  # type: ignore[method-assign]


async def _add_tickets(start: int, stop: int, *, customer_id: int, department: int, staff_id: int):
    """Tickets with their opening message, half assigned, each with a service, a charge and
    one or two tags, written in bulk: the joins of every list are exercised."""
    now = datetime.now(UTC)
    services = [await make_service(customer_id=customer_id) for _ in range(3)]
    made = await Ticket.insert(
        *[
            Ticket(
                customer=customer_id,
                department=department,
                subject=f"Problem {n}",
                service=services[n % 3],
                assignee=staff_id if n % 2 else None,
                created_at=now - timedelta(minutes=n),
                last_message_at=now - timedelta(minutes=n),
            )
            for n in range(start, stop)
        ]
    ).returning(Ticket.id)
    ids = [row["id"] for row in made]
    await Message.insert(
        *[
            Message(ticket=ticket_id, author=customer_id, body="Help", opening=True)
            for ticket_id in ids
        ]
    )
    tag_ids = await Tag.select(Tag.id).output(as_list=True)
    await TicketTag.insert(
        *[
            TicketTag(ticket=ticket_id, tag=tag_id)
            for ticket_id in ids
            for tag_id in tag_ids[: 1 + ticket_id % 2]
        ]
    )
    await Charge.insert(
        *[
            Charge(
                ticket=ticket_id,
                customer=customer_id,
                department=department,
                amount=900,
                currency="usd",
                status="succeeded",
                idempotency_key=f"list-{ticket_id}",
            )
            for ticket_id in ids
        ]
    )


LISTS = {
    # name: (who, path, how to count the rows shown)
    "desk page": ("staff", "/desk", lambda answer: answer.text.count('name="ids"')),
    "desk api": ("staff", "/api/v1/desk/tickets", lambda answer: len(answer.json()["items"])),
    "customer page": ("customer", "/tickets", lambda answer: answer.text.count('class="row-link"')),
    "customer api": ("customer", "/api/v1/tickets", lambda answer: len(answer.json()["items"])),
    "finance page": (
        "finance",
        "/finance",
        lambda answer: answer.text.count('<a href="/finance/charges/'),
    ),
    "finance api": (
        "finance",
        "/api/v1/finance/charges",
        lambda answer: len(answer.json()["items"]),
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(LISTS))
async def test_each_list_costs_a_fixed_number_of_queries(app_client_factory, name):
    who, path, shown_in = LISTS[name]
    department = await make_department(name="Hosting")
    people = {role: await make_user(role=role) for role in ("staff", "customer", "finance")}
    await add_member(department_id=department, user_id=people["staff"].id)
    await Tag.insert(
        Tag(name="VIP", name_key="vip", colour="#be185d"),
        Tag(name="Outage", name_key="outage", colour="#b91c1c"),
    )
    user = people[who]
    headers = await bearer(user) if "/api/" in path else {}

    async with app_client_factory() as client:
        if not headers:
            await login(client, user.email)

        async def measure() -> tuple[int, int]:
            with counting_queries() as counted:
                answer = await client.get(path, headers=headers)
            assert answer.status_code == 200, answer.text[:500]
            return len(counted), shown_in(answer)

        seed = {
            "customer_id": people["customer"].id,
            "department": department,
            "staff_id": people["staff"].id,
        }
        await _add_tickets(0, 10, **seed)
        await client.get(path, headers=headers)  # once-per-login work (a token's last use)
        few, shown_few = await measure()
        await _add_tickets(10, 200, **seed)
        many, shown_many = await measure()
    full_page = 25 if name == "customer page" else 50
    assert (shown_few, shown_many) == (10, full_page)
    assert few == many, f"{few} queries for 10 rows, {many} for 200"
    assert many <= BUDGETS[name], f"{many} queries, {BUDGETS[name]} expected"


BUDGETS = {
    # session, the user's departments with their open counts (the filter, the total and
    # the navigation's badges), live version, the page, its tickets' tags, colleagues,
    # the tag list, notifications.
    "desk page": 8,
    # token, the user's departments with their open counts, the page, its tickets' tags:
    # the bare reference app's four (bench/reference_app.py), the tags instead of the counts.
    "desk api": 4,
    "customer page": 8,
    "customer api": 3,
    "finance page": 6,
    "finance api": 3,
}
