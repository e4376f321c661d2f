"""The queue shows service levels: due times, overdue and at-risk tickets first when
sorted by due time, `sla=` and `priority=` filters, and a priority sort."""

from __future__ import annotations

from datetime import timedelta

from billdesk.queues import set_priority
from billdesk.sla import policy
from billdesk.tickets import reply_as_staff
from tests.factories import (
    add_member,
    as_current,
    login,
    make_department,
    make_ticket,
    make_token,
    make_user,
)


async def make_queue(clock):
    department = await make_department(free_tickets=None)
    await policy.set_service_level(
        department,
        {
            "targets": {
                "normal": {"first_response": 60},
                "high": {"first_response": 30},
                "urgent": {"first_response": 10},
            },
        },
    )
    customer, agent = await make_user(), await make_user(role="staff")
    await add_member(department_id=department, user_id=agent.id)
    late = await make_ticket(customer, department, "Late one")  # due 10:00
    clock.advance(timedelta(minutes=10))
    risky = await make_ticket(customer, department, "Risky one")  # due 10:10
    clock.advance(timedelta(minutes=10))
    calm = await make_ticket(customer, department, "Calm one")  # due 10:20
    answered = await make_ticket(customer, department, "Answered")
    await reply_as_staff(answered, as_current(agent), "Done?")  # waiting: no deadline
    await set_priority(actor=as_current(agent), ticket_id=calm, priority="high")  # due 09:50
    return agent, late, risky, calm, answered


async def test_the_api_sorts_by_due_time_and_filters_by_service_level(clock, client):
    agent, late, risky, calm, answered = await make_queue(clock)
    headers = {"Authorization": f"Bearer {await make_token(agent)}"}

    async def ids(query: str) -> list[int]:
        answer = await client.get(f"/api/v1/desk/tickets?{query}", headers=headers)
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["items"]]

    assert await ids("sort=due_at") == [calm, late, risky, answered]
    clock.advance(timedelta(minutes=35))  # 09:55: calm is overdue, late (09:00 + 60) at risk
    assert await ids("sla=breached") == [calm]
    assert await ids("sla=at_risk&sort=due_at") == [late]
    clock.advance(timedelta(minutes=10))  # 10:05: late overdue, risky at risk (80 % = 09:58)
    assert await ids("sla=breached&sort=due_at") == [calm, late]
    assert await ids("sla=at_risk") == [risky]
    assert await ids("priority=high") == [calm]
    assert set(await ids("priority=normal")) == {late, risky, answered}
    assert (await ids("sort=priority"))[0] == calm

    first = (await client.get("/api/v1/desk/tickets?sort=due_at&limit=3", headers=headers)).json()
    assert [item["id"] for item in first["items"]] == [calm, late, risky]
    assert first["items"][0]["sla"]["state"] == "breached"
    rest = await client.get(
        f"/api/v1/desk/tickets?sort=due_at&limit=3&cursor={first['next_cursor']}", headers=headers
    )
    assert [item["id"] for item in rest.json()["items"]] == [answered]
    by_priority = (
        await client.get("/api/v1/desk/tickets?sort=priority&limit=1", headers=headers)
    ).json()
    after = await client.get(
        f"/api/v1/desk/tickets?sort=priority&limit=10&cursor={by_priority['next_cursor']}",
        headers=headers,
    )
    assert sorted(item["id"] for item in after.json()["items"]) == sorted([late, risky, answered])

    for query, field in [
        ("sla=late", "sla"),
        ("priority=extreme", "priority"),
        ("sort=due", "sort"),
    ]:
        refused = await client.get(f"/api/v1/desk/tickets?{query}", headers=headers)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == field
    # A cursor of one sort is not a cursor of another.
    wrong = await client.get(
        f"/api/v1/desk/tickets?sort=due_at&cursor={by_priority['next_cursor']}", headers=headers
    )
    assert wrong.status_code == 422


async def test_the_desk_page_shows_due_times_soonest_first(clock, client):
    agent, *_ = await make_queue(clock)
    await login(client, agent.email)
    clock.advance(timedelta(minutes=45))  # 10:05
    page = await client.get("/desk")
    assert page.status_code == 200
    text = page.text
    assert text.index("Calm one") < text.index("Late one") < text.index("Risky one")
    assert text.index("Risky one") < text.index("Answered")
    assert text.count('data-sla="breached"') == 2 and text.count('data-sla="at_risk"') == 1
    assert "overdue" in text and "at risk" in text
    overdue = await client.get("/desk?sla=breached&priority=high")
    assert "Calm one" in overdue.text and "Late one" not in overdue.text
    refused = await client.get("/desk?sla=soon")
    assert refused.status_code == 422 and "breached or at_risk" in refused.text
