"""A subject of one long unbroken word (a URL, a log line) must not push the page sideways:
the queue and the ticket page keep to the window at desktop and phone widths, and the
phone's tab strip shows every tab."""

from __future__ import annotations

import pytest

from billdesk.tickets.lifecycle import derive_subject
from tests.desk_support import make_desk_ticket
from tests.factories import PASSWORD, add_member, make_department, make_user

pytestmark = pytest.mark.browser

LONG = "https://example.com/" + "a" * 280  # 300 characters, no place to break


async def _log_in(page, email: str, home: str) -> None:
    await page.goto("/login")
    await page.fill("#login-email", email)
    await page.fill("#login-password", PASSWORD)
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_url(f"**{home}")


async def _overflow(page) -> int:
    """How many pixels the document is wider than the window (0 when nothing scrolls sideways)."""
    return await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


@pytest.mark.parametrize("width", [1280, 375])
async def test_a_300_character_word_scrolls_nothing_sideways(browser_page, width):
    page = browser_page
    await page.set_viewport_size({"width": width, "height": 900})
    department = await make_department(name="Hosting")
    staff = await make_user(role="staff", name="Sam Staff")
    customer = await make_user(role="customer", name="Carla Customer")
    await add_member(department_id=department, user_id=staff.id)
    ticket = await make_desk_ticket(customer_id=customer.id, department_id=department,
                                    subject=derive_subject(LONG), body=LONG + "\n\n" + LONG)

    await _log_in(page, staff.email, "/desk")
    assert await _overflow(page) == 0, "the queue scrolls sideways"
    if width == 1280:
        # The table keeps its columns: the subject wraps instead of squeezing them.
        table = await page.evaluate(
            "[document.querySelector('table.queue').scrollWidth,"
            " document.querySelector('.table-wrap').clientWidth]"
        )
        assert table[0] <= table[1]
    await page.goto(f"/desk/tickets/{ticket}")
    assert await _overflow(page) == 0, "the desk's ticket page scrolls sideways"

    await page.context.clear_cookies()
    await _log_in(page, customer.email, "/tickets")
    assert await _overflow(page) == 0, "the customer's list scrolls sideways"
    await page.goto(f"/tickets/{ticket}")
    assert await _overflow(page) == 0, "the customer's ticket page scrolls sideways"
    if width == 375:
        # Every tab is on screen, none hidden past the edge of the strip.
        for label in ("Payment method", "Account"):
            box = await page.locator(".sidebar .nav__link", has_text=label).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, label


async def test_the_queue_filters_fold_away_on_a_phone(browser_page):
    page = browser_page
    await page.set_viewport_size({"width": 375, "height": 800})
    department = await make_department(name="Hosting")
    staff = await make_user(role="staff", name="Sam Staff")
    await add_member(department_id=department, user_id=staff.id)
    await _log_in(page, staff.email, "/desk")
    assert not await page.is_visible("#f-q")
    await page.click("summary:has-text('Filters')")
    assert await page.is_visible("#f-q")
    await page.fill("#f-q", "outage")
    await page.click("button:has-text('Filter')")
    await page.wait_for_url("**q=outage*")
    assert await page.is_visible("#f-q")  # open while a filter is on
