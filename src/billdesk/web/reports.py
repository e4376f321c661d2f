"""Support reports: the page at /desk/reports (charts drawn as SVG on the server, a table
under each, CSV export) and `GET /api/v1/reports/support`. Staff see their departments,
admins all."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get
from litestar.params import FromQuery, Parameter
from litestar.response import Response, Template

from billdesk import clock
from billdesk.auth import CurrentUser, requires_staff
from billdesk.errors import DeskError
from billdesk.i18n import Text, tr
from billdesk.sla import reports
from billdesk.validation import parse_id
from billdesk.web.desk import _colleagues, _departments_for
from billdesk.web.layout import render
from billdesk.web.params import IdQuery

DateFrom = Annotated[str | None, Parameter(query="from", description="First day, 2026-11-01.")]
DateTo = Annotated[str | None, Parameter(query="to", description="Last day, inclusive.")]
CHART_WIDTH = 640
CHART_HEIGHT = 200
INTERVAL_LABELS = {"day": tr("Day"), "week": tr("Week"), "month": tr("Month")}
INTERVAL_CHOICES = list(INTERVAL_LABELS.items())


def _query(
    *,
    date_from: str | None,
    date_to: str | None,
    interval: str | None,
    department: int | None,
    agent: int | None,
) -> reports.ReportQuery:
    return reports.parse_query(
        date_from=date_from,
        date_to=date_to,
        interval=interval,
        department=department,
        agent=agent,
        today=clock.now().date(),
    )


def bar_chart(labels: list[str], series: list[tuple[Text, list[float | None]]]) -> dict[str, Any]:
    """Bars for each label, one per series, scaled into the chart's box (drawn by the template)."""
    peak = max([value or 0 for _, values in series for value in values] + [0]) or 1
    slot = CHART_WIDTH / max(len(labels), 1)
    width = max(slot * 0.8 / max(len(series), 1), 1)
    bars = []
    for index, label in enumerate(labels):
        for number, (_name, values) in enumerate(series):
            value = values[index] or 0
            height = value / peak * (CHART_HEIGHT - 20)
            bars.append(
                {
                    "x": round(index * slot + slot * 0.1 + number * width, 2),
                    "y": round(CHART_HEIGHT - height, 2),
                    "width": round(width, 2),
                    "height": round(height, 2),
                    "series": number,
                    # The template writes the title: the interval, the series' name, the value.
                    "label": label,
                    "value": values[index] if values[index] is not None else "—",
                }
            )
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "bars": bars,
        "peak": peak,
        "series": [name for name, _ in series],
    }


class ReportsController(Controller):
    path = "/desk/reports"
    tags = ["desk"]
    include_in_schema = False
    guards = [requires_staff]

    @get("/")
    async def page(
        self,
        request: Request,
        date_from: DateFrom = None,
        date_to: DateTo = None,
        interval: FromQuery[str | None] = None,
        department: FromQuery[str | None] = None,
        agent: FromQuery[str | None] = None,
    ) -> Template:
        user: CurrentUser = request.scope["user"]
        chosen = {
            "from": date_from or "",
            "to": date_to or "",
            "interval": interval or "day",
            "department": department or "",
            "agent": agent or "",
        }
        errors: dict[str, str] = {}
        report = None
        status_code = 200
        try:
            query = _query(
                date_from=date_from,
                date_to=date_to,
                interval=interval,
                department=parse_id("department", department or None),
                agent=parse_id("agent", agent or None),
            )
            report = await reports.support_report(user, query)
            chosen["from"], chosen["to"] = report["from"], report["to"]
        except DeskError as exc:
            errors, status_code = exc.errors, exc.status
        charts = {}
        if report is not None:
            labels = [item["start"] for item in report["intervals"]]
            charts = {
                "volume": bar_chart(
                    labels,
                    [
                        (tr("Opened"), [item["opened"] for item in report["intervals"]]),
                        (tr("Solved"), [item["solved"] for item in report["intervals"]]),
                    ],
                ),
                "times": bar_chart(
                    labels,
                    [
                        (
                            tr("First response median"),
                            [
                                item["first_response"]["median_minutes"]
                                for item in report["intervals"]
                            ],
                        ),
                        (
                            tr("Resolution median"),
                            [item["resolution"]["median_minutes"] for item in report["intervals"]],
                        ),
                    ],
                ),
            }
        departments = await _departments_for(user)
        colleagues = await _colleagues(user)
        csv_query = urlencode({key: value for key, value in chosen.items() if value})
        return await render(
            request,
            "desk/reports.html",
            {
                "report": report,
                "charts": charts,
                "chosen": chosen,
                "errors": errors,
                "interval_choices": INTERVAL_CHOICES,
                "interval_label": INTERVAL_LABELS.get(chosen["interval"], chosen["interval"]),
                "department_options": [(d["id"], d["name"]) for d in departments],
                "agent_options": [(c["id"], c["name"]) for c in colleagues],
                "csv_url": "/desk/reports/support.csv?" + csv_query,
            },
            active="reports",
            status_code=status_code,
        )

    @get("/support.csv")
    async def csv_export(
        self,
        request: Request,
        date_from: DateFrom = None,
        date_to: DateTo = None,
        interval: FromQuery[str | None] = None,
        department: IdQuery = None,
        agent: IdQuery = None,
    ) -> Response:
        user: CurrentUser = request.scope["user"]
        query = _query(
            date_from=date_from,
            date_to=date_to,
            interval=interval,
            department=department,
            agent=agent,
        )
        report = await reports.support_report(user, query)
        return Response(
            reports.as_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="support-{report["from"]}-{report["to"]}.csv"'
            },
        )


class ReportsApiController(Controller):
    path = "/api/v1/reports"
    tags = ["staff"]
    guards = [requires_staff]

    @get("/support")
    async def support(
        self,
        request: Request,
        date_from: DateFrom = None,
        date_to: DateTo = None,
        interval: FromQuery[str | None] = None,
        department: IdQuery = None,
        agent: IdQuery = None,
    ) -> dict[str, Any]:
        """Opened, solved, backlog, response and resolution times, share within target,
        satisfaction and paid revenue: in total, per interval, department and agent."""
        user: CurrentUser = request.scope["user"]
        query = _query(
            date_from=date_from,
            date_to=date_to,
            interval=interval,
            department=department,
            agent=agent,
        )
        return await reports.support_report(user, query)
