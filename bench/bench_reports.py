"""How long the support report takes with many tickets stored.

Fills a throw-away database with `--tickets` tickets spread evenly over two years
(5 departments, 20 agents; most answered and solved, with business times spread over
many values, ratings on a tenth and charges on a twentieth), written set-based in SQL,
then times the report (`billdesk.sla.reports.support_report`, what the API and the page
call, on a connection pool as the app runs it) for an admin over windows of 30, 90 and
366 days, and for one department and one agent over 30 days. On PostgreSQL:

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/billdesk_bench \\
        .venv/bin/python bench/bench_reports.py --tickets 1000000

The database named in DATABASE_URL must exist. A database already filled with the same
number of tickets by this version of the fill is reused as it is (filling a million takes
a minute or two); otherwise it is emptied and filled. The load average is printed with
the figures: the development machine is shared. The fill is PostgreSQL's SQL
(generate_series); SQLite is billdesk's small-provider default and is not what this
measures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from datetime import date, timedelta
from pathlib import Path

DEPARTMENTS = 5
AGENTS = 20
SPAN_DAYS = 730
VERSION = "bench-2"
"""In every ticket's subject: a stored fill of another version is filled again."""
END = date(2026, 11, 1)

FILL = [
    """INSERT INTO departments (name, slug, description, public, active, quota_period,
           ticket_price, currency, created_at, free_tickets)
       SELECT 'Department ' || d, 'department-' || d, '', true, true, 'month', 1500, 'usd',
              CURRENT_TIMESTAMP, NULL
       FROM generate_series(1, {departments}) AS d""",
    """INSERT INTO users (email, name, role, password_hash, active, created_at)
       SELECT 'agent' || a || '@example.test', 'Agent ' || a,
              CASE WHEN a = 1 THEN 'admin' ELSE 'staff' END, '', true, CURRENT_TIMESTAMP
       FROM generate_series(1, {agents}) AS a""",
    """INSERT INTO tickets (customer, department, assignee, subject, status, priority, archived,
           created_at, last_message_at, last_author_role, answers, unread_by_customer,
           unread_by_staff, price_unconfirmed, clock_started_at, first_response_at,
           first_response_seconds, first_response_met, solved_at, resolution_seconds,
           resolution_met)
       SELECT 1 + t % {agents}, 1 + t % {departments}, 1 + t % {agents}, '{version} ' || t,
              CASE WHEN t % 50 = 0 THEN 'in_progress' ELSE 'solved' END, 'normal', false,
              started, started, 'customer', 1, false, false, false, started,
              started + answer * interval '1 second', answer, answer <= 3600,
              CASE WHEN t % 50 = 0 THEN NULL ELSE started + solve * interval '1 second' END,
              CASE WHEN t % 50 = 0 THEN NULL ELSE solve END,
              CASE WHEN t % 50 = 0 THEN NULL ELSE solve <= 28800 END
       FROM (SELECT t, timestamptz '{end}' - ({span} * 86400.0 * t / {tickets}) * interval '1 second'
                 AS started,
                 -- business seconds spread over many values, as real ones are (the
                 -- percentiles must sort them, not count a few repeated values)
                 30 + (t::bigint * 7919) % 18000 AS answer,
                 30 + (t::bigint * 7919) % 18000 + (t::bigint * 104729) % 172800 AS solve
             FROM generate_series(1, {tickets}) AS t) AS spread""",
    """INSERT INTO ticket_ratings (ticket, department, agent, score, comment, created_at, updated_at)
       SELECT id, department, assignee, 1 + id % 5, '', solved_at, solved_at
       FROM tickets WHERE id % 10 = 0 AND solved_at IS NOT NULL""",
    """INSERT INTO charges (ticket, customer, department, amount, currency, status,
           refunded_amount, idempotency_key, attempt, failure_reason, created_at, updated_at,
           paid_at, surplus_payments)
       SELECT id, customer, department, 1500, 'usd', 'succeeded', 0, 'bench-' || id, 1, '',
              created_at, created_at, created_at, 0
       FROM tickets WHERE id % 20 = 0""",
    "VACUUM ANALYZE tickets",
    "VACUUM ANALYZE ticket_ratings",
    "VACUUM ANALYZE charges",
]


