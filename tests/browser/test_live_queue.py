"""The desk queue in a real browser follows tickets that arrive meanwhile, without a
reload, keeping the ticked boxes, the keyboard's current row and what is on screen.
The live server's pages ask every second (tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.desk_support import make_desk_ticket
from tests.factories import PASSWORD, add_member, make_department, make_ticket, make_user

pytestmark = pytest.mark.browser

RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


async def test_a_ticket_opened_elsewhere_appears_and_the_page_keeps_its_place(browser_page):
    page = browser_page
    department = await make_department(name="Hosting")
    staff = await make_user(role="staff", name="Liv Live")
    customer = await make_user(role="customer", name="Carla Customer")
    await add_member(department_id=department, user_id=staff.id)
    tickets = [
        await make_desk_ticket(
            customer_id=customer.id, department_id=department, subject=f"Older ticket {n}",
            minutes_ago=10 + n,
        )
        for n in range(30)
    ]

    await page.set_viewport_size({"width": 1100, "height": 600})
    await page.add_init_script(RECORD_VIOLATIONS)
    await page.goto("/login")
    await page.fill("#login-email", staff.email)
    await page.fill("#login-password", PASSWORD)
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_url("**/desk")
    await page.goto("/desk?sort=last_message_at")
    badge = page.locator(f"[data-department-id='{department}'] .badge")
    assert (await badge.inner_text()).startswith("30")

    # The agent ticks one ticket, walks down to the 15th by keyboard, and scrolls a little.
    await page.check(f"input[name=ids][value='{tickets[3]}']")
    await page.evaluate("document.activeElement.blur()")  # keys typed in a field stay there
    for _ in range(15):
        await page.keyboard.press("j")
    current = page.locator("table.queue tbody tr.is-current")
    assert await current.get_attribute("data-ticket-id") == str(tickets[14])
    await page.mouse.wheel(0, 120)
    await page.wait_for_function("window.scrollY > 0")
    top_before = await current.evaluate("row => row.getBoundingClientRect().top")

    # A customer opens a ticket from somewhere else; the open page shows it, marked new.
    arrived = await make_ticket(customer, department, message="Mail bounces\nSince noon.")
    new_row = page.locator(f"tr[data-ticket-id='{arrived}']")
    await new_row.wait_for()
    assert "is-new" in (await new_row.get_attribute("class") or "")
    assert await page.inner_text("[data-live-note]") == "1 new ticket"
    ids = await page.eval_on_selector_all(
        "table.queue tbody tr", "rows => rows.map(row => row.dataset.ticketId)"
    )
    assert ids[0] == str(arrived) and ids[1:] == [str(ticket) for ticket in tickets]
    await page.wait_for_function(
        f"document.querySelector(\"[data-department-id='{department}'] .badge\")"
        ".textContent.startsWith('31')"
    )

    # Nothing the agent had moved: the ticked box, the current row, its place on screen.
    assert await page.is_checked(f"input[name=ids][value='{tickets[3]}']")
    assert await page.inner_text("[data-selected-count]") == "1 selected"
    assert await current.get_attribute("data-ticket-id") == str(tickets[14])
    top_after = await current.evaluate("row => row.getBoundingClientRect().top")
    assert abs(top_after - top_before) <= 1

    # The keyboard goes on from there, and opens the ticket it reached.
    await page.keyboard.press("j")
    assert await current.get_attribute("data-ticket-id") == str(tickets[15])
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/desk/tickets/{tickets[15]}")
    assert await page.evaluate("window.__violations") == []
