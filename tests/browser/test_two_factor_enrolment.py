"""Setting up two-factor sign-in in a real browser: the secret is read from the page as
an authenticator app would take it, its code turns the second factor on, and the next
sign-in asks for a code (a recovery code here, so no test waits for the next step)."""

from __future__ import annotations

import re

import pyotp
import pytest

from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.browser


async def test_enrol_from_the_page_then_sign_in_with_a_recovery_code(browser_page):
    page = browser_page
    agent = await make_user(role="staff", name="Tess Tech")

    await page.goto("/login")
    await page.fill("#login-email", agent.email)
    await page.fill("#login-password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/desk$"))

    await page.goto("/account")
    await page.click("text=Set up two-factor sign-in")
    await page.wait_for_url(re.compile(r"/account/two-factor$"))
    assert await page.locator("img[data-qr]").evaluate("img => img.naturalWidth > 0")
    secret = (await page.inner_text("[data-totp-secret]")).strip()
    await page.fill("#f-code", pyotp.TOTP(secret).now())
    await page.click("button:has-text('Turn on')")
    codes = await page.locator("[data-recovery-codes] code").all_inner_texts()
    assert len(codes) == 10

    await page.click("text=I have saved them")
    await page.click("text=Log out")
    await page.wait_for_url(re.compile(r"/login$"))
    await page.fill("#login-email", agent.email)
    await page.fill("#login-password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/login/code$"))
    await page.fill("#f-code", codes[0])
    await page.click("button:has-text('Sign in')")
    await page.wait_for_url(re.compile(r"/desk$"))
    assert "Tess Tech" in await page.inner_text(".user-chip")
