"""Satisfaction: only the ticket's customer rates it, only once solved, 1 to 5 only;
one rating per ticket, changeable for 7 days; staff see it on the ticket."""

from __future__ import annotations

from datetime import timedelta

from billdesk.tables import TicketEvent, TicketRating
from billdesk.tickets import close_ticket
from tests.factories import (
    add_member,
    as_current,
    csrf_token,
    login,
    make_department,
    make_ticket,
    make_token,
    make_user,
)


async def test_only_the_customer_rates_a_solved_ticket_once_changeable_for_seven_days(
    clock, client
):
    department = await make_department(free_tickets=None)
    customer, stranger = await make_user(), await make_user()
    agent = await make_user(role="staff")
    await add_member(department_id=department, user_id=agent.id)
    ticket_id = await make_ticket(customer, department)
    mine = {"Authorization": f"Bearer {await make_token(customer)}"}
    url = f"/api/v1/tickets/{ticket_id}/rating"

    early = await client.post(url, headers=mine, json={"score": 5})
    assert early.status_code == 409 and early.json()["code"] == "invalid_transition"

    await close_ticket(ticket_id, as_current(agent))
    for score in (0, 6, "five", 2.5, None):
        refused = await client.post(url, headers=mine, json={"score": score})
        assert refused.status_code == 422, score
        assert refused.json()["errors"][0]["field"] == "score"
    long = await client.post(url, headers=mine, json={"score": 3, "comment": "x" * 2001})
    assert long.status_code == 422 and long.json()["errors"][0]["field"] == "comment"

    theirs = {"Authorization": f"Bearer {await make_token(stranger)}"}
    assert (await client.post(url, headers=theirs, json={"score": 1})).status_code == 404
    staff = {"Authorization": f"Bearer {await make_token(agent)}"}
    assert (await client.post(url, headers=staff, json={"score": 1})).status_code == 403

    rated = await client.post(url, headers=mine, json={"score": 4, "comment": "Quick, thanks"})
    assert rated.status_code == 200, rated.text
    assert rated.json()["score"] == 4 and rated.json()["changeable"] is True
    clock.advance(timedelta(days=6))
    changed = await client.post(url, headers=mine, json={"score": 5})
    assert changed.json()["score"] == 5 and changed.json()["comment"] == ""
    assert await TicketRating.count() == 1
    clock.advance(timedelta(days=1))
    late = await client.post(url, headers=mine, json={"score": 1})
    assert late.status_code == 409
    shown = (await client.get(f"/api/v1/tickets/{ticket_id}", headers=mine)).json()
    assert shown["rating"]["score"] == 5 and shown["rating"]["changeable"] is False

    desk = (await client.get(f"/api/v1/desk/tickets/{ticket_id}", headers=staff)).json()
    assert desk["rating"]["score"] == 5
    history = await TicketEvent.select(TicketEvent.old_value, TicketEvent.new_value).where(
        (TicketEvent.ticket == ticket_id) & (TicketEvent.kind == "rating")
    )
    assert history == [
        {"old_value": "", "new_value": "4/5"},
        {"old_value": "4/5", "new_value": "5/5"},
    ]


async def test_the_customer_rates_on_the_ticket_page_and_staff_see_it(
    clock, client, app_client_factory
):
    department = await make_department(free_tickets=None)
    customer, agent = await make_user(), await make_user(role="staff")
    await add_member(department_id=department, user_id=agent.id)
    ticket_id = await make_ticket(customer, department)
    await close_ticket(ticket_id, as_current(agent))
    await login(client, customer.email)
    page = await client.get(f"/tickets/{ticket_id}?rate=2")
    assert "How did we do?" in page.text and 'value="2" checked' in page.text
    token = csrf_token(page.text)
    refused = await client.post(
        f"/tickets/{ticket_id}/rating", data={"_csrf_token": token, "comment": "meh <b>"}
    )
    assert refused.status_code == 422 and "Rate from 1" in refused.text
    assert "meh &lt;b&gt;" in refused.text
    sent = await client.post(
        f"/tickets/{ticket_id}/rating",
        data={"_csrf_token": token, "score": "2", "comment": "Slow <b>answer</b>"},
        follow_redirects=True,
    )
    assert sent.status_code == 200 and "Your rating" in sent.text

    async with app_client_factory() as staff_client:
        await login(staff_client, agent.email)
        desk = await staff_client.get(f"/desk/tickets/{ticket_id}")
        assert "Customer rating" in desk.text and "2 of 5" in desk.text
        assert "Slow &lt;b&gt;answer&lt;/b&gt;" in desk.text
