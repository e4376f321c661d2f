"""A staff member's day in a real browser: log in, filter the queue, answer with a
template, and close two tickets at once from the queue."""

from __future__ import annotations

import pytest

from billdesk.tables import Message, ReplyTemplate, Ticket
from tests.desk_support import make_desk_ticket
from tests.factories import PASSWORD, add_member, make_department, make_user


@pytest.mark.browser
async def test_staff_filters_replies_with_a_template_and_bulk_closes(browser_page):
    page = browser_page
    department = await make_department(name="Hosting")
    staff = await make_user(role="staff", name="Sam Staff")
    customer = await make_user(role="customer", name="Carla Customer")
    await add_member(department_id=department, user_id=staff.id)
    outage = await make_desk_ticket(customer_id=customer.id, department_id=department,
                                    subject="Website outage", minutes_ago=3)
    dns = await make_desk_ticket(customer_id=customer.id, department_id=department,
                                 subject="DNS records", minutes_ago=2)
    mail = await make_desk_ticket(customer_id=customer.id, department_id=department,
                                  subject="Mail quota", minutes_ago=1)
    await ReplyTemplate.insert(ReplyTemplate(
        title="Looking into it", body="Hello {customer_name}, we are on {ticket_id}. {agent_name}",
        scope="department", department=department))

    await page.goto("/login")
    await page.fill("#login-email", staff.email)
    await page.fill("#login-password", PASSWORD)
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_url("**/desk")

    await page.fill("#f-q", "outage")
    await page.click("button:has-text('Filter')")
    await page.wait_for_url("**/desk?*q=outage*")
    rows = page.locator("table.queue tbody tr")
    assert await rows.count() == 1
    await page.click("a:has-text('Website outage')")
    await page.wait_for_url(f"**/desk/tickets/{outage}")

    await page.select_option("#f-template", label="Looking into it")
    body = await page.input_value("#f-body")
    assert body == f"Hello Carla Customer, we are on #{outage}. Sam Staff"
    await page.fill("#f-body", body + "\nBack within the hour.")
    await page.click("button:has-text('Send')")
    await page.wait_for_url(f"**/desk/tickets/{outage}")
    assert await page.locator(".message--staff").count() == 1

    await page.goto("/desk")
    await page.check(f"input[name=ids][value='{dns}']")
    await page.check(f"input[name=ids][value='{mail}']")
    assert await page.text_content("[data-selected-count=ids]") == "2 selected"
    await page.select_option("#f-action", "close")
    await page.click("button:has-text('Apply to selected')")
    await page.wait_for_selector(".flash--success")
    outcome = await page.text_content(".flash--success")
    assert "Closed 2 tickets" in outcome and f"#{dns}" in outcome and f"#{mail}" in outcome

    statuses = {
        row["id"]: row["status"]
        for row in await Ticket.select(Ticket.id, Ticket.status)
    }
    assert statuses == {outage: "waiting_for_reply", dns: "solved", mail: "solved"}
    reply = await Message.select(Message.body).where(
        (Message.ticket == outage) & (Message.opening == False)  # noqa: E712
    ).first()
    assert reply["body"].startswith("Hello Carla Customer")
