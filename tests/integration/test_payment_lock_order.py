"""What paid tickets lock on PostgreSQL. Every payment step takes the one lock order:
the ticket, then the charge, then its attempts (`locked_charge` takes the ticket and
the charge with one statement). A paid opening in a department without free tickets
locks no quota counter. The tests hold rows in another transaction and look at what
the step holds, or waits for, meanwhile."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import asyncpg
import pytest

from billdesk.payments.states import locked_charge
from billdesk.quotas import counter_key, period_key
from billdesk.sla.policy import policy_for, policy_from_row, set_service_level
from billdesk.tickets import open_ticket
from tests.factories import as_current, make_department, make_user
from tests.payment_helpers import awaiting_ticket, make_charge, stripe_settings

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get("BILLDESK_TEST_DATABASE_URL"),
        reason="needs PostgreSQL: set BILLDESK_TEST_DATABASE_URL (CI does)",
    ),
]


@pytest.fixture
async def connections() -> AsyncIterator[tuple[asyncpg.Connection, asyncpg.Connection]]:
    holder = await asyncpg.connect(dsn=os.environ["DATABASE_URL"])
    other = await asyncpg.connect(dsn=os.environ["DATABASE_URL"])
    try:
        yield holder, other
    finally:
        await holder.close()
        await other.close()


async def a_charge() -> tuple[int, int]:
    customer = await make_user()
    department = await make_department(free_tickets=0)
    ticket_id = await awaiting_ticket(customer_id=customer.id, department_id=department)
    charge_id = await make_charge(
        ticket_id=ticket_id, customer_id=customer.id, department_id=department
    )
    return ticket_id, charge_id


async def waiting_for_a_lock(other: asyncpg.Connection) -> None:
    """Until a backend of this database waits for a row lock (ten seconds at most)."""
    for _ in range(1000):
        if await other.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("nobody waits for a lock")


async def is_free(other: asyncpg.Connection, table: str, row_id: int) -> bool:
    async with other.transaction():
        try:
            await other.execute(
                f"SELECT 1 FROM {table} WHERE id = $1 FOR NO KEY UPDATE NOWAIT",  # noqa: S608
                row_id,
            )
        except asyncpg.LockNotAvailableError:
            return False
    return True


async def test_a_payment_step_waiting_for_the_charge_already_holds_its_ticket(connections):
    holder, other = connections
    ticket_id, charge_id = await a_charge()
    holding = holder.transaction()
    await holding.start()
    await holder.execute("SELECT 1 FROM charges WHERE id = $1 FOR NO KEY UPDATE", charge_id)

    async def step() -> int:
        async with locked_charge(charge_id) as locked:
            return locked.ticket["id"]

    stepping = asyncio.create_task(step())
    try:
        await waiting_for_a_lock(other)
        assert not await is_free(other, "tickets", ticket_id)
    finally:
        await holding.rollback()
    assert await stepping == ticket_id


async def test_a_payment_step_waiting_for_the_ticket_holds_nothing_of_the_charge(connections):
    holder, other = connections
    ticket_id, charge_id = await a_charge()
    holding = holder.transaction()
    await holding.start()
    await holder.execute("SELECT 1 FROM tickets WHERE id = $1 FOR NO KEY UPDATE", ticket_id)

    async def step() -> int:
        async with locked_charge(charge_id) as locked:
            return locked.charge["id"]

    stepping = asyncio.create_task(step())
    try:
        await waiting_for_a_lock(other)
        assert await is_free(other, "charges", charge_id)
    finally:
        await holding.rollback()
    assert await stepping == charge_id


async def test_the_rows_come_with_the_departments_service_level():
    ticket_id, charge_id = await a_charge()
    async with locked_charge(charge_id) as locked:
        assert locked.service_level_read and locked.service_level is None
        assert locked.ticket["id"] == ticket_id and locked.charge["id"] == charge_id
        assert locked.charge["status"] == "pending" and [a["number"] for a in locked.attempts] == [1]
        assert "customer_language" in locked.ticket and "amount" not in locked.ticket
    department = locked.ticket["department"]
    await set_service_level(department, {"paid_targets": {"normal": {"first_response": 30}}})
    async with locked_charge(charge_id) as locked:
        policy = policy_from_row(locked.service_level)
    assert policy == await policy_for(department)
    assert policy.targets_for("normal", True).first_response == 30


async def test_a_paid_opening_where_no_ticket_is_free_waits_for_no_quota_counter(connections):
    """Another opening of the customer's holds the department's quota counter (its
    transaction is still open): a ticket in a department where every ticket is paid
    opens meanwhile, as it has no free ticket to take."""
    holder, _ = connections
    customer = await make_user()
    department = await make_department(free_tickets=0)
    period = period_key("month")
    holding = holder.transaction()
    await holding.start()
    await holder.execute(
        "INSERT INTO quota_counters (key, customer, department, period, used) "
        "VALUES ($1, $2, $3, $4, 0)",
        counter_key(customer.id, department, period), customer.id, department, period,
    )
    try:
        with stripe_settings("http://127.0.0.1:9"):  # configured; nothing is charged here
            opened = await asyncio.wait_for(
                open_ticket(
                    customer=as_current(customer), department_id=department, service_id=None,
                    message="Every ticket here is paid", files=[], accept_price=None,
                    client_token=None, confirm_price_later=True,
                ),
                timeout=10,
            )
    finally:
        await holding.rollback()
    assert opened.created
