"""The queue costs a fixed number of queries, whatever the number of tickets.

Every query goes through the engine's `run_querystring`; the test wraps it and
counts, for the queue page and for GET /api/v1/desk/tickets, with 10 tickets and
with 60 (a full page of 50 shown), and the counts must be equal.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from billdesk.db import DB
from billdesk.tables import User
from tests.desk_support import bearer, make_desk_ticket
from tests.factories import add_member, login, make_department, make_service, make_user


@contextmanager
def counting_queries():
    counted: list[str] = []
    engine_class = type(DB)
    original = engine_class.run_querystring

    async def run_querystring(self, querystring, *args, **kwargs):
        counted.append(str(querystring))
        return await original(self, querystring, *args, **kwargs)

    # The engine uses slots, so the method is wrapped on its class for the block.
    engine_class.run_querystring = run_querystring  # type: ignore[method-assign]
    try:
        yield counted
    finally:
        engine_class.run_querystring = original  # type: ignore[method-assign]


async def _tickets(count: int, *, department: int, staff_id: int) -> None:
    """Tickets of different customers, services and assignees, so that joins are exercised."""
    for n in range(count):
        # Written straight to the table: a password hash per customer would only add time.
        rows = await User.insert(
            User(email=f"queue-{department}-{staff_id}-{count}-{n}@example.test", name=f"C {n}")
        ).returning(User.id)
        customer_id = rows[0]["id"]
        service = await make_service(customer_id=customer_id)
        await make_desk_ticket(
            customer_id=customer_id, department_id=department, service_id=service,
            subject=f"Problem {n}", assignee_id=staff_id if n % 2 else None, minutes_ago=n,
        )


@pytest.mark.slow
@pytest.mark.parametrize("where", ["page", "api"])
async def test_queue_costs_a_fixed_number_of_queries(client, where):
    department = await make_department(name="Hosting")
    staff = await make_user(role="staff")
    await add_member(department_id=department, user_id=staff.id)
    await login(client, staff.email)
    headers = await bearer(staff)

    async def measure() -> tuple[int, int]:
        with counting_queries() as counted:
            if where == "page":
                answer = await client.get("/desk")
                shown = answer.text.count('name="ids"')
            else:
                answer = await client.get("/api/v1/desk/tickets", headers=headers)
                shown = len(answer.json()["items"])
        assert answer.status_code == 200
        return len(counted), shown

    await _tickets(10, department=department, staff_id=staff.id)
    few, shown_few = await measure()
    await _tickets(50, department=department, staff_id=staff.id)
    many, shown_many = await measure()
    assert (shown_few, shown_many) == (10, 50)
    assert few == many, f"{few} queries for 10 tickets, {many} for 60"
    assert many <= 10
