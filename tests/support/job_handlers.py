"""A job handler for the tests that start `billdesk worker` processes, loaded
there through BILLDESK_JOB_MODULES. Each run appends "<n> <pid>" to the file
named by BILLDESK_TEST_JOB_LOG (one small O_APPEND write: lines never mix)."""

from __future__ import annotations

import asyncio
import os

from billdesk import jobs


@jobs.handler("test.worker.record")
async def record_run(payload: dict) -> None:
    await asyncio.sleep(0.05)  # long enough for both idle workers to wake and take a share
    line = f"{payload['n']} {os.getpid()}\n".encode()
    fd = os.open(os.environ["BILLDESK_TEST_JOB_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