async def fill(tickets: int) -> None:
    from billdesk.db import DB

    sizes = {
        "tickets": tickets,
        "departments": DEPARTMENTS,
        "agents": AGENTS,
        "span": SPAN_DAYS,
        "end": END.isoformat(),
        "version": VERSION,
    }
    for statement in FILL:
        started = time.perf_counter()
        await DB.run_ddl(statement.format(**sizes))
        print(
            f"  {' '.join(statement.split()[:3])[:30]:<30} {time.perf_counter() - started:7.1f} s"
        )


async def database_cpu() -> float | None:
    """CPU seconds the database's server processes for this database have used so far, read
    from /proc (None when the server is not on this machine). On a loaded machine the wall
    time mostly measures waiting for a core; the CPU time is what the report costs."""
    from billdesk.db import DB

    rows = await DB.run_ddl(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND backend_type = 'client backend'"
    )
    return _processes_cpu([row["pid"] for row in rows])


def _processes_cpu(pids: list[int]) -> float | None:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


async def timed(label: str, call, runs: int) -> None:
    timings, database, here = [], [], []
    for _ in range(runs):
        cpu_before, process_before = await database_cpu(), time.process_time()
        started = time.perf_counter()
        opened = await call()
        timings.append(time.perf_counter() - started)
        here.append(time.process_time() - process_before)
        cpu_after = await database_cpu()
        if cpu_before is not None and cpu_after is not None:
            database.append(cpu_after - cpu_before)
    timings.sort()
    cpu = (
        f"  CPU: database {statistics.median(database) * 1000:7.0f} ms"
        f", Python {statistics.median(here) * 1000:5.0f} ms"
        if database
        else ""
    )
    print(
        f"{label:<38} opened {opened:>8,}  median {statistics.median(timings) * 1000:7.1f} ms"
        f"  max {timings[-1] * 1000:7.1f} ms{cpu}"
    )


async def main(tickets: int, runs: int) -> None:
    from billdesk.auth import CurrentUser
    from billdesk.cli import migrate
    from billdesk.db import DB
    from billdesk.sla import reports

    await migrate()
    stored = (
        await DB.run_ddl(
            "SELECT count(*) AS n, min(subject) LIKE '" + VERSION + " %' AS same FROM tickets"  # noqa: S608
        )
    )[0]
    if stored["n"] != tickets or not stored["same"]:
        await DB.run_ddl("TRUNCATE users, departments, tickets RESTART IDENTITY CASCADE")
        print(f"filling {tickets:,} tickets over {SPAN_DAYS} days")
        started = time.perf_counter()
        await fill(tickets)
        print(f"filled in {time.perf_counter() - started:.0f} s")
    else:
        print(f"reusing the {tickets:,} tickets stored")
    admin = CurrentUser(id=1, email="agent1@example.test", name="Agent 1", role="admin")

    def report(
        days: int, department: int | None = None, interval: str = "day", agent: int | None = None
    ):
        async def call() -> int:
            query = reports.ReportQuery(
                END - timedelta(days=days), END - timedelta(days=1), interval, department, agent
            )
            return (await reports.support_report(admin, query))["totals"]["opened"]

        return call

    # As the app runs it: a pool, so the report's queries run side by side.
    await DB.start_connection_pool(min_size=6, max_size=10)
    print(f"tickets: {tickets:,}, runs each: {runs}, engine: {DB.engine_type}")
    print("load average at the start: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    await timed("30 days, all departments, per day", report(30), runs)
    await timed("30 days, one department, per day", report(30, 1), runs)
    await timed("30 days, one agent, per day", report(30, None, "day", 2), runs)
    await timed("90 days, all departments, per week", report(90, None, "week"), runs)
    await timed("366 days, all departments, per month", report(366, None, "month"), runs)
    await timed("366 days, all departments, per day", report(366, None, "day"), runs)
    print("load average at the end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    await DB.close_connection_pool()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database made for the benchmark.")
    asyncio.run(main(args.tickets, args.runs))
