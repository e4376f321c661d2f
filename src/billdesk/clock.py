"""The time billdesk acts on: UTC, timezone-aware, and settable by tests.

Code that decides by time (sessions, throttles, job schedules, service-level
timers, expiring links) asks `clock.now()` rather than the system clock, so a
test can move time forward instead of sleeping. Outside tests the clock is the
system clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

_frozen: datetime | None = None


def now() -> datetime:
    """The current time in UTC (the frozen time while a test holds the clock)."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def freeze(at: datetime) -> None:
    """Stop the clock at `at` (tests only)."""
    global _frozen
    if at.tzinfo is None:
        raise ValueError("freeze() needs a timezone-aware time")
    _frozen = at.astimezone(UTC)


def advance(by: timedelta) -> datetime:
    """Move a frozen clock forward (tests only); returns the new time."""
    if _frozen is None:
        raise RuntimeError("advance() needs a frozen clock: call freeze() first")
    freeze(_frozen + by)
    assert _frozen is not None
    return _frozen


def unfreeze() -> None:
    """Back to the system clock."""
    global _frozen
    _frozen = None


@contextmanager
def frozen(at: datetime) -> Iterator[None]:
    """Hold the clock at `at` for the block."""
    freeze(at)
    try:
        yield
    finally:
        unfreeze()
