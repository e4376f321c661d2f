"""A headless Chromium for the browser tests, on the session's live server
(`live_server` in tests/conftest.py). Tests create their data through the
factories, then drive the pages as a person would.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

CHROMIUM = os.environ.get("BILLDESK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
async def browser_page(live_server: str) -> AsyncIterator:
    """A fresh Playwright page in headless Chromium (one browser per test, no shared state)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = await browser.new_context(base_url=live_server)
        page = await context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            await context.close()
            await browser.close()
