"""Support reports on a seeded data set whose figures the test computes itself (with the
statistics module, not the report's code): counts, medians, percentiles, shares,
satisfaction and revenue; staff see their departments only; the CSV says the same."""

from __future__ import annotations

import csv
import io
import random
import statistics
from datetime import UTC, datetime, timedelta

from billdesk.queues import transfer_ticket
from billdesk.sla import policy
from billdesk.tables import Charge, Ticket, TicketRating
from billdesk.tickets import close_ticket, reply_as_customer, reply_as_staff
from tests.factories import (
    add_member,
    as_current,
    login,
    make_department,
    make_ticket,
    make_token,
    make_user,
)

DAY0 = datetime(2026, 11, 2, tzinfo=UTC)


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[8]


async def seed():
    first, second, hidden = [await make_department(free_tickets=None) for _ in range(3)]
    customer = await make_user()
    ann, bob = await make_user(role="staff", name="Ann"), await make_user(role="staff", name="Bob")
    for department in (first, second):
        await add_member(department_id=department, user_id=ann.id)
    await add_member(department_id=first, user_id=bob.id)
    rng = random.Random(12)
    facts = []
    for n in range(40):
        department = first if n % 3 else second
        agent = [ann.id, bob.id, None][n % 3] if department == first else ann.id
        started = DAY0 + timedelta(days=n % 3, hours=rng.randint(0, 20), minutes=rng.randint(0, 59))
        answered = started + timedelta(minutes=rng.randint(1, 300)) if n % 5 else None
        solved = answered + timedelta(hours=rng.randint(1, 50)) if answered and n % 4 else None
        first_seconds = rng.randint(60, 20000) if answered else None
        resolution_seconds = rng.randint(600, 90000) if solved else None
        rows = await Ticket.insert(
            Ticket(
                customer=customer.id,
                department=department,
                assignee=agent,
                subject=f"T{n}",
                status="solved" if solved else "in_progress",
                clock_started_at=started,
                created_at=started,
                first_response_at=answered,
                first_response_seconds=first_seconds,
                first_response_met=None if answered is None else first_seconds <= 3600,
                solved_at=solved,
                resolution_seconds=resolution_seconds,
                resolution_met=None if solved is None else resolution_seconds <= 28800,
            )
        ).returning(Ticket.id)
        facts.append(
            dict(
                id=rows[0]["id"],
                department=department,
                agent=agent,
                started=started,
                answered=answered,
                first=first_seconds,
                solved=solved,
                resolution=resolution_seconds,
            )
        )
    # Outside the window, in the trash, or in a department nobody here works in: not counted.
    await Ticket.insert(
        Ticket(
            customer=customer.id,
            department=first,
            subject="old",
            clock_started_at=DAY0 - timedelta(days=9),
        ),
        Ticket(
            customer=customer.id,
            department=first,
            subject="trash",
            clock_started_at=DAY0,
            removed_at=DAY0,
        ),
        Ticket(customer=customer.id, department=hidden, subject="hidden", clock_started_at=DAY0),
    )
    scores = {}
    for fact in facts:
        if fact["solved"] and fact["solved"] < DAY0 + timedelta(days=7) and fact["id"] % 2:
            scores[fact["id"]] = rng.randint(1, 5)
            await TicketRating.insert(
                TicketRating(
                    ticket=fact["id"],
                    department=fact["department"],
                    agent=fact["agent"],
                    score=scores[fact["id"]],
                    created_at=fact["solved"],
                    updated_at=fact["solved"],
                )
            )
    paid = [fact for fact in facts if fact["department"] == first][:4]
    for number, fact in enumerate(paid):
        await Charge.insert(
            Charge(
                ticket=fact["id"],
                customer=customer.id,
                department=first,
                amount=1500,
                currency="usd",
                status="partially_refunded" if number == 0 else "succeeded",
                refunded_amount=500 if number == 0 else 0,
                idempotency_key=f"k{number}",
                paid_at=fact["started"],
            )
        )
    return first, second, ann, bob, facts, scores, paid


