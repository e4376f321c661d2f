"""The pages' scripts run under the Content-Security-Policy with nothing blocked."""

from __future__ import annotations

import re

import pytest

from tests.factories import PASSWORD, make_department, make_user

pytestmark = pytest.mark.browser

RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


async def test_pages_run_their_scripts_without_a_policy_violation(browser_page):
    page = browser_page
    customer = await make_user()
    await make_department(name="Hosting support", free_tickets=0, ticket_price=900)
    await page.add_init_script(RECORD_VIOLATIONS)
    await page.goto("/login")
    await page.fill("#login-email", customer.email)
    await page.fill("#login-password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/tickets$"))
    await page.goto("/tickets/new")
    await page.select_option("#f-department_id", label="Hosting support")
    await page.fill("#f-message", "Mail bounces\nSince noon.")
    # The behaviours of static/js ran: the subject preview and the price warning.
    assert await page.inner_text("[data-subject-preview]") == "Mail bounces"
    assert "9.00 USD" in await page.inner_text("[data-price-warning-text]")
    assert await page.evaluate("window.__violations") == []
