"""The worker: claims due jobs, runs their handlers and records what came of each try."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import socket
import time
from pathlib import Path

from piccolo.engine.sqlite import SQLiteEngine

from billdesk.db import DB
from billdesk.jobs import registry, store
from billdesk.jobs.registry import GiveUp, RetryAfter
from billdesk.jobs.store import ClaimedJob
from billdesk.settings import get_settings

log = logging.getLogger("billdesk.jobs")

HEARTBEAT_SECONDS = store.LEASE.total_seconds() / 4
# How long a stopping worker lets running handlers finish before it gives their jobs back.
STOP_GRACE_SECONDS = 10.0
STANDBY_SECONDS = 5.0
MAX_PAUSE_SECONDS = 30.0
DRAIN_ROUNDS = 1000


class WorkerBusy(Exception):
    """Another process already runs the jobs of this SQLite database."""


def worker_name() -> str:
    """host:pid:random, unique to one worker for as long as it runs."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class SQLiteJobLock:
    """An exclusive lock file beside the SQLite database: its holder is the one
    process that runs the jobs. Released by the OS when the process dies."""

    def __init__(self, database_path: str) -> None:
        self.path = Path(f"{database_path}.jobs-lock")
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class Runner:
    """Runs jobs in this process. `run()` works until `stop()`; `run_once()` is one round."""

    def __init__(
        self,
        *,
        name: str | None = None,
        concurrency: int | None = None,
        poll_seconds: float | None = None,
    ) -> None:
        settings = get_settings()
        self.name = name or worker_name()
        self.concurrency = concurrency or settings.job_concurrency
        self.poll_seconds = poll_seconds or settings.job_poll_seconds
        self._running: dict[asyncio.Task, ClaimedJob] = {}
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._schedules_ready = False

    # ------------------------------------------------------------ one try

    async def run_job(self, job: ClaimedJob) -> None:
        """Run one claimed job's handler and record the outcome of the try."""
        entry = registry.registered(job.kind)
        limit = store.attempt_limit(job.kind, job.max_attempts)
        if job.attempts > limit:
            # Only a try that never finished (its worker stopped) gets here.
            await store.mark_failed(
                job,
                error=f"Gave up after {limit} tries; the last one never finished "
                "(its worker stopped).",
            )
            log.error("job %s (%s) failed: its worker stopped on the last try", job.id, job.kind)
            return
        deadline: asyncio.Timeout | None = None
        try:
            if entry is None:
                raise LookupError(f"no handler for the job kind {job.kind!r} in this worker")
            async with asyncio.timeout(entry.timeout) as deadline:
                await entry.function(job.payload)
        except GiveUp as exc:
            await self._fail(job, f"Gave up: {exc.reason}")
        except RetryAfter as exc:
            await self._retry_or_fail(job, limit, delay=exc.seconds, error=exc.reason)
        except Exception as exc:
            log.warning("job %s (%s) try %s failed", job.id, job.kind, job.attempts, exc_info=True)
            delay = (
                entry.delay_after(job.attempts) if entry else registry.backoff_delay(job.attempts)
            )
            if entry is not None and deadline is not None and deadline.expired():
                error = f"The try took longer than {entry.timeout:g} s and was stopped."
            else:
                error = f"{type(exc).__name__}: {exc}".strip().removesuffix(":")
            await self._retry_or_fail(job, limit, delay=delay, error=error)
        else:
            if not await store.mark_succeeded(job):
                log.warning("job %s (%s) finished after its lease was lost", job.id, job.kind)

    async def _retry_or_fail(
        self, job: ClaimedJob, limit: int, *, delay: float, error: str
    ) -> None:
        if job.attempts >= limit:
            tries = "1 try" if job.attempts == 1 else f"{job.attempts} tries"
            await self._fail(job, f"{error} (after {tries})")
        else:
            await store.mark_retry(job, delay=delay, error=error)
            log.info("job %s (%s) will be tried again in %.0f s", job.id, job.kind, delay)

    async def _fail(self, job: ClaimedJob, error: str) -> None:
        await store.mark_failed(job, error=error)
        log.error("job %s (%s) failed: %s", job.id, job.kind, error)

    # ------------------------------------------------------------- rounds

    async def housekeeping(self, *, periodic: bool = True) -> None:
        """Take back jobs of stopped workers; enqueue the periodic jobs that are due."""
        await store.release_expired_leases()
        if periodic:
            if not self._schedules_ready:
                await store.ensure_schedules(registry.periodic_jobs())
                self._schedules_ready = True
            await store.enqueue_due_periodics(registry.periodic_jobs())

    async def run_once(self, *, periodic: bool = True) -> int:
        """One round: housekeeping, then claim due jobs and run them; returns how many ran."""
        await self.housekeeping(periodic=periodic)
        claimed = await store.claim(self.name, self.concurrency)
        await asyncio.gather(*(self.run_job(job) for job in claimed))
        return len(claimed)

    # -------------------------------------------------------------- serve

    async def run(self, *, standby: bool = True) -> None:
        """Claim and run jobs until stop().

        On SQLite one process runs the jobs: this one waits while another holds
        the lock (`standby`), or raises WorkerBusy at once.
        """
        registry.load_handler_modules()
        lock = None
        if isinstance(DB, SQLiteEngine):
            lock = SQLiteJobLock(DB.path)
            if not lock.acquire():
                if not standby:
                    raise WorkerBusy(
                        "another process already runs the jobs of this SQLite database "
                        "(billdesk serve does, unless started with --no-worker)"
                    )
                log.info("jobs of this SQLite database run in another process; standing by")
                while not lock.acquire():
                    await self._pause(STANDBY_SECONDS)
                    if self._stopping.is_set():
                        return
        log.info("job worker %s started", self.name)
        try:
            await self._loop()
        finally:
            await self._let_running_finish()
            if lock is not None:
                lock.release()
            log.info("job worker %s stopped", self.name)

    def stop(self) -> None:
        """Ask run() to return: no new claims; running handlers get a short grace."""
        self._stopping.set()
        self._wake.set()

    async def _loop(self) -> None:
        last_chores = last_heartbeat = float("-inf")
        failures = 0
        while not self._stopping.is_set():
            self._wake.clear()
            free = self.concurrency - len(self._running)
            try:
                if time.monotonic() - last_chores >= self.poll_seconds:
                    await self.housekeeping()
                    last_chores = time.monotonic()
                if self._running and time.monotonic() - last_heartbeat >= HEARTBEAT_SECONDS:
                    await store.extend_leases(self.name)
                    last_heartbeat = time.monotonic()
                claimed = await store.claim(self.name, free) if free > 0 else []
            except Exception:
                failures += 1
                log.exception("job worker %s: the database did not answer", self.name)
                await self._pause(min(self.poll_seconds * 2**failures, MAX_PAUSE_SECONDS))
                continue
            failures = 0
            for job in claimed:
                task = asyncio.create_task(self.run_job(job), name=f"job-{job.id}")
                self._running[task] = job
                task.add_done_callback(self._finished)
            if claimed and len(claimed) == free:
                continue  # more may be due: claim again as soon as a slot frees up
            await self._pause(self.poll_seconds)

    def _finished(self, task: asyncio.Task) -> None:
        job = self._running.pop(task, None)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None and job is not None:
            # The outcome could not be written; the lease will lapse and the job run again.
            log.error(
                "job %s (%s): recording the outcome failed",
                job.id,
                job.kind,
                exc_info=task.exception(),
            )

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def _let_running_finish(self) -> None:
        if not self._running:
            return
        _, unfinished = await asyncio.wait(list(self._running), timeout=STOP_GRACE_SECONDS)
        if not unfinished:
            return
        given_back = [self._running[task] for task in unfinished if task in self._running]
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        with contextlib.suppress(Exception):
            await store.release(given_back)
        log.info("job worker %s gave back %s unfinished jobs", self.name, len(given_back))


class InAppWorker:
    """The worker `billdesk serve` runs inside each app process: started and stopped
    by the app's lifespan hooks."""

    def __init__(self) -> None:
        self._runner: Runner | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._runner = Runner()
        self._task = asyncio.create_task(self._runner.run(), name="billdesk-jobs")

    async def stop(self) -> None:
        if self._runner is None or self._task is None:
            return
        self._runner.stop()
        try:
            await self._task
        except Exception:
            log.exception("the job worker stopped with an error")
        self._runner = self._task = None


async def drain(*, periodic: bool = False) -> int:
    """Run, here and now, every job that is due by billdesk.clock, until none is left.

    For tests: jobs enqueued by the handlers run too, when due. Periodic jobs
    are scheduled only with `periodic=True` (their first run is one interval
    after the first drain). Returns how many tries ran.
    """
    registry.load_handler_modules()
    runner = Runner(name=f"drain:{worker_name()}")
    ran = 0
    for _ in range(DRAIN_ROUNDS):
        count = await runner.run_once(periodic=periodic)
        if count == 0:
            return ran
        ran += count
    raise RuntimeError(f"drain(): jobs still due after {DRAIN_ROUNDS} rounds")
