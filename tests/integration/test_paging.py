"""The cursor pagination shared by the API's lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billdesk.errors import ValidationFailed
from billdesk.tables import Department
from billdesk.web.paging import decode_cursor, encode_cursor, keyset_page, parse_limit
from tests.factories import make_department


def test_limit_defaults_and_bounds():
    assert parse_limit(None) == 50
    assert parse_limit(1) == 1
    assert parse_limit(100) == 100
    for bad in (0, 101, -3):
        with pytest.raises(ValidationFailed) as caught:
            parse_limit(bad)
        assert "limit" in caught.value.errors


def test_cursor_round_trip_and_garbage():
    moment = datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
    assert decode_cursor(encode_cursor(moment, 7)) == (moment, 7)
    assert decode_cursor(encode_cursor(None, 3)) == (None, 3)
    for bad in ("!!!", "bm90IGpzb24", encode_cursor(None, 1)[:-3] + "x"):
        with pytest.raises(ValidationFailed) as caught:
            decode_cursor(bad)
        assert "cursor" in caught.value.errors


async def test_pages_by_id_cover_every_row_once():
    ids = [await make_department() for _ in range(5)]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        rows, cursor = await keyset_page(
            Department.select(Department.id), sort=None, id_column=Department.id,
            limit=2, cursor=cursor,
        )
        seen += [row["id"] for row in rows]
        pages += 1
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    assert pages == 3


async def test_pages_by_time_then_id_with_ties():
    ids = [await make_department() for _ in range(5)]
    base = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    # Two rows share a time: the id breaks the tie.
    hour = timedelta(hours=1)
    times = [base, base + hour, base + hour, base + 2 * hour, base]
    for dep_id, moment in zip(ids, times, strict=True):
        await Department.update({Department.created_at: moment}).where(Department.id == dep_id)
    seen: list[int] = []
    cursor = None
    while True:
        rows, cursor = await keyset_page(
            Department.select(Department.id, Department.created_at), sort=Department.created_at,
            id_column=Department.id, limit=2, cursor=cursor,
        )
        seen += [row["id"] for row in rows]
        if cursor is None:
            break
    expected = sorted(ids, key=lambda i: (times[ids.index(i)], i), reverse=True)
    assert seen == expected
