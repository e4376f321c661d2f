"""Seed a PostgreSQL database for the benchmark with SQL (generate_series), not the API.

About 1,000 customers, five departments worked by one staff member, tickets with
two or three messages each (one in twenty open, a tenth charged), and the API
tokens the load uses. The bench's customer has one ticket in a hundred, so its list
is a full page at every size. A database that already holds the asked number of tickets
is reused as it is.

    .venv/bin/python bench/seed.py postgresql://postgres@127.0.0.1:5432/postgres 10000
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
CUSTOMERS = 1000
DEPARTMENTS = ["Hosting", "Domains", "Billing", "VPS", "Email"]
TOKENS = {
    "staff": "bd_bench_staff_token",
    "customer": "bd_bench_customer_token",
    "finance": "bd_bench_finance_token",
}
"""The bench's own API tokens, only ever valid in its own databases."""


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def database_name(size: int) -> str:
    return f"billdesk_bench_{size}"


SEED = [
    "SET session_replication_role = replica",  # no triggers while loading; recounted below
    "TRUNCATE users, departments, tickets, messages, charges, api_tokens, department_members, "
    "department_open_counts, charge_month_totals, quota_counters, payment_attempts, "
    "ticket_events, sessions "
    "RESTART IDENTITY CASCADE",
    """INSERT INTO departments (name, slug, description, public, active, free_tickets,
                                quota_period, ticket_price, currency, created_at)
       SELECT name, lower(name), '', TRUE, TRUE, NULL, 'month', 0, 'usd', now()
       FROM unnest($1::text[]) WITH ORDINALITY AS d(name, n) ORDER BY n""",
    """INSERT INTO departments (name, slug, description, public, active, free_tickets,
                                quota_period, ticket_price, currency, created_at)
       VALUES ('Priority', 'priority', 'Paid support', TRUE, TRUE, 0, 'month', 1500, 'usd', now())""",
    """INSERT INTO users (email, name, role, password_hash, active, created_at)
       SELECT 'customer' || g || '@bench.test', 'Customer ' || g, 'customer', '', TRUE, now()
       FROM generate_series(1, $1::int) AS g""",
    """INSERT INTO users (email, name, role, password_hash, active, created_at) VALUES
       ('staff@bench.test', 'Bench Staff', 'staff', '', TRUE, now()),
       ('finance@bench.test', 'Bench Finance', 'finance', '', TRUE, now())""",
    """INSERT INTO department_members (key, department, "user")
       SELECT d.id || ':' || u.id, d.id, u.id FROM departments d, users u
       WHERE u.email = 'staff@bench.test' AND d.slug <> 'priority'""",
    # Tickets: departments spread evenly, one in twenty open, newest first. The bench's
    # customer (customer 1, whose list the load reads) has every hundredth ticket, so a
    # full page of 50 and more at every size; the others share the rest evenly.
    """INSERT INTO tickets (customer, department, subject, status, priority, archived,
                            created_at, last_message_at, last_author_role, answers,
                            unread_by_customer, unread_by_staff, price_unconfirmed, assignee)
       SELECT CASE WHEN g % 100 = 0 THEN 1 ELSE 2 + g % ($2::int - 1) END, 1 + g % 5, 'Problem number ' || g || ' with my server',
              CASE g % 20 WHEN 0 THEN 'in_progress' WHEN 1 THEN 'waiting_for_reply'
                   ELSE 'solved' END,
              'normal', FALSE,
              now() - (g * interval '37 seconds') - interval '1 hour',
              now() - (g * interval '37 seconds'),
              'customer', 1 + g % 2, FALSE, g % 3 = 0, FALSE,
              CASE WHEN g % 4 = 0 THEN $3::int END
       FROM generate_series($1::int, 1, -1) AS g""",
    """INSERT INTO messages (ticket, author, body, internal, opening, channel, deleted, created_at)
       SELECT t.id, CASE WHEN n = 2 THEN $1::int ELSE t.customer END,
              'Message ' || n || ' of ticket ' || t.id, FALSE, n = 1, 'web', FALSE,
              t.created_at + n * interval '1 minute'
       FROM tickets t, generate_series(1, 3) AS n
       WHERE n < 3 OR t.id % 2 = 0""",
    """INSERT INTO charges (ticket, customer, department, amount, currency, status,
                            refunded_amount, idempotency_key, attempt, failure_reason,
                            created_at, updated_at, paid_at)
       SELECT id, customer, department, 1500, 'usd', 'succeeded', 0, 'bench-' || id, 1, '',
              created_at, created_at, created_at
       FROM tickets WHERE id % 10 = 0""",
    """INSERT INTO api_tokens ("user", name, token_hash, prefix, created_at)
       SELECT id, 'bench', $2, 'bd_bench', now() FROM users WHERE email = $1""",
    "SET session_replication_role = origin",
]


