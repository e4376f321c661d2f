"""Which code runs each kind of job: handlers, periodic jobs and their retry rules."""

from __future__ import annotations

import importlib
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from billdesk.settings import get_settings

# Every module that registers handlers or periodic jobs. Workers import them all
# before they claim anything, and so does the app (its admin pages show each
# kind's limits). Add a line for each new module; BILLDESK_JOB_MODULES adds more.
HANDLER_MODULES = [
    "billdesk.jobs.builtin",
    "billdesk.outbox",
    "billdesk.payments.jobs",
    "billdesk.mail.outgoing",
    "billdesk.mail.notify",
    "billdesk.mail.imap",
    "billdesk.passwords",
    "billdesk.telegram.notify",
    "billdesk.sla.escalation",
    "billdesk.sla.automation",
    "billdesk.mail.service_levels",
    "billdesk.login_links",
    "billdesk.outgoing_webhooks",
]

# Without a schedule of its own, a failed job waits 15 s, 30 s, 1 min, … up to 1 h.
DEFAULT_BACKOFF_BASE = 15.0
DEFAULT_BACKOFF_CAP = 3600.0
# Each delay is stretched by up to a quarter, so jobs that failed together
# (a mail server that was down) do not all come back at the same second.
JITTER = 0.25
DEFAULT_TIMEOUT = 300.0

JobFunction = Callable[[dict], Awaitable[None]]


class RetryAfter(Exception):
    """Raised by a handler: try again after `seconds` (e.g. what a 429 asked for).

    It counts as a try: past the job's max attempts the job fails instead.
    """

    def __init__(self, seconds: float | timedelta, reason: str = "") -> None:
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        if seconds < 0:
            raise ValueError("RetryAfter needs a delay of 0 seconds or more")
        self.seconds = float(seconds)
        self.reason = reason or f"asked to retry after {self.seconds:g} s"
        super().__init__(self.reason)


class GiveUp(Exception):
    """Raised by a handler: this job can never succeed; mark it failed now with `reason`."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Handler:
    kind: str
    function: JobFunction
    max_attempts: int | None
    backoff: tuple[float, ...]
    timeout: float
    origin: str

    def attempt_limit(self, job_max_attempts: int | None) -> int:
        """The job's own limit, else this handler's, else BILLDESK_JOB_MAX_ATTEMPTS."""
        return job_max_attempts or self.max_attempts or get_settings().job_max_attempts

    def delay_after(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th try failed, with jitter."""
        return backoff_delay(attempts, self.backoff)


def backoff_delay(attempts: int, schedule: Sequence[float] = ()) -> float:
    """Seconds to wait after the `attempts`-th failed try: the schedule's delay (its
    last one repeating), or 15 s doubling up to 1 h; stretched by up to 25 %."""
    if schedule:
        base = schedule[min(attempts, len(schedule)) - 1]
    else:
        base = min(DEFAULT_BACKOFF_BASE * 2 ** (attempts - 1), DEFAULT_BACKOFF_CAP)
    return base * (1 + random.uniform(0, JITTER))


@dataclass(frozen=True)
class Periodic:
    name: str
    every: timedelta


_handlers: dict[str, Handler] = {}
_periodic: dict[str, Periodic] = {}


def _register(entry: Handler) -> None:
    existing = _handlers.get(entry.kind)
    if existing is not None and existing.origin != entry.origin:
        raise ValueError(f"the job kind {entry.kind!r} already has a handler: {existing.origin}")
    _handlers[entry.kind] = entry


def _origin(function: Callable) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def handler(
    kind: str,
    *,
    max_attempts: int | None = None,
    backoff: Sequence[float] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Callable[[JobFunction], JobFunction]:
    """Register `async def f(payload: dict) -> None` as the code that runs jobs of `kind`.

    Any exception retries the job after a growing delay (`backoff`: seconds after
    the 1st, 2nd, … failed try, the last one repeating; by default 15 s doubling
    up to 1 h), until `max_attempts` tries have failed; then it is `failed`.
    A try that takes longer than `timeout` seconds fails. Handlers must be async
    and never block the event loop (use asyncio.to_thread for blocking calls).
    """
    if max_attempts is not None and max_attempts < 1:
        raise ValueError("max_attempts must be 1 or more")
    schedule = tuple(float(delay) for delay in backoff or ())
    if any(delay < 0 for delay in schedule):
        raise ValueError("backoff delays must be 0 seconds or more")

    def register(function: JobFunction) -> JobFunction:
        _register(
            Handler(
                kind=kind,
                function=function,
                max_attempts=max_attempts,
                backoff=schedule,
                timeout=timeout,
                origin=_origin(function),
            )
        )
        return function

    return register


def periodic(
    name: str, *, every: timedelta, max_attempts: int = 1, timeout: float = DEFAULT_TIMEOUT
) -> Callable[[Callable[[], Awaitable[None]]], Callable[[], Awaitable[None]]]:
    """Run `async def f() -> None` once per `every` across all workers, as a job named `name`.

    A failed run is kept as a `failed` job; by default it is not retried, the
    next interval runs it again. While one run is pending or running, no other
    is added.
    """
    if every <= timedelta(0):
        raise ValueError("every must be a positive interval")

    def register(function: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        async def run(_payload: dict) -> None:
            await function()

        _register(
            Handler(
                kind=name,
                function=run,
                max_attempts=max_attempts,
                backoff=(),
                timeout=timeout,
                origin=_origin(function),
            )
        )
        _periodic[name] = Periodic(name=name, every=every)
        return function

    return register


def registered(kind: str) -> Handler | None:
    """The handler of `kind` in this process, if its module was loaded."""
    return _handlers.get(kind)


def kinds() -> list[str]:
    """Every job kind with a handler in this process, sorted."""
    return sorted(_handlers)


def periodic_jobs() -> list[Periodic]:
    return list(_periodic.values())


def forget(kind: str) -> None:
    """Drop the handler (and the schedule) of `kind`: for tests that define their own."""
    _handlers.pop(kind, None)
    _periodic.pop(kind, None)


def load_handler_modules() -> None:
    """Import HANDLER_MODULES and BILLDESK_JOB_MODULES (again is a no-op)."""
    for name in [*HANDLER_MODULES, *get_settings().job_modules]:
        importlib.import_module(name)
