"""The support report on PostgreSQL: each figure family is one query over its window,
read from a covering index and grouped in the database (billdesk.sla.reports holds the
report's shape, the SQLite path and the CSV; docs/sla.md says what this costs)."""

# The SQL below is built from this module's constants and the checked interval only;
# every value is a query parameter.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
from typing import Any

from billdesk.db import DB
from billdesk.sla.reports import PAID, Figures, ReportQuery, interval_backlog
from billdesk.tables import Department, Ticket

# The report's covering indexes (migration 2026-11-27T13:00) lead with the department and
# then the time column, and carry the assignee and the figures: each window below is read
# from its index alone, for any set of departments (an admin passes them all).
TIMES = {
    # family: (time column, business seconds, within target)
    "first_response": ("first_response_at", "first_response_seconds", "first_response_met"),
    "resolution": ("solved_at", "resolution_seconds", "resolution_met"),
}
# The department first: the index yields the rows in department order, so that rollup
# (and the total's) needs no sort of its own.
SETS = "GROUPING SETS ((d), (), (b), (a))"
GROUPED = "GROUPING(b) AS gb, GROUPING(d) AS gd, GROUPING(a) AS ga, b, d, a"
# A year of a large desk is half a million values to sort for the percentiles: in memory,
# not in temporary files. Set for the transaction only (pooled connections keep no session
# settings); JIT would spend longer compiling than these queries run.
TUNING = ("SET LOCAL work_mem = '64MB'", "SET LOCAL jit = off")


def _group_key(row: dict[str, Any]) -> tuple[str, Any]:
    if not row["gb"]:
        return ("interval", row["b"])
    if not row["gd"]:
        return ("department", row["d"])
    if not row["ga"]:
        return ("agent", row["a"])
    return ("total", None)


def _window_sql(moment: str, query: ReportQuery, args: list[Any], *, agent: str) -> str:
    """The window on `moment` over the given departments (and the agent), args appended."""
    sql = f"{moment} >= {{}} AND {moment} < {{}} AND department = ANY({{}})"
    if query.agent is not None:
        args.append(query.agent)
        sql += f" AND {agent} = {{}}"
    return sql


Statement = tuple[str, list[Any]]


async def _lane(statements: list[Statement]) -> list[list[dict[str, Any]]]:
    """Run the statements one after another on one connection, in one read transaction."""
    answers: list[list[dict[str, Any]]] = []
    if DB.current_transaction.get() is not None:  # the caller's: leave its settings alone
        for sql, args in statements:
            answers.append(await Ticket.raw(sql, *args))
        return answers
    async with DB.transaction():
        for tuning in TUNING:
            await DB.run_ddl(tuning)
        for sql, args in statements:
            answers.append(await Ticket.raw(sql, *args))
    return answers


def _times_in_postgres(name: str, query: ReportQuery, departments: list[int]) -> Statement:
    moment, value, met = TIMES[name]
    args: list[Any] = [query.start, query.end, departments]
    where = _window_sql(moment, query, args, agent="assignee")
    return (
        f"""SELECT {GROUPED}, count(*) AS n,
               percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY v) AS pct,
               count(m) AS met_n, count(*) FILTER (WHERE m) AS met_yes
           FROM (SELECT date_trunc('{query.interval}', {moment} AT TIME ZONE 'UTC')::date AS b,
                        department AS d, assignee AS a, coalesce({value}, 0) AS v, {met} AS m
                 FROM tickets WHERE removed_at IS NULL AND {where}) AS window_rows
           GROUP BY {SETS}""",
        args,
    )


def _opened_in_postgres(query: ReportQuery, departments: list[int]) -> Statement:
    args: list[Any] = [query.start, query.end, departments]
    where = _window_sql("clock_started_at", query, args, agent="assignee")
    return (
        f"""SELECT {GROUPED}, count(*) AS n
           FROM (SELECT date_trunc('{query.interval}', clock_started_at AT TIME ZONE 'UTC')::date
                        AS b, department AS d, assignee AS a
                 FROM tickets WHERE removed_at IS NULL AND {where}) AS window_rows
           GROUP BY {SETS}""",
        args,
    )


def _ratings_in_postgres(query: ReportQuery, departments: list[int]) -> Statement:
    args: list[Any] = [query.start, query.end, departments]
    where = _window_sql("created_at", query, args, agent="agent")
    return (
        f"""SELECT {GROUPED}, count(*) AS n, avg(score) AS average
           FROM (SELECT date_trunc('{query.interval}', created_at AT TIME ZONE 'UTC')::date AS b,
                        department AS d, agent AS a, score
                 FROM ticket_ratings WHERE {where}) AS window_rows
           GROUP BY {SETS}""",
        args,
    )


