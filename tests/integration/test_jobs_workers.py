"""Workers as they run in production: inside the app, and as `billdesk worker` processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from billdesk import jobs
from billdesk.app import create_app
from billdesk.cli import main
from billdesk.db import DB
from billdesk.jobs.runner import SQLiteJobLock
from billdesk.settings import get_settings
from billdesk.tables import Job

ROOT = Path(__file__).resolve().parents[2]
BILLDESK = str(Path(sys.executable).with_name("billdesk"))
# The app's lifespan (and so its worker) may run on another thread's event loop.
SIGNALS: dict[str, threading.Event] = {}


@jobs.handler("test.worker.signal")
async def signal_the_test(payload: dict) -> None:
    SIGNALS[payload["name"]].set()


async def test_the_app_runs_a_worker_from_start_to_shutdown():
    app = create_app(pooled=False, worker=True)
    in_app = next(
        hook.__self__
        for hook in app.on_startup
        if isinstance(getattr(hook, "__self__", None), jobs.InAppWorker)
    )
    SIGNALS["in-app"] = threading.Event()
    async with AsyncTestClient(app=app):
        started = time.monotonic()
        await jobs.enqueue("test.worker.signal", {"name": "in-app"})
        assert await asyncio.to_thread(SIGNALS["in-app"].wait, 5)
        assert time.monotonic() - started < 2.5  # due now, idle worker: about a second
    assert in_app._task is None  # stopped with the app
    if not get_settings().is_postgres:
        lock = SQLiteJobLock(DB.path)
        assert lock.acquire(), "the stopped worker let go of the SQLite job lock"
        lock.release()


@pytest.mark.skipif(
    get_settings().is_postgres, reason="the job lock is SQLite's; PostgreSQL shares the queue"
)
def test_a_second_worker_on_sqlite_refuses_to_start(capsys):
    lock = SQLiteJobLock(DB.path)
    assert lock.acquire()
    try:
        with pytest.raises(SystemExit) as exited:
            main(["worker"])
    finally:
        lock.release()
    assert exited.value.code == 1
    assert (
        "another process already runs the jobs of this SQLite database" in capsys.readouterr().err
    )


def _start_worker(log_dir: Path, name: str, env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    stderr = log_dir / f"{name}.stderr"
    process = subprocess.Popen(
        [BILLDESK, "worker"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=stderr.open("wb"),
    )
    return process, stderr


async def _wait_until(condition, *, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("BILLDESK_TEST_DATABASE_URL"),
    reason="needs PostgreSQL: set BILLDESK_TEST_DATABASE_URL (CI does)",
)
async def test_two_worker_processes_run_each_of_200_jobs_exactly_once(tmp_path):
    runs = tmp_path / "runs.log"
    env = {
        **os.environ,
        "BILLDESK_JOB_MODULES": "tests.support.job_handlers",
        "BILLDESK_TEST_JOB_LOG": str(runs),
        "PYTHONPATH": str(ROOT),
    }
    workers = [_start_worker(tmp_path, name, env) for name in ("one", "two")]
    try:

        async def both_started() -> bool:
            for process, stderr in workers:
                assert process.poll() is None, stderr.read_text()[-2000:]
            return all("started" in stderr.read_text() for _, stderr in workers)

        await _wait_until(both_started, within=30, what="both workers to start")

        async def all_succeeded(count: int) -> bool:
            return await Job.count().where(Job.status == "succeeded") == count

        started = time.monotonic()
        await jobs.enqueue("test.worker.record", {"n": -1})
        await _wait_until(lambda: all_succeeded(1), within=10, what="the first job")
        latency = time.monotonic() - started
        assert latency < 2.5, f"a due job waited {latency:.2f} s on idle workers"

        started = time.monotonic()
        async with DB.transaction():
            for n in range(200):
                await jobs.enqueue("test.worker.record", {"n": n})
        await _wait_until(lambda: all_succeeded(201), within=60, what="200 jobs")
        elapsed = time.monotonic() - started
    finally:
        for process, _ in workers:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=30) for process, _ in workers]
    assert codes == [0, 0]

    lines = [line.split() for line in runs.read_text().splitlines()]
    times_run = Counter(int(n) for n, _ in lines)
    assert times_run == Counter(range(-1, 200)), "some job ran twice or never"
    by_worker = Counter(pid for _, pid in lines)
    assert set(by_worker) == {str(process.pid) for process, _ in workers}, by_worker
    print(
        f"\nfirst job ran {latency:.2f} s after enqueue; 200 jobs took {elapsed:.2f} s; split {dict(by_worker)}"
    )


def _runs_a_worker(app) -> bool:
    return any(
        isinstance(getattr(hook, "__self__", None), jobs.InAppWorker) for hook in app.on_startup
    )


def test_serve_runs_the_worker_in_each_app_process_unless_told_not_to(monkeypatch):
    import uvicorn

    served = []
    monkeypatch.setattr(
        uvicorn, "run", lambda app, **options: served.append((app, options))
    )
    monkeypatch.setenv("BILLDESK_WORKER_IN_APP", "1")  # what a fresh environment means
    get_settings.cache_clear()
    try:
        main(["serve", "--workers", "2"])
        assert _runs_a_worker(create_app(pooled=False))
        main(["serve", "--workers", "2", "--no-worker"])
        # uvicorn's worker processes inherit the environment the factory reads.
        assert os.environ["BILLDESK_WORKER_IN_APP"] == "0"
        assert not _runs_a_worker(create_app(pooled=False))
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert [app for app, _ in served] == ["billdesk.app:create_app"] * 2
