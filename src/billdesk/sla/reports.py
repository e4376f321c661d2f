"""Support reports: tickets opened and solved, backlog, first-response and resolution
times (median and 90th percentile, in business time), share within target, satisfaction,
paid tickets and revenue, in total, per interval, per department and per agent.

Every figure comes from columns the service-level clock fills as tickets move
(`clock_started_at`, `first_response_at`/`_seconds`/`_met`, `solved_at`/
`resolution_seconds`/`_met`), from ratings and from paid charges, each read over the
asked window from a covering index led by the department and the time column: a
report's cost grows with the tickets in its window (at most 366 days), plus, for the
backlog, the tickets open now and those solved since the window ended; never with the
whole table.

"Opened" counts tickets that reached support in the window (opening, or payment for a
paid ticket); "backlog" is what was open at the end of the window (or interval). Agents
are tickets' assignees; percentiles interpolate linearly between ranks (as PostgreSQL's
`percentile_cont`).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from piccolo.query.functions.aggregate import Count

from billdesk import tags
from billdesk.auth import CurrentUser
from billdesk.db import DB
from billdesk.errors import NotFound, ValidationFailed
from billdesk.i18n import tr
from billdesk.tables import Charge, Department, DepartmentMember, Ticket, TicketRating, User

INTERVALS = ("day", "week", "month")
MAX_DAYS = 366
PAID = (
    Charge.Status.succeeded.value,
    Charge.Status.partially_refunded.value,
    Charge.Status.refunded.value,
)


@dataclass(frozen=True)
class ReportQuery:
    date_from: date
    date_to: date  # inclusive
    interval: str = "day"
    department: int | None = None
    agent: int | None = None

    @property
    def start(self) -> datetime:
        return datetime.combine(self.date_from, datetime.min.time(), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.date_to + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def _parse_date(field: str, value: str | None, default: date) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValidationFailed.field(field, tr("%(field)s must be a date like 2026-11-01.", field=field)) from exc


def parse_query(
    *,
    date_from: str | None,
    date_to: str | None,
    interval: str | None,
    department: int | None,
    agent: int | None,
    today: date,
) -> ReportQuery:
    """The report asked for, checked; bad values name their field. Default: the last 30 days."""
    end = _parse_date("to", date_to, today)
    start = _parse_date("from", date_from, end - timedelta(days=29))
    if start > end:
        raise ValidationFailed.field("from", tr("from must not be after to."))
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationFailed.field("to", tr("A report covers at most %(num)s days.", num=MAX_DAYS))
    interval = interval or "day"
    if interval not in INTERVALS:
        raise ValidationFailed.field("interval", tr("The interval is day, week or month."))
    return ReportQuery(start, end, interval, department, agent)


def bucket(moment: datetime | date, interval: str) -> date:
    """The first day of the interval a moment falls in (UTC; weeks start on Monday)."""
    day = moment.astimezone(UTC).date() if isinstance(moment, datetime) else moment
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def buckets(query: ReportQuery) -> list[date]:
    result: list[date] = []
    day = query.date_from
    while day <= query.date_to:
        first = bucket(day, query.interval)
        if not result or result[-1] != first:
            result.append(first)
        day += timedelta(days=1)
    return result


def percentile(values: list[float], share: float) -> float | None:
    """Linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


# ------------------------------------------------------------------ gathering


