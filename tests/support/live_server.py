"""billdesk served by uvicorn in a subprocess, on a free port of 127.0.0.1, for tests
that need real HTTP: browsers, Schemathesis, requests racing across worker processes.

It runs against the test database (tests/conftest.py has put it in the environment
the subprocess inherits), so tests create their data through the factories.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# A loaded CI machine can take a minute to import and migrate; a server that never
# comes up still fails the test, only later.
STARTUP_TIMEOUT = 150.0


def _wait_until_up(
    base_url: str, process: subprocess.Popen, timeout: float = STARTUP_TIMEOUT
) -> None:
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


@contextmanager
def serve(*, workers: int = 2, env: dict[str, str] | None = None) -> Iterator[str]:
    """The base URL of billdesk served by `workers` processes, until the block ends."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "--factory", "billdesk.app:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--log-level", "warning",
        ],
        env={**os.environ, "BILLDESK_BASE_URL": base_url, **(env or {})},
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