SEARCH_INDEX = """
INSERT INTO ticket_search (ticket, customer, public_text, internal_text, document)
SELECT id, customer, public_text, '',
       setweight(to_tsvector('simple',
                             lower(regexp_replace(public_text, '[^[:alnum:]]+', ' ', 'g'))), 'A')
FROM (
    SELECT t.id, t.customer, concat_ws(E'\\n', m.bodies, t.subject, u.name, u.email) AS public_text
    FROM tickets t
    JOIN users u ON u.id = t.customer
    LEFT JOIN (
        SELECT ticket, string_agg(body, E'\\n' ORDER BY created_at, id) AS bodies
        FROM messages WHERE NOT internal AND NOT deleted GROUP BY ticket
    ) m ON m.ticket = t.id
) AS documents"""
"""The search index as billdesk.search writes it (public messages in order, then the subject,
the customer's name and e-mail; the seed has no notes, services or attachments), set-based."""


SESSIONS = {"staff": "bench-staff-session"}
"""Session cookies for the HTML pages, only ever valid in the bench's own databases."""


async def _sessions(connection: Any) -> None:
    for who, cookie in SESSIONS.items():
        digest = hashlib.sha256(cookie.encode()).hexdigest()
        await connection.execute("DELETE FROM sessions WHERE token_hash = $1", digest)
        await connection.execute(
            """INSERT INTO sessions (token_hash, "user", created_at, expires_at, ip, user_agent)
               SELECT $2, id, now(), now() + interval '10 years', '', ''
               FROM users WHERE email = $1""",
            f"{who}@bench.test",
            digest,
        )


async def _current(url: str, size: int) -> bool:
    """The database holds `size` tickets, the bench customer's share of them and every
    migration of this checkout."""
    migrations = len(list((ROOT / "migrations").glob("billdesk_*.py")))
    connection = await asyncpg.connect(dsn=url)
    try:
        applied = await connection.fetchval("SELECT count(*) FROM migration")
        tickets = await connection.fetchval("SELECT count(*) FROM tickets")
        searchable = await connection.fetchval("SELECT count(*) FROM ticket_search")
        bench_customer = await connection.fetchval(
            "SELECT count(*) FROM tickets WHERE customer = 1"
        )
    except asyncpg.PostgresError:
        return False
    finally:
        await connection.close()
    return applied == migrations and tickets == size == searchable and bench_customer >= size // 100


async def seed(admin_url: str, size: int) -> str:
    """The URL of a database holding `size` bench tickets, seeding it when needed."""
    name = database_name(size)
    url = with_database(admin_url, name)
    admin = await asyncpg.connect(dsn=admin_url)
    try:
        if await admin.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", name
        ) and not await _current(url, size):
            # Migrating a full database (a new index, a data step over every ticket) can
            # take longer than seeding an empty one again.
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    migrating = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "billdesk.cli",
        "migrate",
        env={**os.environ, "DATABASE_URL": url},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    if await migrating.wait() != 0:
        raise RuntimeError(f"billdesk migrate failed on {name}")
    connection = await asyncpg.connect(dsn=url)
    try:
        if await connection.fetchval("SELECT count(*) FROM tickets") == size:
            await _sessions(connection)
            return url
        started = time.monotonic()
        staff_id = CUSTOMERS + 1
        steps = iter(SEED)
        await connection.execute(next(steps))
        await connection.execute(next(steps))
        await connection.execute(next(steps), DEPARTMENTS)
        await connection.execute(next(steps))
        await connection.execute(next(steps), CUSTOMERS)
        await connection.execute(next(steps))
        await connection.execute(next(steps))
        await connection.execute(next(steps), size, CUSTOMERS, staff_id)
        await connection.execute(next(steps), staff_id)
        await connection.execute(next(steps))
        tokens = next(steps)
        for who, secret in TOKENS.items():
            email = "customer1@bench.test" if who == "customer" else f"{who}@bench.test"
            await connection.execute(tokens, email, hashlib.sha256(secret.encode()).hexdigest())
        await connection.execute(next(steps))
        await connection.execute(
            "INSERT INTO department_open_counts (department, slot, open_tickets) "
            "SELECT department, id % 4, COUNT(*) FROM tickets "
            "WHERE status IN ('in_progress', 'waiting_for_reply') AND removed_at IS NULL "
            "GROUP BY department, id % 4"
        )
        await connection.execute(
            "INSERT INTO charge_month_totals "
            "(month, department, currency, status, charged, refunded, charges) "
            "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM'), department, currency, "
            "status, SUM(amount), SUM(refunded_amount), COUNT(*) FROM charges "
            "WHERE status IN ('succeeded', 'partially_refunded', 'refunded') "
            "GROUP BY 1, department, currency, status"
        )
        indexing = time.monotonic()
        await connection.execute(SEARCH_INDEX)
        print(f"search index filled in {time.monotonic() - indexing:.0f} s", file=sys.stderr)
        await _sessions(connection)
        for table in (
            "users",
            "tickets",
            "messages",
            "charges",
            "department_open_counts",
            "ticket_search",
        ):
            await connection.execute(f"VACUUM ANALYZE {table}")
        print(f"seeded {size:,} tickets in {time.monotonic() - started:.0f} s", file=sys.stderr)
    finally:
        await connection.close()
    return url


if __name__ == "__main__":
    print(asyncio.run(seed(sys.argv[1], int(sys.argv[2]))))
