"""Business hours and the arithmetic of business time over them. Pure: no database, no clock.

A department answers either round the clock, or on a weekly schedule of local
opening spans (`09:00-17:00`, several a day allowed) in a named IANA time zone,
closed on its holidays (local dates). Every span is turned into UTC per local
day, so a daylight-saving change moves the UTC hours as the wall clock does: a
span of 09:00-17:00 stays eight hours long, and a span across a change (00:00-
24:00 on the night the clocks go back) is as long as that night really is.

`add_seconds(start, n)` is the moment `n` business seconds after `start`;
`seconds_between(start, end)` counts the business seconds in `[start, end)`.
For any `start` and `n >= 0`: `seconds_between(start, add_seconds(start, n)) == n`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from billdesk.i18n import tr

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
MAX_DAYS = 3 * 366
"""How far ahead a deadline is looked for: past that, the schedule is treated as never open."""

_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

Span = tuple[int, int]  # local minutes of the day: start, end (end may be 1440, midnight)



class ScheduleError(ValueError):
    """A schedule that cannot be used; `field` names what is wrong (e.g. `week.mon`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def zone(name: str) -> ZoneInfo:
    """The IANA time zone, or ScheduleError naming `timezone`."""
    try:
        if not name or len(name) > 64 or name.startswith("/") or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(
            "timezone",
            tr("%(value)s is not a time zone: use an IANA name such as Europe/Berlin.", value=repr(name)),
        ) from exc


def parse_span(text: str, field: str) -> Span:
    """`'09:00-17:00'` as minutes of the day; the end may be `24:00`."""
    match = _SPAN.match(text)
    if not match:
        raise ScheduleError(field, tr("%(value)s is not a span: write it like 09:00-17:00.", value=repr(text)))
    sh, sm, eh, em = (int(part) for part in match.groups())
    start, end = sh * 60 + sm, eh * 60 + em
    if sm > 59 or em > 59 or start >= DAY_MINUTES or end > DAY_MINUTES:
        raise ScheduleError(field, tr("%(value)s is not a time of day (00:00 to 24:00).", value=repr(text)))
    if end <= start:
        raise ScheduleError(field, tr("%(value)s ends before it starts.", value=repr(text)))
    return start, end


def format_span(span: Span) -> str:
    return f"{span[0] // 60:02d}:{span[0] % 60:02d}-{span[1] // 60:02d}:{span[1] % 60:02d}"


def _at(day: date, minute: int, tz: ZoneInfo) -> datetime:
    if minute >= DAY_MINUTES:
        day, minute = day + timedelta(days=1), minute - DAY_MINUTES
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class BusinessHours:
    """When a department works. `week[0]` is Monday; spans are sorted and do not overlap."""

    timezone: str = "UTC"
    always: bool = True
    week: tuple[tuple[Span, ...], ...] = ((),) * 7
    holidays: frozenset[date] = field(default_factory=frozenset)

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    # ------------------------------------------------------------ building

    @classmethod
    def from_dict(cls, data: dict | None) -> BusinessHours:
        """From the stored/API shape, checked; ScheduleError names the wrong field.

        `{"timezone": "Europe/Berlin", "always": false,
          "week": {"mon": ["09:00-17:00"], …}, "holidays": ["2026-12-25"]}`
        """
        data = data or {}
        if not isinstance(data, dict):
            raise ScheduleError("hours", tr("Business hours must be an object."))
        timezone = data.get("timezone", "UTC")
        if not isinstance(timezone, str):
            raise ScheduleError("timezone", tr("The time zone must be a name such as Europe/Berlin."))
        zone(timezone)
        always = data.get("always", True)
        if not isinstance(always, bool):
            raise ScheduleError("always", tr("always must be true or false."))
        raw_week = data.get("week") or {}
        if not isinstance(raw_week, dict) or set(raw_week) - set(WEEKDAYS):
            raise ScheduleError("week", tr("week maps mon, tue, … sun to lists like ['09:00-17:00']."))
        week: list[tuple[Span, ...]] = []
        for name in WEEKDAYS:
            texts = raw_week.get(name) or []
            if isinstance(texts, str):
                texts = [part for part in re.split(r"[,\s]+(?=\d)", texts) if part.strip()]
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise ScheduleError(f"week.{name}", tr("List the day's spans like ['09:00-17:00']."))
            spans = sorted(parse_span(text, f"week.{name}") for text in texts)
            for before, after in itertools.pairwise(spans):
                if after[0] < before[1]:
                    raise ScheduleError(f"week.{name}", tr("The day's spans overlap."))
            week.append(tuple(spans))
        if not always and not any(week):
            raise ScheduleError(
                "week", tr("Give at least one opening span, or choose round the clock.")
            )
        raw_holidays = data.get("holidays") or []
        if not isinstance(raw_holidays, list) or len(raw_holidays) > 1000:
            raise ScheduleError(
                "holidays", tr("List holidays as dates like 2026-12-25 (at most 1000).")
            )
        holidays = set()
        for text in raw_holidays:
            try:
                holidays.add(date.fromisoformat(str(text).strip()))
            except ValueError as exc:
                raise ScheduleError("holidays", tr("%(value)s is not a date like 2026-12-25.", value=repr(text))) from exc
        return cls(timezone=timezone, always=always, week=tuple(week), holidays=frozenset(holidays))

    def as_dict(self) -> dict:
        return {
            "timezone": self.timezone,
            "always": self.always,
            "week": {
                name: [format_span(span) for span in spans]
                for name, spans in zip(WEEKDAYS, self.week, strict=True)
            },
            "holidays": sorted(day.isoformat() for day in self.holidays),
        }

    # ------------------------------------------------------------ arithmetic

    def spans_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The local day's opening spans as UTC instants (none on a holiday)."""
        if day in self.holidays:
            return []
        tz = self.tz
        result = []
        for start, end in self.week[day.weekday()]:
            begin, finish = _at(day, start, tz), _at(day, end, tz)
            if finish > begin:
                result.append((begin, finish))
        return result

    def _spans_from(
        self, start: datetime, end: datetime | None = None
    ) -> Iterator[tuple[datetime, datetime]]:
        day = start.astimezone(self.tz).date() - timedelta(days=1)
        days = MAX_DAYS if end is None else (end - start).days + 1
        for _ in range(days + 2):
            for begin, finish in self.spans_on(day):
                if finish > start:
                    yield max(begin, start), finish
            day += timedelta(days=1)

    def add_seconds(self, start: datetime, seconds: int) -> datetime:
        """The moment `seconds` business seconds after `start` (`start` itself for 0)."""
        _aware(start)
        if seconds <= 0:
            return start
        if self.always:
            return start + timedelta(seconds=seconds)
        remaining = timedelta(seconds=seconds)
        for begin, finish in self._spans_from(start):
            length = finish - begin
            if remaining <= length:
                return begin + remaining
            remaining -= length
        raise ScheduleError("week", tr("The schedule has no opening hours in the next three years."))

    def add_minutes(self, start: datetime, minutes: int) -> datetime:
        return self.add_seconds(start, minutes * 60)

    def seconds_between(self, start: datetime, end: datetime) -> int:
        """Business seconds in `[start, end)`; 0 when `end` is not after `start`."""
        _aware(start)
        _aware(end)
        if end <= start:
            return 0
        if self.always:
            return int((end - start).total_seconds())
        total = timedelta()
        for begin, finish in self._spans_from(start, end):
            if begin >= end:
                break
            total += min(finish, end) - begin
        return total // timedelta(seconds=1)

    def is_open(self, moment: datetime) -> bool:
        return self.always or self.seconds_between(moment, moment + timedelta(seconds=1)) == 1


ROUND_THE_CLOCK = BusinessHours()


def _aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("business time needs timezone-aware moments")
