"""Cursor pagination for the JSON API's lists (API.md, "General").

A list answers `{"items": [...], "next_cursor": "…" | null}`. `?limit=` is 1-100
(default 50); `?cursor=` is the opaque `next_cursor` of the previous page. Pages
are keyset pages: the cursor holds the sort value and id of the last row shown,
and the next page starts strictly after it, so rows added or changed meanwhile
never make a page repeat or skip a row.

Usage, newest activity first:

    limit = parse_limit(limit)
    rows, next_cursor = await keyset_page(
        query, sort=Ticket.last_message_at, id_column=Ticket.id, limit=limit, cursor=cursor,
    )
    return page(items, next_cursor)

or by id alone: `keyset_page(query, sort=None, id_column=Table.id, ...)`.

A list whose page is a `billdesk.sql.Statement` pages the same way with the same
cursors: `time_cursor` gives the (time, id) to start after, the statement asks for
`limit + 1` rows after it, and `cut_page` keeps `limit` and makes the next cursor.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from piccolo.columns import Column, Timestamp, Timestamptz
from piccolo.columns.combination import WhereRaw
from piccolo.query import Select

from billdesk.errors import ValidationFailed
from billdesk.i18n import tr
from billdesk.validation import MAX_ID

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_CURSOR = 200
"""Longer than any cursor billdesk makes (a timestamp and an id)."""


def parse_limit(limit: int | None) -> int:
    """The page size asked for, checked against 1-100; 50 when not given."""
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed.field("limit", tr("limit must be between 1 and %(max)s.", max=MAX_LIMIT))
    return limit


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"t"}:
        return datetime.fromisoformat(value["t"])
    return value


def encode_cursor(sort_value: Any, row_id: int) -> str:
    """The opaque cursor pointing just after a row."""
    raw = json.dumps([_encode_value(sort_value), row_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, int]:
    """The (sort value, id) a cursor points after, or a validation error naming `cursor`."""
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError("length")
        padded = cursor + "=" * (-len(cursor) % 4)
        sort_value, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(row_id, int) or isinstance(row_id, bool) or not 0 <= row_id <= MAX_ID:
            raise ValueError("id")
        sort_value = _decode_value(sort_value)
        if isinstance(sort_value, datetime) and sort_value.tzinfo is None:
            raise ValueError("time")
        if sort_value is not None and (
            isinstance(sort_value, bool) or not isinstance(sort_value, (datetime, int))
        ):
            raise ValueError("sort")
        return sort_value, row_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError) as exc:
        raise ValidationFailed.field(
            "cursor", tr("cursor is not valid: use the next_cursor of the previous page.")
        ) from exc


def _sql_name(column: Column) -> str:
    """The column as the query's SQL names it: "table"."column"."""
    return column._meta.get_full_name(with_alias=False)


def _key(column: Column) -> str:
    """The name under which a select returns the column."""
    chain = [link._meta.name for link in column._meta.call_chain]
    return ".".join([*chain, column._meta.name])


async def keyset_page(
    query: Select,
    *,
    sort: Column | None,
    id_column: Column,
    limit: int,
    cursor: str | None,
    descending: bool = True,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `query`, ordered by (sort, id) — or by id alone when `sort` is None.

    The query must select `sort` and `id_column` (under their plain names).
    Returns the rows and the cursor of the next page (None on the last page).
    """
    if cursor:
        sort_value, last_id = decode_cursor(cursor)
        after: Any
        if sort is None:
            after = id_column < last_id if descending else id_column > last_id
        else:
            if isinstance(sort, (Timestamp, Timestamptz)) != isinstance(sort_value, datetime):
                raise ValidationFailed.field("cursor", tr("cursor is not valid for this list."))
            # A row comparison, which both engines answer from a (sort, id) index
            # as a range: the page starts where the last one ended, whatever its depth.
            before_or_after = "<" if descending else ">"
            after = WhereRaw(
                f"({_sql_name(sort)}, {_sql_name(id_column)}) {before_or_after} ({{}}, {{}})",
                sort_value,
                last_id,
            )
        query = query.where(after)
    if sort is not None:
        query = query.order_by(sort, ascending=not descending)
    query = query.order_by(id_column, ascending=not descending).limit(limit + 1)
    rows = await query
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    sort_value = last[_key(sort)] if sort is not None else None
    return rows, encode_cursor(sort_value, last[_key(id_column)])


def time_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    """The (time, id) a list sorted by a time starts after, None for the first page; a
    validation error naming `cursor`, as keyset_page gives, for any other cursor."""
    if not cursor:
        return None
    sort_value, last_id = decode_cursor(cursor)
    if not isinstance(sort_value, datetime):
        raise ValidationFailed.field("cursor", tr("cursor is not valid for this list."))
    return sort_value, last_id


def cut_page(
    rows: list[dict[str, Any]], *, limit: int, sort_key: str, id_key: str = "id"
) -> tuple[list[dict[str, Any]], str | None]:
    """The first `limit` of up to `limit + 1` rows, and the cursor after them (None when
    nothing follows), as keyset_page answers."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(last[sort_key], last[id_key])


def page(items: list[Any], next_cursor: str | None) -> dict[str, Any]:
    """The list answer of API.md."""
    return {"items": items, "next_cursor": next_cursor}

