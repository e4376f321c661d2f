"""On PostgreSQL with 60,000 tickets, each list's page query is answered from an index:
no sequential scan of tickets or charges and no sort, both with the parameters known
(custom plan) and as a prepared statement reused by the pool (generic plan)."""

from __future__ import annotations

import os
import re
from datetime import datetime

import asyncpg
import pytest
from piccolo.querystring import QueryString

from billdesk import queues
from billdesk.db import DB
from billdesk.payments import finance
from billdesk.tickets.reading import customer_ticket_page
from tests.factories import add_member, as_current, make_department, make_user

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("BILLDESK_TEST_DATABASE_URL"),
        reason="needs PostgreSQL: set BILLDESK_TEST_DATABASE_URL (CI does)",
    ),
]

TICKETS = 60_000

SEED = [
    """INSERT INTO users (email, name, role)
       SELECT 'plan-' || g || '@example.test', 'Customer ' || g, 'customer'
       FROM generate_series(1, 1000) AS g""",
    # One ticket in twenty is open, spread over the five departments and the customers;
    # the first customer (a reseller) has one ticket in ten, the others share the rest.
    """INSERT INTO tickets (customer, department, subject, status, created_at, last_message_at)
       SELECT c.first + CASE WHEN g % 10 = 0 THEN 0 ELSE 1 + g % 999 END, d.ids[1 + g % 5],
              'Problem ' || g,
              CASE g % 20 WHEN 0 THEN 'in_progress' WHEN 1 THEN 'waiting_for_reply'
                   ELSE 'solved' END,
              now() - g * interval '1 minute', now() - g * interval '1 minute'
       FROM generate_series(1, {tickets}) AS g,
            (SELECT min(id) AS first FROM users WHERE email LIKE 'plan-%') AS c,
            (SELECT array_agg(id ORDER BY id) AS ids FROM departments) AS d""",
    """INSERT INTO charges (ticket, customer, department, amount, currency, status,
                            idempotency_key, created_at)
       SELECT id, customer, department, 900, 'usd', 'succeeded', 'plan-' || id, created_at
       FROM tickets WHERE id % 3 = 0""",
    "ANALYZE users",
    "ANALYZE tickets",
    "ANALYZE charges",
]


async def _page_queries(call) -> list[tuple[str, tuple]]:
    """The statements a list runs that read a page (they order and limit), with their
    arguments: built by the ORM or written once (billdesk.sql), all run through `_run`."""
    sent: list[tuple[str, tuple]] = []
    engine_class = type(DB)
    original = engine_class._run

    async def _run(self, sql, args):
        sent.append((sql, tuple(args)))
        return await original(self, sql, args)

    engine_class._run = _run  # type: ignore[method-assign]
    try:
        await call()
    finally:
        engine_class._run = original  # type: ignore[method-assign]
    return [(sql, args) for sql, args in sent if "ORDER BY" in sql and "LIMIT" in sql]


def _literal(value: object) -> str:
    """A query's parameter written as SQL (EXECUTE takes no bound parameters)."""
    if isinstance(value, bool) or value is None:
        return {True: "TRUE", False: "FALSE", None: "NULL"}[value]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    return "'" + str(value).replace("'", "''") + "'"


async def _plans(sql: str, args: tuple) -> dict[str, str]:
    """EXPLAIN of the query, as a custom plan and as a generic plan of a prepared statement."""
    connection = await asyncpg.connect(dsn=os.environ["DATABASE_URL"])
    try:
        await connection.execute(f"PREPARE page AS {sql}")
        values = f"({', '.join(_literal(value) for value in args)})" if args else ""
        plans = {}
        for mode in ("force_custom_plan", "force_generic_plan"):
            await connection.execute(f"SET plan_cache_mode = {mode}")
            rows = await connection.fetch(f"EXPLAIN EXECUTE page{values}")
            plans[mode] = "\n".join(row[0] for row in rows)
        return plans
    finally:
        await connection.close()


# A Limit reading straight from an index of tickets, in its order.
_PAGE_FROM_INDEX = re.compile(r"Limit .*\n\s*->\s+Index (Only )?Scan (Backward )?using \w+ on tickets")


def _refusals(plan: str, *, sort_allowed: bool) -> list[str]:
    return [
        line.strip()
        for line in plan.splitlines()
        if "Seq Scan on tickets" in line
        or "Seq Scan on charges" in line
        or (not sort_allowed and "Sort" in line)
    ]


async def test_every_list_page_reads_an_index_not_the_whole_table():
    departments = [await make_department(name=f"Department {n}") for n in range(5)]
    staff = await make_user(role="staff")
    admin = await make_user(role="admin")
    await add_member(department_id=departments[0], user_id=staff.id)
    for statement in SEED:
        await DB.run_ddl(statement.format(tickets=TICKETS))
    first_customer = (
        await DB.run_querystring(
            QueryString("SELECT min(id) AS id FROM users WHERE email LIKE 'plan-%'")
        )
    )[0]["id"]

    async def desk(user, **filters):
        page = await queues.queue(as_current(user), queues.QueueFilters(**filters))
        assert page.items
        return page

    async def next_desk_page():
        first = await queues.queue(as_current(admin), queues.QueueFilters())
        await queues.queue(as_current(admin), queues.QueueFilters(), cursor=first.next_cursor)

    async def customer_list():
        first = await customer_ticket_page(first_customer, limit=51)
        last = first[49]
        await customer_ticket_page(
            first_customer, after=(last["last_message_at"], last["id"]), limit=51
        )

    async def finance_list():
        first = await finance.charge_page(finance.parse_filters({}), limit=51)
        last = first[49]
        await finance.charge_page(
            finance.parse_filters({}), after=(last["created_at"], last["id"]), limit=51
        )

    cases = {
        "admin's queue": lambda: desk(admin),
        "staff's queue": lambda: desk(staff),
        "queue by creation": lambda: desk(admin, sort="created_at"),
        "queue by due time (the page's default)": lambda: desk(admin, sort="due_at"),
        "staff's queue by due time": lambda: desk(staff, sort="due_at"),
        "queue by priority": lambda: desk(admin, sort="priority"),
        "solved tickets": lambda: desk(admin, statuses=["solved"]),
        "queue, second page": next_desk_page,
        "customer's tickets": customer_list,
        "finance's charges": finance_list,
    }
    wrong = {}
    for name, call in cases.items():
        queries = await _page_queries(call)
        assert queries, name
        for sql, args in queries:
            # A limit sent as a parameter makes PostgreSQL plan a prepared page again on
            # every run (its generic plan looks dearer than one for a known limit).
            assert re.search(r"LIMIT \d+", sql), f"{name}: {sql}"
            for mode, plan in (await _plans(sql, args)).items():
                # The customer's page is cut from the index first (a customer may have
                # thousands of tickets); only its 51 rows are joined and sorted after.
                # A generic plan, which expects the average customer's few tickets, may
                # still sort them.
                sort_allowed = name == "customer's tickets"
                custom = mode == "force_custom_plan"
                if sort_allowed and custom and not _PAGE_FROM_INDEX.search(plan):
                    wrong[f"{name} ({mode}): no page cut from the index"] = plan
                if _refusals(plan, sort_allowed=sort_allowed) or "Index" not in plan:
                    wrong[f"{name} ({mode})"] = plan
    assert not wrong, "\n\n".join(f"{name}:\n{plan}" for name, plan in wrong.items())