class Figures:
    """The raw facts of one group (the whole report, an interval, a department, an agent)."""

    def __init__(self) -> None:
        self.opened = 0
        self.solved = 0
        self.backlog = 0
        self.first_response: list[float] = []
        self.first_response_met: list[bool] = []
        self.resolution: list[float] = []
        self.resolution_met: list[bool] = []
        self.scores: list[int] = []
        self.paid = 0
        self.revenue: dict[str, int] = defaultdict(int)
        # Figures the database computed (PostgreSQL), instead of the lists above.
        self.computed: dict[str, dict[str, Any]] = {}

    def summary(self) -> dict[str, Any]:
        def times(values: list[float], met: list[bool], name: str) -> dict[str, Any]:
            if name in self.computed:
                done = self.computed[name]
                count, median, p90 = done["n"], done["median"], done["p90"]
                within = done["met_yes"] / done["met_n"] if done["met_n"] else None
            else:
                count = len(values)
                median, p90 = percentile(values, 0.5), percentile(values, 0.9)
                within = sum(met) / len(met) if met else None
            return {
                "count": count,
                "median_minutes": None if median is None else round(median / 60, 1),
                "p90_minutes": None if p90 is None else round(p90 / 60, 1),
                "within_target": None if within is None else round(within, 3),
            }

        if "satisfaction" in self.computed:
            done = self.computed["satisfaction"]
            satisfaction = {
                "count": done["n"],
                "average": round(done["median"], 2) if done["n"] else None,
            }
        else:
            satisfaction = {
                "count": len(self.scores),
                "average": round(sum(self.scores) / len(self.scores), 2) if self.scores else None,
            }
        return {
            "opened": self.opened,
            "solved": self.solved,
            "backlog": self.backlog,
            "first_response": times(self.first_response, self.first_response_met, "first_response"),
            "resolution": times(self.resolution, self.resolution_met, "resolution"),
            "satisfaction": satisfaction,
            "paid": {
                "count": self.paid,
                "revenue": [
                    {"amount": amount, "currency": currency}
                    for currency, amount in sorted(self.revenue.items())
                ],
            },
        }


async def _scope(user: CurrentUser, query: ReportQuery) -> list[int] | None:
    """The departments the report covers (None: all, for an admin), checked against the user."""
    if user.is_admin:
        allowed = None
    else:
        allowed = await (
            DepartmentMember.select(DepartmentMember.department)
            .where(DepartmentMember.user == user.id)
            .output(as_list=True)
        )
    if query.department is not None:
        exists = await Department.exists().where(Department.id == query.department)
        if not exists or (allowed is not None and query.department not in allowed):
            raise NotFound(tr("There is no such department among yours."))
        return [query.department]
    return allowed


def _where(column: Any, query: ReportQuery, departments: list[int] | None, *, via: Any) -> Any:
    """A window on `column` (indexed), the departments and the agent, through `via` (the
    ticket columns as the table at hand reaches them)."""
    condition = (column >= query.start) & (column < query.end)
    if departments is not None:
        condition = condition & via["department"].is_in(departments or [0])
    if query.agent is not None:
        condition = condition & (via["agent"] == query.agent)
    return condition


async def support_report(user: CurrentUser, query: ReportQuery) -> dict[str, Any]:
    """The report, as the API and the page show it."""
    departments = await _scope(user, query)
    groups: dict[tuple[str, Any], Figures] = defaultdict(Figures)
    if DB.engine_type == "postgres":
        from billdesk.sla.reports_postgres import aggregate_in_postgres

        await aggregate_in_postgres(groups, query, departments)
    else:
        await _aggregate_here(groups, query, departments)
        await _paid(groups, query, departments)
    answer = await _answer(groups, query)
    answer["tags"] = await tags.report_by_tag(
        start=query.start, end=query.end, departments=departments, agent=query.agent
    )
    return answer


def _add(
    groups: dict[tuple[str, Any], Figures],
    query: ReportQuery,
    row: dict[str, Any],
    moment: datetime,
    fill: Any,
) -> None:
    for key in (
        ("total", None),
        ("interval", bucket(moment, query.interval)),
        ("department", row["department"]),
        ("agent", row["agent"]),
    ):
        fill(groups[key])


async def _paid(
    groups: dict[tuple[str, Any], Figures], query: ReportQuery, departments: list[int] | None
) -> None:
    """Paid tickets and revenue (charges are few beside tickets: read here on every engine)."""
    charges = await Charge.select(
        Charge.paid_at,
        Charge.amount,
        Charge.refunded_amount,
        Charge.currency,
        Charge.department,
        Charge.ticket.assignee.as_alias("agent"),
    ).where(
        Charge.status.is_in(list(PAID))
        & _where(
            Charge.paid_at,
            query,
            departments,
            via={"department": Charge.department, "agent": Charge.ticket.assignee},
        )
    )
    for row in charges:

        def fill_paid(f: Figures, row: dict[str, Any] = row) -> None:
            f.paid += 1
            f.revenue[row["currency"]] += row["amount"] - row["refunded_amount"]

        _add(groups, query, row, row["paid_at"], fill_paid)


