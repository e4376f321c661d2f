"""A staff member opens the support reports in a real browser: both charts are drawn,
and the numbers in the tables under them are the ones the CSV download says."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from billdesk.tables import Ticket
from tests.factories import PASSWORD, add_member, make_department, make_user

DAY0 = datetime(2026, 11, 2, tzinfo=UTC)

# (opened, first response in business seconds, solved after, resolution in business
# seconds): per day, opened 2, 1, 0; solved 1, 2, 0; first response medians 20 and
# 40 minutes; resolution medians 120 and 240 minutes.
TICKETS = [
    (DAY0 + timedelta(hours=9), 600, timedelta(hours=2), 7200),
    (DAY0 + timedelta(hours=10), 1800, timedelta(hours=26), 7200),
    (DAY0 + timedelta(days=1, hours=9), 2400, timedelta(hours=6), 21600),
]


def number(cell: str) -> float | None:
    """A table cell or CSV field as a number; the page's "—" and the CSV's "" are nothing."""
    cell = cell.strip()
    return None if cell in ("", "—") else float(cell)


async def table_rows(page, table_id: str) -> list[list[str]]:
    rows = page.locator(f"#{table_id} tbody tr")
    return [
        [await cell.text_content() or "" for cell in await rows.nth(n).locator("th, td").all()]
        for n in range(await rows.count())
    ]


@pytest.mark.browser
async def test_reports_page_draws_charts_and_its_tables_match_the_csv(browser_page):
    page = browser_page
    department = await make_department(name="Reports desk", free_tickets=None)
    staff = await make_user(role="staff", name="Rita Reports")
    customer = await make_user(role="customer")
    await add_member(department_id=department, user_id=staff.id)
    for n, (opened, first, solved_after, resolution) in enumerate(TICKETS):
        await Ticket.insert(
            Ticket(
                customer=customer.id,
                department=department,
                assignee=staff.id,
                subject=f"Report ticket {n}",
                status="solved",
                created_at=opened,
                clock_started_at=opened,
                first_response_at=opened + timedelta(seconds=first),
                first_response_seconds=first,
                first_response_met=first <= 3600,
                solved_at=opened + solved_after,
                resolution_seconds=resolution,
                resolution_met=resolution <= 28800,
            )
        )

    await page.goto("/login")
    await page.fill("#login-email", staff.email)
    await page.fill("#login-password", PASSWORD)
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_url("**/desk")
    await page.goto("/desk/reports?from=2026-11-02&to=2026-11-04&interval=day")

    for chart in ("#chart-volume", "#chart-times"):
        svg = page.locator(f"{chart} svg")
        assert await svg.is_visible()
        box = await svg.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 50
        bars = page.locator(f"{chart} rect.chart__bar")
        assert await bars.count() == 3 * 2  # three days, two series
        drawn = [bar for bar in await bars.all() if float(await bar.get_attribute("height")) > 0]
        assert len(drawn) == 4  # the third day has nothing to draw
        for bar in drawn:
            assert await bar.is_visible()
    titles = [await t.text_content() for t in await page.locator("#chart-volume rect title").all()]
    assert titles[:4] == [
        "2026-11-02, Opened: 2",
        "2026-11-02, Solved: 1",
        "2026-11-03, Opened: 1",
        "2026-11-03, Solved: 2",
    ]

    volume = await table_rows(page, "table-volume")
    times = await table_rows(page, "table-times")
    assert [row[0] for row in volume] == ["2026-11-02", "2026-11-03", "2026-11-04"]
    assert [[number(cell) for cell in row[1:3]] for row in volume] == [[2, 1], [1, 2], [0, 0]]
    assert [number(row[1]) for row in times] == [20.0, 40.0, None]
    assert [number(row[3]) for row in times] == [120.0, 240.0, None]

    async with page.expect_download() as download_info:
        await page.click("a:has-text('Download CSV')")
    download = await download_info.value
    exported = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8")
    rows = csv.DictReader(io.StringIO(exported))
    intervals = [row for row in rows if row["group"] == "interval"]
    assert [row["key"] for row in intervals] == [row[0] for row in volume]
    for csv_row, volume_row, times_row in zip(intervals, volume, times, strict=True):
        assert [number(volume_row[n]) for n in (1, 2, 3)] == [
            number(csv_row[field]) for field in ("opened", "solved", "backlog")
        ]
        assert [number(times_row[n]) for n in (1, 2, 3, 4, 5)] == [
            number(csv_row[field])
            for field in (
                "first_response_median_minutes",
                "first_response_p90_minutes",
                "resolution_median_minutes",
                "resolution_p90_minutes",
                "satisfaction_average",
            )
        ]
