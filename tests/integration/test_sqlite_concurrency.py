"""SQLite under concurrent openings: two server processes and a job worker on one
database file, many clients opening tickets at once. Nothing answers "database is
locked" (no 5xx), and each customer's quota is used exactly up to its size."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from billdesk.db import DB
from billdesk.settings import get_settings
from billdesk.tables import QuotaCounter, Ticket
from tests.factories import make_department, make_token, make_user
from tests.support.live_server import serve

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        get_settings().is_postgres, reason="SQLite's write lock and journal mode; PostgreSQL has row locks"
    ),
]

CUSTOMERS = 4
OPENINGS_EACH = 12
FREE = 5
BILLDESK = str(Path(sys.executable).with_name("billdesk"))


@pytest.fixture
def job_worker() -> Iterator[None]:
    """`billdesk worker` on the same database file, writing its jobs' results meanwhile."""
    process = subprocess.Popen(
        [BILLDESK, "worker"], env={**os.environ, "BILLDESK_JOB_POLL_SECONDS": "0.05"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_concurrent_openings_across_processes_never_fail_and_use_the_quota_exactly(
    job_worker: None,
) -> None:
    customers = [await make_user() for _ in range(CUSTOMERS)]
    tokens = [await make_token(customer) for customer in customers]
    quota = await make_department(free_tickets=FREE)
    always_free = await make_department(free_tickets=None)

    with serve(workers=2) as base_url:
        async def open_all(token: str) -> list[httpx.Response]:
            async with httpx.AsyncClient(
                base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
            ) as http:
                return await asyncio.gather(*(
                    http.post("/api/v1/tickets", json={
                        "department_id": department,
                        "message": f"Opening {n} in {department}: the site is down",
                    })
                    for n in range(OPENINGS_EACH)
                    for department in (quota, always_free)
                ))

        answers = await asyncio.gather(*(open_all(token) for token in tokens))

    for customer, theirs in zip(customers, answers, strict=True):
        codes = Counter(answer.status_code for answer in theirs)
        failures = [answer.text for answer in theirs if answer.status_code >= 500]
        assert not failures, failures[:3]
        # Every opening in the always-free department, and exactly the quota in the other;
        # the rest are asked to confirm the price.
        assert codes == {201: OPENINGS_EACH + FREE, 402: OPENINGS_EACH - FREE}, codes
        refused = {answer.json()["code"] for answer in theirs if answer.status_code == 402}
        assert refused == {"payment_confirmation_required"}
        used = await QuotaCounter.select(QuotaCounter.used).where(
            (QuotaCounter.customer == customer.id) & (QuotaCounter.department == quota)
        ).first()
        assert used["used"] == FREE
        assert await Ticket.count().where(
            (Ticket.customer == customer.id) & (Ticket.department == quota)
        ) == FREE
        assert await Ticket.count().where(
            (Ticket.customer == customer.id) & (Ticket.department == always_free)
        ) == OPENINGS_EACH

    # Readers never wait for the writer: the database file is in WAL mode.
    with sqlite3.connect(DB.path) as database:  # type: ignore[union-attr]
        assert database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