def _open_at_end_in_postgres(query: ReportQuery, departments: list[int]) -> Statement:
    """Tickets open at the end of the window, in total, per department and per agent: those
    not solved yet and those solved since, both started before the end (two index ranges)."""
    args: list[Any] = [query.end, departments]
    agent = ""
    if query.agent is not None:
        args.append(query.agent)
        agent = " AND assignee = {}"
    started = "removed_at IS NULL AND clock_started_at < {} AND department = ANY({})" + agent
    return (
        f"""SELECT GROUPING(d) AS gd, GROUPING(a) AS ga, d, a, count(*) AS n FROM (
               SELECT department AS d, assignee AS a FROM tickets
               WHERE solved_at IS NULL AND {started}
               UNION ALL
               SELECT department, assignee FROM tickets
               WHERE solved_at >= {{}} AND {started}) AS open_rows
           GROUP BY GROUPING SETS ((), (d), (a))""",
        [*args, query.end, *args],
    )


def _paid_in_postgres(query: ReportQuery, departments: list[int]) -> Statement:
    """Paid charges and revenue per currency; each charge's agent is its ticket's assignee,
    looked up by the ticket's key (a hash join would read every ticket)."""
    args: list[Any] = [query.start, query.end, departments]
    agent = "(SELECT assignee FROM tickets WHERE tickets.id = charges.ticket)"
    where = _window_sql("paid_at", query, args, agent=agent)
    statuses = ", ".join(f"'{status}'" for status in PAID)
    return (
        f"""SELECT {GROUPED}, c, count(*) AS n, sum(amount) AS amount
           FROM (SELECT date_trunc('{query.interval}', paid_at AT TIME ZONE 'UTC')::date AS b,
                        department AS d, {agent} AS a, currency AS c,
                        amount - refunded_amount AS amount
                 FROM charges WHERE status IN ({statuses}) AND {where}) AS window_rows
           GROUP BY GROUPING SETS ((c), (b, c), (d, c), (a, c))""",
        args,
    )


async def aggregate_in_postgres(
    groups: dict[tuple[str, Any], Figures], query: ReportQuery, departments: list[int] | None
) -> None:
    """PostgreSQL: each figure family is one query over its window, read from a covering
    index and grouped for the total, the intervals, the departments and the agents at once
    (GROUPING SETS, percentile_cont for medians and 90th percentiles); only the groups come
    back. The families run in two lanes side by side, each on a connection of its own
    (each lane about half the work: the two time families sort, the others count)."""
    if departments is None:
        departments = await Department.select(Department.id).output(as_list=True)
    lanes = [
        [
            _times_in_postgres("resolution", query, departments),
            _opened_in_postgres(query, departments),
            _open_at_end_in_postgres(query, departments),
        ],
        [
            _times_in_postgres("first_response", query, departments),
            _ratings_in_postgres(query, departments),
            _paid_in_postgres(query, departments),
        ],
    ]
    if DB.current_transaction.get() is None:
        answered = await asyncio.gather(*(_lane(lane) for lane in lanes))
    else:  # the caller's one connection: one lane after the other
        answered = [await _lane(lane) for lane in lanes]
    (resolution, opened, open_at_end), (first_response, ratings, paid) = answered
    for row in opened:
        groups[_group_key(row)].opened = row["n"]
    for name, rows in (("first_response", first_response), ("resolution", resolution)):
        for row in rows:
            figures = groups[_group_key(row)]
            median, p90 = row["pct"] or (None, None)  # no rows: the total's empty group
            figures.computed[name] = {
                "n": row["n"],
                "median": None if median is None else float(median),
                "p90": None if p90 is None else float(p90),
                "met_n": row["met_n"],
                "met_yes": row["met_yes"],
            }
            if name == "resolution":
                figures.solved = row["n"]
    for row in ratings:
        groups[_group_key(row)].computed["satisfaction"] = {
            "n": row["n"],
            "median": None if row["average"] is None else float(row["average"]),
        }
    for row in paid:
        figures = groups[_group_key(row)]
        figures.paid += row["n"]
        figures.revenue[row["c"]] += row["amount"]
    ends = [row for row in open_at_end if not row["gd"] or not row["ga"]]
    for row in ends:
        key = ("department", row["d"]) if not row["gd"] else ("agent", row["a"])
        groups[key].backlog = row["n"]
    total = next((row["n"] for row in open_at_end if row["gd"] and row["ga"]), 0)
    groups[("total", None)].backlog = total
    interval_backlog(groups, query, total)
