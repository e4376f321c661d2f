"""The desk by keyboard in a real browser: j/k move in the queue, Enter opens, r replies,
/ searches, ? lists the keys, and nothing fires while typing in a field."""

from __future__ import annotations

import pytest

from billdesk.tables import Message
from tests.desk_support import make_desk_ticket
from tests.factories import PASSWORD, add_member, make_department, make_user


@pytest.mark.browser
async def test_keyboard_moves_opens_and_replies(browser_page):
    page = browser_page
    department = await make_department(name="Hosting")
    staff = await make_user(role="staff", name="Kim Keys")
    customer = await make_user(role="customer", name="Carla Customer")
    await add_member(department_id=department, user_id=staff.id)
    await make_desk_ticket(
        customer_id=customer.id, department_id=department, subject="Newest ticket", minutes_ago=1
    )
    older = await make_desk_ticket(
        customer_id=customer.id, department_id=department, subject="Older ticket", minutes_ago=5
    )

    await page.goto("/login")
    await page.fill("#login-email", staff.email)
    await page.fill("#login-password", PASSWORD)
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_url("**/desk")

    current = page.locator("table.queue tbody tr.is-current")
    await page.keyboard.press("j")
    assert "Newest ticket" in await current.inner_text()
    await page.keyboard.press("j")
    assert "Older ticket" in await current.inner_text()
    await page.keyboard.press("k")
    await page.keyboard.press("j")

    # "/" goes to the search box; letters typed there stay letters.
    await page.keyboard.press("/")
    assert await page.evaluate("document.activeElement.name") == "q"
    await page.keyboard.type("jk")
    assert await page.input_value("#f-q") == "jk"
    assert "Older ticket" in await current.inner_text()
    await page.keyboard.press("Escape")
    await page.evaluate("document.activeElement.blur()")

    await page.keyboard.press("?")
    assert await page.locator("dialog[data-keys-help]").is_visible()
    await page.keyboard.press("Escape")

    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/desk/tickets/{older}")
    await page.keyboard.press("r")
    assert await page.evaluate("document.activeElement.name") == "body"
    await page.keyboard.type("Typed without the mouse")
    await page.click("button:has-text('Send')")
    await page.wait_for_url(f"**/desk/tickets/{older}")
    bodies = [
        row["body"] for row in await Message.select(Message.body).where(Message.ticket == older)
    ]
    assert "Typed without the mouse" in bodies