async def _aggregate_here(
    groups: dict[tuple[str, Any], Figures], query: ReportQuery, departments: list[int] | None
) -> None:
    """SQLite: read the window's rows and count them here."""
    ticket_via = {"department": Ticket.department, "agent": Ticket.assignee}

    def add(row: dict[str, Any], moment: datetime, fill: Any) -> None:
        _add(groups, query, row, moment, fill)

    base = Ticket.removed_at.is_null()
    opened = await Ticket.select(
        Ticket.clock_started_at, Ticket.department, Ticket.assignee.as_alias("agent")
    ).where(base & _where(Ticket.clock_started_at, query, departments, via=ticket_via))
    for row in opened:
        add(row, row["clock_started_at"], lambda f: setattr(f, "opened", f.opened + 1))

    answered = await Ticket.select(
        Ticket.first_response_at,
        Ticket.first_response_seconds,
        Ticket.first_response_met,
        Ticket.department,
        Ticket.assignee.as_alias("agent"),
    ).where(base & _where(Ticket.first_response_at, query, departments, via=ticket_via))
    for row in answered:

        def fill_first(f: Figures, row: dict[str, Any] = row) -> None:
            f.first_response.append(row["first_response_seconds"] or 0)
            if row["first_response_met"] is not None:
                f.first_response_met.append(row["first_response_met"])

        add(row, row["first_response_at"], fill_first)

    solved = await Ticket.select(
        Ticket.solved_at,
        Ticket.resolution_seconds,
        Ticket.resolution_met,
        Ticket.department,
        Ticket.assignee.as_alias("agent"),
    ).where(base & _where(Ticket.solved_at, query, departments, via=ticket_via))
    for row in solved:

        def fill_solved(f: Figures, row: dict[str, Any] = row) -> None:
            f.solved += 1
            f.resolution.append(row["resolution_seconds"] or 0)
            if row["resolution_met"] is not None:
                f.resolution_met.append(row["resolution_met"])

        add(row, row["solved_at"], fill_solved)

    ratings = await TicketRating.select(
        TicketRating.created_at,
        TicketRating.score,
        TicketRating.department,
        TicketRating.agent,
    ).where(
        _where(
            TicketRating.created_at,
            query,
            departments,
            via={"department": TicketRating.department, "agent": TicketRating.agent},
        )
    )
    for row in ratings:
        add(row, row["created_at"], lambda f, row=row: f.scores.append(row["score"]))

    await _open_at_end(groups, query, departments)


def interval_backlog(
    groups: dict[tuple[str, Any], Figures], query: ReportQuery, open_at_end: int
) -> None:
    """Open at the end of each interval, counted back from the end of the window: what was
    open at an interval's end is what is open at the next one's end, minus what the next
    one opened, plus what it solved. No ticket is read twice, and none outside the window."""
    running = open_at_end
    for first in reversed(buckets(query)):
        figures = groups[("interval", first)]
        figures.backlog = running
        running += figures.solved - figures.opened


async def _open_at_end(
    groups: dict[tuple[str, Any], Figures], query: ReportQuery, departments: list[int] | None
) -> None:
    """SQLite: open at the end of the window, per department and agent (counted by the
    database), then each interval's end as on PostgreSQL."""
    condition = (
        Ticket.removed_at.is_null()
        & (Ticket.clock_started_at < query.end)
        & (Ticket.solved_at.is_null() | (Ticket.solved_at >= query.end))
    )
    if departments is not None:
        condition = condition & Ticket.department.is_in(departments or [0])
    if query.agent is not None:
        condition = condition & (Ticket.assignee == query.agent)
    rows = (
        await Ticket.select(
            Ticket.department, Ticket.assignee.as_alias("agent"), Count(Ticket.id, alias="n")
        )
        .where(condition)
        .group_by(Ticket.department, Ticket.assignee)
    )
    total = 0
    for row in rows:
        total += row["n"]
        groups[("department", row["department"])].backlog += row["n"]
        groups[("agent", row["agent"])].backlog += row["n"]
    groups[("total", None)].backlog = total
    interval_backlog(groups, query, total)


