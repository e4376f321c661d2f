"""A live server and a headless Chromium for the browser tests.

The server is `uvicorn` running `billdesk.app:create_app` in a subprocess on a
free port of 127.0.0.1, against the same test database (tests/conftest.py has
already put it in the environment the subprocess inherits). Tests create their
data through the factories, then drive the pages as a person would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

CHROMIUM = os.environ.get("BILLDESK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(base_url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the live server exited with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the live server did not answer /healthz in time")


@pytest.fixture(scope="session")
def live_server(database: None) -> Iterator[str]:
    """The base URL of a running billdesk on the test database."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "BILLDESK_BASE_URL": base_url}
    process = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "--factory", "billdesk.app:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        ],
        env=env,
    )
    try:
        _wait_until_up(base_url, process)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


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
