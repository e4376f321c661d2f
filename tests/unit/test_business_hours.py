"""Business-time arithmetic: due times exact to the minute across weekends, holidays,
daylight-saving changes and round-the-clock departments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billdesk.sla.hours import BusinessHours, ScheduleError

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")

OFFICE = BusinessHours.from_dict(
    {
        "timezone": "Europe/Berlin",
        "always": False,
        "week": {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": ["2026-12-25", "2026-12-26"],
    }
)
SPLIT = BusinessHours.from_dict(
    {
        "timezone": "America/New_York",
        "always": False,
        "week": {
            "mon": ["08:00-12:00", "13:00-17:30"],
            "wed": ["22:00-24:00"],
            "thu": ["00:00-02:00"],
            "sat": ["10:00-14:00"],
        },
    }
)
ALWAYS = BusinessHours.from_dict({"timezone": "Asia/Kolkata", "always": True})


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def test_a_target_within_the_day():
    assert OFFICE.add_minutes(berlin(2026, 11, 2, 10, 0), 60) == berlin(2026, 11, 2, 11, 0)


def test_a_target_that_ends_exactly_at_closing_is_due_at_closing():
    assert OFFICE.add_minutes(berlin(2026, 11, 2, 16, 0), 60) == berlin(2026, 11, 2, 17, 0)


def test_a_ticket_opened_at_night_starts_counting_at_opening():
    assert OFFICE.add_minutes(berlin(2026, 11, 2, 22, 30), 30) == berlin(2026, 11, 3, 9, 30)


def test_a_target_that_spans_a_weekend():
    # Friday 16:00 + 4 business hours: one hour on Friday, three on Monday.
    assert OFFICE.add_minutes(berlin(2026, 11, 6, 16, 0), 240) == berlin(2026, 11, 9, 12, 0)
    assert (
        OFFICE.seconds_between(berlin(2026, 11, 6, 16, 0), berlin(2026, 11, 9, 12, 0)) == 240 * 60
    )


def test_a_target_that_spans_holidays():
    # Thursday 24 December 2026, 15:00 + 3 h: 2 h that day, Christmas (Fri) and the weekend
    # closed, the 26th is a holiday on a Saturday anyway; Monday 28th at 10:00.
    assert OFFICE.add_minutes(berlin(2026, 12, 24, 15, 0), 180) == berlin(2026, 12, 28, 10, 0)


def test_a_time_zone_change_keeps_local_opening_hours():
    # Berlin leaves summer time on Sunday 25 October 2026: Friday's 09:00 is 07:00 UTC,
    # Monday's is 08:00 UTC. Friday 16:30 + 60 minutes is Monday 09:30 local, 08:30 UTC.
    due = OFFICE.add_minutes(berlin(2026, 10, 23, 16, 30), 60)
    assert due == datetime(2026, 10, 26, 8, 30, tzinfo=UTC)
    assert due.astimezone(BERLIN).hour == 9


def test_spring_forward_in_new_york():
    # 8 March 2026, 02:00 EST becomes 03:00 EDT. A span 00:00-24:00 on that Sunday is 23 h.
    day = BusinessHours.from_dict(
        {"timezone": "America/New_York", "always": False, "week": {"sun": ["00:00-24:00"]}}
    )
    start = datetime(2026, 3, 8, 0, 0, tzinfo=NEW_YORK)
    assert day.seconds_between(start, start + timedelta(days=2)) == 23 * 3600
    assert day.add_minutes(start, 23 * 60) == datetime(2026, 3, 9, 0, 0, tzinfo=NEW_YORK)


def test_fall_back_night_is_twenty_five_hours():
    day = BusinessHours.from_dict(
        {"timezone": "Europe/Berlin", "always": False, "week": {"sun": ["00:00-24:00"]}}
    )
    start = berlin(2026, 10, 25, 0, 0)
    assert day.seconds_between(start, berlin(2026, 10, 26, 0, 0)) == 25 * 3600


def test_round_the_clock_is_plain_time():
    start = datetime(2026, 3, 28, 23, 59, tzinfo=UTC)
    assert ALWAYS.add_minutes(start, 3 * 24 * 60) == start + timedelta(days=3)
    assert ALWAYS.seconds_between(start, start + timedelta(hours=5)) == 5 * 3600


def test_split_days_and_spans_that_meet_at_midnight():
    # Wednesday 23:00 New York + 90 min: 60 until midnight, 30 after it on Thursday.
    start = datetime(2026, 11, 4, 23, 0, tzinfo=NEW_YORK)
    assert SPLIT.add_minutes(start, 90) == datetime(2026, 11, 5, 0, 30, tzinfo=NEW_YORK)
    # Monday 11:00 + 2 h: one before lunch, one after.
    monday = datetime(2026, 11, 2, 11, 0, tzinfo=NEW_YORK)
    assert SPLIT.add_minutes(monday, 120) == datetime(2026, 11, 2, 14, 0, tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "../etc/passwd"}, "timezone"),
        ({"always": False, "week": {"mon": ["17:00-09:00"]}}, "week.mon"),
        ({"always": False, "week": {"mon": ["09:00-12:00", "11:00-13:00"]}}, "week.mon"),
        ({"always": False, "week": {"mon": ["9-5"]}}, "week.mon"),
        ({"always": False, "week": {"mon": ["09:00-24:30"]}}, "week.mon"),
        ({"always": False, "week": {"funday": ["09:00-17:00"]}}, "week"),
        ({"always": False, "week": {}}, "week"),
        ({"holidays": ["christmas"]}, "holidays"),
        ({"always": "yes"}, "always"),
    ],
)
def test_bad_schedules_name_the_field(data, field):
    with pytest.raises(ScheduleError) as caught:
        BusinessHours.from_dict(data)
    assert caught.value.field == field


def test_the_stored_shape_round_trips():
    assert BusinessHours.from_dict(OFFICE.as_dict()) == OFFICE
    assert BusinessHours.from_dict(SPLIT.as_dict()) == SPLIT


# ------------------------------------------------------------------ properties

moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
whole_seconds = moments.map(lambda moment: moment.replace(microsecond=0))
amounts = st.integers(min_value=0, max_value=60 * 24 * 40)
schedules = st.sampled_from([OFFICE, SPLIT, ALWAYS])


@settings(max_examples=100, deadline=None)
@given(schedule=schedules, start=moments, minutes=amounts)
def test_counting_back_the_business_time_of_a_due_time_gives_the_target(schedule, start, minutes):
    due = schedule.add_minutes(start, minutes)
    assert due >= start
    assert schedule.seconds_between(start, due) == minutes * 60


@settings(max_examples=100, deadline=None)
@given(schedule=schedules, start=moments, first=amounts, second=amounts)
def test_two_targets_in_a_row_are_one_target(schedule, start, first, second):
    assert schedule.add_minutes(schedule.add_minutes(start, first), second) == (
        schedule.add_minutes(start, first + second)
    )


@settings(max_examples=100, deadline=None)
@given(schedule=schedules, start=moments, minutes=st.integers(min_value=1, max_value=60 * 24 * 40))
def test_a_due_time_falls_in_opening_hours(schedule, start, minutes):
    due = schedule.add_minutes(start, minutes)
    assert schedule.is_open(due - timedelta(seconds=1))


@settings(max_examples=100, deadline=None)
@given(schedule=schedules, start=whole_seconds, end=whole_seconds, middle=whole_seconds)
def test_business_time_adds_up_over_a_split(schedule, start, end, middle):
    start, middle, end = sorted([start, middle, end])
    assert schedule.seconds_between(start, end) == (
        schedule.seconds_between(start, middle) + schedule.seconds_between(middle, end)
    )
