"""How long the per-request session lookup takes, with many sessions stored.

Every page request resolves its session cookie to a user with one indexed query;
this measures it against a throw-away SQLite database (or DATABASE_URL).

    .venv/bin/python bench/bench_session_lookup.py [--sessions 5000] [--lookups 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time


async def main(sessions: int, lookups: int) -> None:
    from billdesk.accounts import create_user
    from billdesk.auth import start_session, user_for_session
    from billdesk.cli import migrate

    await migrate()
    user_id = await create_user(
        email=f"bench{time.time_ns()}@example.test",
        name="Bench",
        role="customer",
        password="bench password",
    )
    tokens = [(await start_session(user_id=user_id))[0] for _ in range(sessions)]
    timings = []
    for n in range(lookups):
        started = time.perf_counter()
        assert await user_for_session(tokens[n % len(tokens)]) is not None
        timings.append(time.perf_counter() - started)
    timings.sort()
    print(f"sessions stored: {sessions}, lookups: {lookups}")
    print(
        f"median {statistics.median(timings) * 1000:.3f} ms, "
        f"p95 {timings[int(len(timings) * 0.95)] * 1000:.3f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ:
        folder = tempfile.mkdtemp(prefix="billdesk-bench-")
        os.environ["BILLDESK_DATA_DIR"] = folder
        os.environ["DATABASE_URL"] = f"sqlite:///{folder}/bench.sqlite3"
    asyncio.run(main(args.sessions, args.lookups))
