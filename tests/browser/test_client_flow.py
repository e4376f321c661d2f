"""A customer's whole ticket, in a real browser: open with a file, follow, reply, close, archive."""

from __future__ import annotations

import re

import pytest

from billdesk.tables import Attachment, Ticket
from tests.factories import PASSWORD, make_department, make_service, make_user

pytestmark = pytest.mark.browser

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def test_customer_opens_follows_replies_closes_and_archives(browser_page, tmp_path):
    page = browser_page
    customer = await make_user(name="Carla Customer")
    department = await make_department(name="Hosting support", free_tickets=3)
    await make_service(customer_id=customer.id, name="vps-amsterdam")
    screenshot = tmp_path / "error.png"
    screenshot.write_bytes(PNG)
    page.on("dialog", lambda dialog: dialog.accept())

    await page.goto("/login")
    await page.fill("#login-email", customer.email)
    await page.fill("#login-password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/tickets$"))

    await page.goto("/tickets/new")
    await page.select_option("#f-department_id", str(department))
    assert "3 of 3 free tickets left" in await page.inner_text("[data-quota-info]")
    await page.select_option("#f-service_id", label="vps-amsterdam · active (vps)")
    await page.fill("#f-message", "Website returns 502\nSince this morning, every page.")
    assert await page.inner_text("[data-subject-preview]") == "Website returns 502"
    await page.set_input_files("#f-attachments", str(screenshot))
    await page.click("text=Open ticket")
    await page.wait_for_url(re.compile(r"/tickets/\d+$"))
    ticket_id = int(page.url.rsplit("/", 1)[1])
    assert "Website returns 502" in await page.inner_text("h1")
    assert await page.locator("a[download]", has_text="error.png").count() == 1

    await page.goto("/tickets")
    row = page.locator("tr", has_text="Website returns 502")
    assert await row.count() == 1
    assert "vps-amsterdam" in await row.inner_text()
    await row.locator("a").click()
    await page.wait_for_url(re.compile(rf"/tickets/{ticket_id}$"))

    await page.fill("#f-body", "Here is more detail: it started at 08:00.")
    await page.click("text=Send reply")
    await page.wait_for_url(re.compile(rf"/tickets/{ticket_id}$"))
    assert "it started at 08:00" in await page.inner_text(".thread")

    await page.click("text=Close ticket")
    await page.wait_for_selector("text=This ticket is solved and read-only")
    assert await page.locator("text=Send reply").count() == 0

    await page.click("button:has-text('Archive')")
    await page.wait_for_selector("text=archived")
    await page.goto("/tickets")
    assert await page.locator("tr", has_text="Website returns 502").count() == 0
    await page.goto("/tickets?archived=1")
    assert await page.locator("tr", has_text="Website returns 502").count() == 1

    ticket = await Ticket.select().where(Ticket.id == ticket_id).first()
    assert ticket["status"] == "solved" and ticket["archived"] is True
    assert await Attachment.count().where(Attachment.ticket == ticket_id) == 1