def window(facts, key):
    end = DAY0 + timedelta(days=7)
    return [fact for fact in facts if fact[key] is not None and DAY0 <= fact[key] < end]


async def test_figures_match_an_independent_count(client):
    first, second, ann, bob, facts, scores, paid = await seed()
    admin = await make_user(role="admin")
    headers = {"Authorization": f"Bearer {await make_token(admin)}"}
    answer = await client.get(
        "/api/v1/reports/support?from=2026-11-02&to=2026-11-08&interval=day", headers=headers
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    totals = report["totals"]
    assert totals["opened"] == 40 + 1  # the hidden department's ticket: an admin sees all
    answered = window(facts, "answered")
    firsts = [fact["first"] for fact in answered]
    assert totals["first_response"]["count"] == len(firsts)
    assert totals["first_response"]["median_minutes"] == round(statistics.median(firsts) / 60, 1)
    assert totals["first_response"]["p90_minutes"] == round(p90(firsts) / 60, 1)
    assert totals["first_response"]["within_target"] == round(
        sum(value <= 3600 for value in firsts) / len(firsts), 3
    )
    solved = window(facts, "solved")
    resolutions = [fact["resolution"] for fact in solved]
    assert totals["solved"] == len(solved)
    assert totals["resolution"]["median_minutes"] == round(statistics.median(resolutions) / 60, 1)
    assert totals["resolution"]["p90_minutes"] == round(p90(resolutions) / 60, 1)
    end = DAY0 + timedelta(days=7)
    open_at_end = [f for f in facts if f["solved"] is None or f["solved"] >= end]
    # and the hidden one, and the old one: opened before the window, still open at its end
    assert totals["backlog"] == len(open_at_end) + 2
    assert totals["satisfaction"] == {
        "count": len(scores),
        "average": round(statistics.mean(scores.values()), 2),
    }
    assert totals["paid"] == {
        "count": 4,
        "revenue": [{"amount": 4 * 1500 - 500, "currency": "usd"}],
    }

    days = {item["start"]: item for item in report["intervals"]}
    assert list(days) == [f"2026-11-0{n}" for n in range(2, 9)]
    for offset in range(3):
        day = (DAY0 + timedelta(days=offset)).date().isoformat()
        assert days[day]["opened"] == sum(f["started"].date().isoformat() == day for f in facts) + (
            1 if offset == 0 else 0
        )
        day_solved = [f["resolution"] for f in solved if f["solved"].date().isoformat() == day]
        if day_solved:
            assert days[day]["resolution"]["median_minutes"] == round(
                statistics.median(day_solved) / 60, 1
            )

    for offset in range(7):
        day_end = DAY0 + timedelta(days=offset + 1)
        still_open = [
            f
            for f in facts
            if f["started"] < day_end and (f["solved"] is None or f["solved"] >= day_end)
        ]
        day = (DAY0 + timedelta(days=offset)).date().isoformat()
        assert days[day]["backlog"] == len(still_open) + 2  # the old and the hidden ones
        assert days[day]["solved"] == sum(f["solved"].date().isoformat() == day for f in solved)

    agents = {(item["agent"] or {}).get("id"): item for item in report["agents"]}
    ann_firsts = [f["first"] for f in answered if f["agent"] == ann.id]
    assert agents[ann.id]["first_response"]["median_minutes"] == round(
        statistics.median(ann_firsts) / 60, 1
    )
    departments = {item["department"]["id"]: item for item in report["departments"]}
    assert departments[second]["opened"] == sum(f["department"] == second for f in facts)
    # Every group's count, median and 90th percentile, for both times.
    groups = [
        *(
            (days[day], lambda f, moment, day=day: f[moment].date().isoformat() == day)
            for day in days
        ),
        *((departments[d], lambda f, moment, d=d: f["department"] == d) for d in (first, second)),
        *((agents[a], lambda f, moment, a=a: f["agent"] == a) for a in (ann.id, bob.id, None)),
    ]
    for figure, moment, value, chosen in (
        ("first_response", "answered", "first", answered),
        ("resolution", "solved", "resolution", solved),
    ):
        for item, holds in groups:
            values = [f[value] for f in chosen if holds(f, moment)]
            shown = item[figure]
            assert shown["count"] == len(values), (figure, item)
            if not values:
                assert shown["median_minutes"] is None
                continue
            assert shown["median_minutes"] == round(statistics.median(values) / 60, 1)
            expected = p90(values) if len(values) > 1 else values[0]
            assert shown["p90_minutes"] == round(expected / 60, 1), (figure, item, values)
    for department in (first, second):
        open_here = [f for f in open_at_end if f["department"] == department]
        assert departments[department]["backlog"] == len(open_here) + (department == first)
        assert departments[department]["solved"] == sum(
            f["department"] == department for f in solved
        )
    assert agents[bob.id]["backlog"] == sum(f["agent"] == bob.id for f in open_at_end)
    assert agents[bob.id]["paid"]["count"] == sum(f["agent"] == bob.id for f in paid)
    assert sum(item["paid"]["count"] for item in report["intervals"]) == 4

    # Staff see their departments only; Bob works in the first one.
    bob_headers = {"Authorization": f"Bearer {await make_token(bob)}"}
    mine = (
        await client.get(
            "/api/v1/reports/support?from=2026-11-02&to=2026-11-08", headers=bob_headers
        )
    ).json()
    assert mine["totals"]["opened"] == sum(f["department"] == first for f in facts)
    assert (
        await client.get(f"/api/v1/reports/support?department={second}", headers=bob_headers)
    ).status_code == 404
    by_agent = (
        await client.get(
            f"/api/v1/reports/support?from=2026-11-02&to=2026-11-08&agent={bob.id}&interval=week",
            headers=headers,
        )
    ).json()
    assert by_agent["totals"]["opened"] == sum(f["agent"] == bob.id for f in facts)
    assert [item["start"] for item in by_agent["intervals"]] == ["2026-11-02"]

    for query, field in [
        ("from=yesterday", "from"),
        ("interval=hour", "interval"),
        ("from=2026-11-09&to=2026-11-01", "from"),
        ("from=2024-01-01&to=2026-01-01", "to"),
        ("agent=x", "agent"),
    ]:
        refused = await client.get(f"/api/v1/reports/support?{query}", headers=headers)
        assert refused.status_code == 422, query
        assert refused.json()["errors"][0]["field"] == field
    customer = await make_user()
    customer_headers = {"Authorization": f"Bearer {await make_token(customer)}"}
    assert (
        await client.get("/api/v1/reports/support", headers=customer_headers)
    ).status_code == 403


async def test_the_page_draws_charts_and_the_csv_has_the_same_numbers(client):
    await seed()
    admin = await make_user(role="admin")
    await login(client, admin.email)
    page = await client.get("/desk/reports?from=2026-11-02&to=2026-11-08&interval=day")
    assert page.status_code == 200
    assert page.text.count("<svg") == 2 and "<rect" in page.text
    assert 'id="table-volume"' in page.text
    csv_link = "/desk/reports/support.csv?from=2026-11-02&amp;to=2026-11-08&amp;interval=day"
    assert csv_link in page.text
    exported = await client.get(csv_link.replace("&amp;", "&"))
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    headers = {"Authorization": f"Bearer {await make_token(admin)}"}
    report = (
        await client.get("/api/v1/reports/support?from=2026-11-02&to=2026-11-08", headers=headers)
    ).json()
    total = rows[0]
    assert total["group"] == "total"
    assert int(total["opened"]) == report["totals"]["opened"]
    assert (
        float(total["first_response_median_minutes"])
        == (report["totals"]["first_response"]["median_minutes"])
    )
    assert float(total["resolution_p90_minutes"]) == report["totals"]["resolution"]["p90_minutes"]
    days = [row for row in rows if row["group"] == "interval"]
    assert [int(row["solved"]) for row in days] == [item["solved"] for item in report["intervals"]]
    bad = await client.get("/desk/reports?interval=hour")
    assert bad.status_code == 422 and "day, week or month" in bad.text


async def test_the_figures_follow_tickets_through_the_write_paths(clock, client):
    """Tickets moved by the domain's own functions (replies, a customer's answer that hands
    the ticket back to support, a transfer, closing) show in the report as they happened."""
    level = {
        "hours": {"timezone": "UTC", "always": True},
        "targets": {"normal": {"first_response": 60, "resolution": 480}},
    }
    sales, hosting = (
        await make_department(free_tickets=None),
        await make_department(free_tickets=None),
    )
    customer, agent = await make_user(), await make_user(role="staff", name="Ann")
    for department in (sales, hosting):
        await policy.set_service_level(department, level)
        await add_member(department_id=department, user_id=agent.id)
    staff = as_current(agent)
    # Monday 2 November 2026, 09:00 UTC: both tickets open.
    moved, waiting = await make_ticket(customer, sales), await make_ticket(customer, sales)
    clock.advance(timedelta(minutes=30))
    await reply_as_staff(moved, staff, "Which server?")  # first response: 30 minutes
    clock.advance(timedelta(minutes=60))
    await reply_as_staff(waiting, staff, "Restarted it")  # 90 minutes: over the hour
    clock.advance(timedelta(minutes=120))  # 12:30: the customer answers, support again
    await reply_as_customer(ticket_id=moved, customer=as_current(customer), body="web1", files=[])
    clock.advance(timedelta(minutes=60))
    await transfer_ticket(actor=staff, ticket_id=moved, department_id=hosting)
    clock.advance(timedelta(minutes=30))  # 14:00: solved after 30 + 90 minutes of support
    await close_ticket(moved, staff)
    clock.advance(timedelta(hours=19))  # Tuesday 09:00: solved after its 90 minutes
    await close_ticket(waiting, staff)

    stored = {
        row["id"]: row
        for row in await Ticket.select(
            Ticket.id,
            Ticket.department,
            Ticket.first_response_seconds,
            Ticket.first_response_met,
            Ticket.resolution_seconds,
            Ticket.resolution_met,
        ).where(Ticket.id.is_in([moved, waiting]))
    }
    assert stored[moved] == {
        "id": moved,
        "department": hosting,
        "first_response_seconds": 30 * 60,
        "first_response_met": True,
        "resolution_seconds": 120 * 60,
        "resolution_met": True,
    }
    assert stored[waiting]["first_response_seconds"] == 90 * 60
    assert stored[waiting]["first_response_met"] is False
    assert stored[waiting]["resolution_seconds"] == 90 * 60

    admin = await make_user(role="admin")
    headers = {"Authorization": f"Bearer {await make_token(admin)}"}
    report = (
        await client.get("/api/v1/reports/support?from=2026-11-02&to=2026-11-03", headers=headers)
    ).json()
    totals = report["totals"]
    assert (totals["opened"], totals["solved"], totals["backlog"]) == (2, 2, 0)
    assert totals["first_response"] == {
        "count": 2,
        "median_minutes": 60.0,  # halfway between 30 and 90
        "p90_minutes": 84.0,  # 30 + 0.9 * 60
        "within_target": 0.5,
    }
    assert totals["resolution"] == {
        "count": 2,
        "median_minutes": 105.0,
        "p90_minutes": 117.0,
        "within_target": 1.0,
    }
    days = [
        (item["start"], item["opened"], item["solved"], item["backlog"])
        for item in report["intervals"]
    ]
    assert days == [("2026-11-02", 2, 1, 1), ("2026-11-03", 0, 1, 0)]
    departments = {item["department"]["id"]: item for item in report["departments"]}
    # The transferred ticket is counted where it is now.
    assert departments[hosting]["resolution"]["median_minutes"] == 120.0
    assert departments[sales]["resolution"]["median_minutes"] == 90.0
    monday = (
        await client.get(
            f"/api/v1/reports/support?from=2026-11-02&to=2026-11-02&department={sales}",
            headers=headers,
        )
    ).json()
    assert (monday["totals"]["opened"], monday["totals"]["backlog"]) == (1, 1)
