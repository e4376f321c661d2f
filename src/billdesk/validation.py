"""Checks of the raw values a channel hands to the domain: ids, whole numbers, text.

Every integer billdesk stores is a 32-bit database integer (ids, amounts,
counters), so a number outside that range can never name a row or be saved:
it is refused here, naming its field, before it reaches a query where the
database would fail on it. Text may not carry NUL characters, which PostgreSQL
cannot store.
"""

from __future__ import annotations

from typing import Any

from billdesk.errors import ValidationFailed
from billdesk.i18n import tr

MAX_INT = 2**31 - 1
"""The largest value of the database's INTEGER columns (and of SERIAL ids)."""
MIN_INT = -(2**31)
MAX_ID = MAX_INT


def as_whole_number(value: Any) -> int | None:
    """An int from an int or a string of digits (with an optional sign), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if digits.isascii() and digits.isdigit() and len(digits) <= 20:
            return int(text)
    return None


def parse_id(field: str, value: Any, *, what: str = "id") -> int | None:
    """An id from a form, a query string or JSON: None when blank, else 1..MAX_ID or a refusal."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = as_whole_number(value)
    if number is None or not 1 <= number <= MAX_ID:
        raise ValidationFailed.field(
            field,
            tr("%(field)s must be an id (a whole number from 1 to %(max)s).", field=field, max=MAX_ID),
        )
    return number


def parse_int(field: str, value: Any, *, minimum: int = 0, maximum: int = MAX_INT) -> int | None:
    """A whole number within [minimum, maximum] (at most the database's range); None when blank."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = as_whole_number(value)
    if number is None or not max(minimum, MIN_INT) <= number <= min(maximum, MAX_INT):
        raise ValidationFailed.field(
            field,
            tr(
                "%(field)s must be a whole number from %(low)s to %(high)s.",
                field=field,
                low=minimum,
                high=min(maximum, MAX_INT),
            ),
        )
    return number


def in_int_range(value: int) -> bool:
    return MIN_INT <= value <= MAX_INT


def has_nul(text: str) -> bool:
    return "\x00" in text


def check_no_nul(field: str, text: str) -> str:
    if has_nul(text):
        raise ValidationFailed.field(
            field, tr("%(field)s contains a NUL character, which is not allowed.", field=field)
        )
    return text
