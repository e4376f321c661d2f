"""Forgot password in a real browser: the link arrives at the mail server, the new
password is chosen on its page, and the person is logged in."""

from __future__ import annotations

import re

import pytest

from billdesk import jobs
from tests.factories import make_user
from tests.support.mailbox import text_of

pytestmark = pytest.mark.browser


async def test_forgot_password_mail_new_password_logged_in(browser_page, mailbox):
    page = browser_page
    customer = await make_user(name="Carla Customer", email="carla@carla.test")

    await page.goto("/login")
    await page.click("text=Forgot your password?")
    await page.wait_for_url(re.compile(r"/password/forgot$"))
    await page.fill("#f-email", customer.email)
    await page.click("button[type=submit]")
    assert "If an account uses this address" in await page.inner_text("[data-reset-sent]")

    await jobs.drain()  # the worker's part: find the account, mail the link
    [mail] = mailbox.to(customer.email)
    link = re.search(r"/password/reset/[A-Za-z0-9_-]+", text_of(mail))
    assert link, text_of(mail)

    await page.goto(link.group(0))
    assert "Choose a new password" in await page.inner_text("h1")
    await page.fill("#f-password", "purple elephant marmalade")
    await page.fill("#f-password_repeat", "purple elephant marmalade")
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/tickets$"))
    assert "Carla Customer" in await page.inner_text(".user-chip")

    # The link is spent; the new password logs in.
    await page.goto(link.group(0))
    assert "does not work any more" in await page.inner_text("main")
    await page.click("text=Log out")
    await page.wait_for_url(re.compile(r"/login$"))
    await page.fill("#login-email", customer.email)
    await page.fill("#login-password", "purple elephant marmalade")
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/tickets$"))