async def _names(table: Any, ids: Iterable[int]) -> dict[int, str]:
    wanted = [value for value in ids if value is not None]
    if not wanted:
        return {}
    rows = await table.select(table.id, table.name).where(table.id.is_in(wanted))
    return {row["id"]: row["name"] for row in rows}


async def _answer(groups: dict[tuple[str, Any], Figures], query: ReportQuery) -> dict[str, Any]:
    department_ids = sorted(key for kind, key in groups if kind == "department")
    agent_ids = [key for kind, key in groups if kind == "agent"]
    department_names = await _names(Department, department_ids)
    agent_names = await _names(User, agent_ids)
    agents = sorted(
        (key for kind, key in groups if kind == "agent"),
        key=lambda agent: (agent is None, agent_names.get(agent, "") if agent else ""),
    )
    return {
        "from": query.date_from.isoformat(),
        "to": query.date_to.isoformat(),
        "interval": query.interval,
        "department": query.department,
        "agent": query.agent,
        "totals": groups[("total", None)].summary(),
        "intervals": [
            {"start": first.isoformat(), **groups[("interval", first)].summary()}
            for first in buckets(query)
        ],
        "departments": [
            {
                "department": {"id": key, "name": department_names.get(key, "")},
                **groups[("department", key)].summary(),
            }
            for key in department_ids
        ],
        "agents": [
            {
                "agent": None if key is None else {"id": key, "name": agent_names.get(key, "")},
                **groups[("agent", key)].summary(),
            }
            for key in agents
        ],
    }


# ------------------------------------------------------------------ CSV

CSV_COLUMNS = [
    "group",
    "key",
    "opened",
    "solved",
    "backlog",
    "first_response_count",
    "first_response_median_minutes",
    "first_response_p90_minutes",
    "first_response_within_target",
    "resolution_count",
    "resolution_median_minutes",
    "resolution_p90_minutes",
    "resolution_within_target",
    "satisfaction_count",
    "satisfaction_average",
    "paid_count",
    "revenue",
]


def _csv_row(group: str, key: str, figures: dict[str, Any]) -> list[Any]:
    first, resolution = figures["first_response"], figures["resolution"]

    def blank(value: Any) -> Any:
        return "" if value is None else value

    return [
        group,
        key,
        figures["opened"],
        figures["solved"],
        figures["backlog"],
        first["count"],
        blank(first["median_minutes"]),
        blank(first["p90_minutes"]),
        blank(first["within_target"]),
        resolution["count"],
        blank(resolution["median_minutes"]),
        blank(resolution["p90_minutes"]),
        blank(resolution["within_target"]),
        figures["satisfaction"]["count"],
        blank(figures["satisfaction"]["average"]),
        figures["paid"]["count"],
        " ".join(f"{item['amount']} {item['currency']}" for item in figures["paid"]["revenue"]),
    ]


def as_csv(report: dict[str, Any]) -> str:
    """The report as CSV: one row for the totals, then per interval, department and agent.
    Money is in minor units with its currency; cells a spreadsheet could run are quoted."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    writer.writerow(_csv_row("total", "", report["totals"]))
    for item in report["intervals"]:
        writer.writerow(_csv_row("interval", item["start"], item))
    for item in report["departments"]:
        writer.writerow(_csv_row("department", _safe(item["department"]["name"]), item))
    for item in report["agents"]:
        name = item["agent"]["name"] if item["agent"] else "(unassigned)"
        writer.writerow(_csv_row("agent", _safe(name), item))
    for item in report.get("tags", []):
        figures = [item["opened"], item["solved"]]
        writer.writerow(["tag", _safe(item["tag"]["name"]), *figures, *[""] * (len(CSV_COLUMNS) - 4)])
    return out.getvalue()


def _safe(text: str) -> str:
    """A name that a spreadsheet will not take for a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
