"""How long a search of the desk and of a customer's list takes, with many tickets stored.

Fills a throw-away database with `--tickets` tickets (1,000 customers, 5 departments,
a search document each, written set-based in SQL), then times one page (50 rows) of:
the default queue without search, a rare word, an IP address, a phrase, a prefix, a
word in a third of all tickets, and a customer's own search. Run it on PostgreSQL:

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/billdesk_bench \\
        .venv/bin/python bench/bench_search.py --tickets 1000000

Without DATABASE_URL it uses a new SQLite file (smaller numbers advised there).
The database named in DATABASE_URL must exist and is emptied first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time

CUSTOMERS = 1000
DEPARTMENTS = 5

POSTGRES_FILL = [
    """INSERT INTO departments (name, slug, description, public, active, quota_period,
           ticket_price, currency, created_at)
       SELECT 'Department ' || d, 'department-' || d, '', true, true, 'month', 0, 'usd', now()
       FROM generate_series(1, {departments}) AS d""",
    """INSERT INTO users (email, name, role, password_hash, active, created_at)
       SELECT 'customer' || c || '@example.test', 'Customer ' || c, 'customer', '', true, now()
       FROM generate_series(1, {customers}) AS c""",
    """INSERT INTO users (email, name, role, password_hash, active, created_at)
       VALUES ('admin@example.test', 'Admin', 'admin', '', true, now())""",
    """INSERT INTO tickets (customer, department, subject, status, priority, archived,
           created_at, last_message_at, last_author_role, answers, unread_by_customer,
           unread_by_staff, price_unconfirmed)
       SELECT 1 + t % {customers}, 1 + t % {departments}, 'Ticket ' || t,
              (ARRAY['in_progress', 'waiting_for_reply', 'solved', 'solved'])[1 + t / 7 % 4],
              'normal', false, now() - t * interval '1 minute', now() - t * interval '1 minute',
              'customer', 1, false, true, false
       FROM generate_series(1, {tickets}) AS t""",
    """INSERT INTO ticket_search (ticket, customer, public_text, internal_text, document)
       SELECT id, customer, body, note,
              setweight(to_tsvector('simple', lower(regexp_replace(body, '[^a-zA-Z0-9]+', ' ', 'g'))), 'A')
              || setweight(to_tsvector('simple', lower(regexp_replace(note, '[^a-zA-Z0-9]+', ' ', 'g'))), 'B')
       FROM (
           SELECT id, customer,
                  'Ticket ' || id || E'\\nMy site w' || (id % 5000) || ' is slow'
                  || CASE WHEN id % 3 = 0 THEN ', the server answers 502' ELSE '' END
                  || E'.\\nIt runs on 10.' || (id % 250) || '.' || (id / 250 % 250) || '.'
                  || (id / 62500 % 250) || ' and logs error code e' || (id % 997) || '.' AS body,
                  CASE WHEN id % 10 = 0 THEN 'note k' || (id % 700) ELSE '' END AS note
           FROM tickets
       ) AS generated""",
    "VACUUM ANALYZE",
]


async def fill(tickets: int) -> None:
    from billdesk import search
    from billdesk.db import DB

    sizes = {"tickets": tickets, "customers": CUSTOMERS, "departments": DEPARTMENTS}
    if search.is_postgres():
        for statement in POSTGRES_FILL:
            started = time.perf_counter()
            await DB.run_ddl(statement.format(**sizes))
            words = statement.split()
            print(f"  {' '.join(words[:3])[:30]:<30} {time.perf_counter() - started:7.1f} s")
        return
    from billdesk.tables import Department, Ticket, User

    await Department.insert(
        *[Department(name=f"Department {d}", slug=f"department-{d}") for d in range(DEPARTMENTS)]
    )
    await User.insert(
        *[User(email=f"customer{c}@example.test", name=f"Customer {c}") for c in range(CUSTOMERS)],
        User(email="admin@example.test", name="Admin", role="admin"),
    )
    for start in range(1, tickets + 1, 1000):
        ids = range(start, min(start + 1000, tickets + 1))
        await Ticket.insert(
            *[
                Ticket(
                    customer=1 + t % CUSTOMERS,
                    department=1 + t % DEPARTMENTS,
                    subject=f"Ticket {t}",
                )
                for t in ids
            ]
        )
        for t in ids:
            body = (
                f"Ticket {t}\nMy site w{t % 5000} is slow"
                + (", the server answers 502" if t % 3 == 0 else "")
                + f".\nIt runs on 10.{t % 250}.{t // 250 % 250}.{t // 62500 % 250}"
                f" and logs error code e{t % 997}."
            )
            await search._write(
                t, 1 + t % CUSTOMERS, body, f"note k{t % 700}" if t % 10 == 0 else ""
            )


async def timed(label: str, call, runs: int) -> None:
    timings = []
    rows = 0
    for _ in range(runs):
        started = time.perf_counter()
        rows = await call()
        timings.append(time.perf_counter() - started)
    timings.sort()
    print(
        f"{label:<38} rows {rows:>3}  median {statistics.median(timings) * 1000:8.1f} ms"
        f"  p95 {timings[int(len(timings) * 0.95) - 1] * 1000:8.1f} ms"
    )


async def main(tickets: int, runs: int, reuse: bool) -> None:
    from billdesk import queues
    from billdesk import tickets as ticket_domain
    from billdesk.auth import CurrentUser
    from billdesk.cli import migrate
    from billdesk.db import DB
    from billdesk.tables import Ticket, User

    await migrate()
    if reuse and await Ticket.count() == tickets:
        print(f"reusing the {tickets:,} tickets already there")
    else:
        if DB.engine_type == "postgres":
            await DB.run_ddl(
                "TRUNCATE users, departments, tickets, ticket_search RESTART IDENTITY CASCADE"
            )
        print(f"filling {tickets:,} tickets")
        await fill(tickets)
    admin_row = await User.select(User.id).where(User.email == "admin@example.test").first()
    admin = CurrentUser(id=admin_row["id"], email="admin@example.test", name="Admin", role="admin")

    def desk(q: str):
        async def call() -> int:
            page = await queues.queue(admin, queues.QueueFilters(q=q), limit=50)
            return len(page.items)

        return call

    def own(q: str):
        async def call() -> int:
            found = await ticket_domain.search_customer_tickets(7, q, limit=50)
            return len(found.rows)

        return call

    print(f"tickets: {tickets:,}, runs each: {runs}, engine: {DB.engine_type}")
    await timed("desk queue, no search", desk(""), runs)
    await timed("desk: rare word (w4242)", desk("w4242"), runs)
    await timed("desk: IP address", desk("10.42.7.0"), runs)
    await timed('desk: phrase "answers 502" e17', desk('"answers 502" e17'), runs)
    await timed("desk: prefix w424*", desk("w424*"), runs)
    await timed("desk: word in a third (server)", desk("server"), runs)
    await timed("desk: note word (k42)", desk("k42"), runs)
    await timed("customer: own search (slow)", own("slow"), runs)
    await timed("customer: own rare word", own("e7"), runs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--reuse", action="store_true", help="Keep the tickets of an earlier run of the same size."
    )
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ:
        folder = tempfile.mkdtemp(prefix="billdesk-bench-")
        os.environ["BILLDESK_DATA_DIR"] = folder
        os.environ["DATABASE_URL"] = f"sqlite:///{folder}/bench.sqlite3"
    asyncio.run(main(args.tickets, args.runs, args.reuse))
