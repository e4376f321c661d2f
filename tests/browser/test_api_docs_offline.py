"""/api/docs with no network: every request to anything but the local server is refused,
and the viewer still renders the API, with the body of POST /api/v1/tickets."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser


async def test_the_api_docs_render_with_every_outside_request_blocked(browser_page):
    page = browser_page
    refused: list[str] = []

    async def only_local(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            refused.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_local)
    await page.goto("/api/docs")
    await page.wait_for_selector(".swagger-ui .opblock")
    assert refused == []  # nothing was even tried outside
    tickets = page.locator(".opblock-post", has=page.locator("[data-path='/api/v1/tickets']"))
    await tickets.first.locator(".opblock-summary").click()
    body = tickets.first.locator(".opblock-section-request-body")
    await body.wait_for()
    text = await tickets.first.inner_text()
    assert "No parameters" not in text or "Request body" in text
    assert "department_id" in text and "message" in text
