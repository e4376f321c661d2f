"""The app's PostgreSQL pool starts with one connection, grows to BILLDESK_DB_POOL_SIZE,
gives connections back without asyncpg's reset round trip, and a request uses one
connection for all its queries and transactions."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable

import pytest
from litestar.testing import AsyncTestClient

from billdesk.app import _close_pool, _open_pool, create_app
from billdesk.db import DB
from billdesk.settings import get_settings
from tests.factories import add_member, make_department, make_ticket, make_token, make_user

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get("BILLDESK_TEST_DATABASE_URL"),
        reason="needs PostgreSQL: set BILLDESK_TEST_DATABASE_URL (CI does)",
    ),
]


async def test_the_pool_starts_small_and_gives_connections_back_without_a_reset():
    await _open_pool()
    try:
        pool = DB.pool  # type: ignore[union-attr]
        assert pool.get_size() == 1  # not ten connections per worker at start
        assert pool.get_max_size() == get_settings().db_pool_size
        async with pool.acquire() as connection:
            backend = await connection.fetchval("SELECT pg_backend_pid()")
            # Session state that asyncpg's reset (RESET ALL, UNLISTEN *, …) would clear.
            await connection.execute("SET application_name = 'billdesk-no-reset'")
        async with pool.acquire() as connection:
            assert await connection.fetchval("SELECT pg_backend_pid()") == backend
            assert await connection.fetchval("SHOW application_name") == "billdesk-no-reset"
            await connection.execute("RESET application_name")
    finally:
        await _close_pool()


@pytest.fixture
async def counted_pool(monkeypatch) -> AsyncIterator[Callable[[], int]]:
    """The app served with its pool, and how many connections it has taken from the pool."""
    from asyncpg.pool import Pool

    taken = 0
    original = Pool.acquire

    def acquire(self, *args, **kwargs):
        nonlocal taken
        taken += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Pool, "acquire", acquire)

    def count() -> int:
        nonlocal taken
        seen, taken = taken, 0
        return seen

    yield count


async def test_a_request_takes_one_connection_for_all_its_queries(counted_pool):
    customer = await make_user()
    staff = await make_user(role="staff")
    department = await make_department(free_tickets=5)
    await add_member(department_id=department, user_id=staff.id)
    customer_token, staff_token = await make_token(customer), await make_token(staff)
    for n in range(3):
        await make_ticket(customer, department, f"Ticket {n}: the mail server is down")

    async with AsyncTestClient(
        app=create_app(pooled=True, worker=False), base_url="http://127.0.0.1"
    ) as client:
        counted_pool()
        opened = await client.post(
            "/api/v1/tickets",
            json={"department_id": department, "message": "The VPS does not boot"},
            headers={"Authorization": f"Bearer {customer_token}"},
        )
        assert opened.status_code == 201, opened.text
        # Reading the token, the quota, the write transaction and the answer: one connection.
        assert counted_pool() == 1

        queue = await client.get(
            "/api/v1/desk/tickets", headers={"Authorization": f"Bearer {staff_token}"}
        )
        assert queue.status_code == 200 and len(queue.json()["items"]) == 4
        assert counted_pool() == 1

        refused = await client.post(
            "/api/v1/tickets",
            json={"department_id": department, "message": "  "},
            headers={"Authorization": f"Bearer {customer_token}"},
        )
        assert refused.status_code == 422
        assert counted_pool() <= 1

        # The connection went back to the pool with each answer: none is held between requests.
        pool = DB.pool  # type: ignore[union-attr]
        assert pool.get_size() - pool.get_idle_size() == 0

    assert DB.pool is None  # closed with the app
