"""The app's PostgreSQL pool starts with one connection, grows to BILLDESK_DB_POOL_SIZE,
and gives connections back without asyncpg's reset round trip."""

from __future__ import annotations

import os

import pytest

from billdesk.app import _close_pool, _open_pool
from billdesk.db import DB
from billdesk.settings import get_settings

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
