"""Litestar's and msgspec's own refusals (a query parameter or a JSON field of the wrong
type, a missing field, a value out of range) in the asker's language.

They arrive as English sentences ("Expected `int | null`, got `str`"); each kind is
recognised and said again as a tr() text naming the field and, for a wrong type, what
was expected in words. A sentence no pattern knows goes through the catalog as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from billdesk.i18n import Text, catalog_text, tr, tr_n

TYPE_WORDS = {
    "int": tr("a whole number"),
    "float": tr("a decimal number"),
    "decimal": tr("a number"),
    "str": tr("text"),
    "bool": tr("true or false"),
    "array": tr("a list"),
    "object": tr("an object"),
    "null": tr("null"),
    "datetime": tr("a date and time"),
    "date": tr("a date"),
    "time": tr("a time of day"),
    "uuid": tr("a UUID"),
    "bytes": tr("base64 data"),
}

_TYPES = r"`(?P<expected>[^`]+)`"


def _words(types: str) -> Text | str:
    """`int | null` in words: 'a whole number' (null is what leaving it out means)."""
    names = [name.strip() for name in types.split("|")]
    wanted = [name for name in names if name != "null"] or names
    words: list[Text | str] = [TYPE_WORDS.get(name, name) for name in wanted]
    said = words[0]
    for more in words[1:]:
        said = tr("%(first)s or %(second)s", first=said, second=more)
    return said


def _wrong_type(field: str, found: re.Match[str]) -> Text:
    return tr(
        "%(field)s must be %(expected)s, not %(got)s.",
        field=field, expected=_words(found["expected"]), got=_words(found["got"]),
    )


def _bound(field: str, found: re.Match[str]) -> Text:
    limit = found["limit"]
    return {
        ">=": tr("%(field)s must be at least %(limit)s.", field=field, limit=limit),
        ">": tr("%(field)s must be more than %(limit)s.", field=field, limit=limit),
        "<=": tr("%(field)s must be at most %(limit)s.", field=field, limit=limit),
        "<": tr("%(field)s must be less than %(limit)s.", field=field, limit=limit),
    }[found["op"]]


def _length(field: str, found: re.Match[str]) -> Text:
    n = int(found["limit"])
    op = found["op"]
    if found["expected"] in ("array", "object"):
        if op in (">=", ">"):
            n += op == ">"
            return tr_n(
                "%(field)s must have at least %(num)s item.",
                "%(field)s must have at least %(num)s items.", n, field=field,
            )
        n -= op == "<"
        return tr_n(
            "%(field)s may have at most %(num)s item.",
            "%(field)s may have at most %(num)s items.", n, field=field,
        )
    if op in (">=", ">"):
        n += op == ">"
        return tr_n(
            "%(field)s must be at least %(num)s character long.",
            "%(field)s must be at least %(num)s characters long.", n, field=field,
        )
    n -= op == "<"
    return tr_n(
        "%(field)s may be at most %(num)s character long.",
        "%(field)s may be at most %(num)s characters long.", n, field=field,
    )


PATTERNS: list[tuple[re.Pattern[str], Callable[[str, re.Match[str]], Text]]] = [
    (re.compile(r"^Expected " + _TYPES + r", got `(?P<got>[^`]+)`"), _wrong_type),
    (
        re.compile(r"^Expected " + _TYPES + r" of length (?P<op>>=|>|<=|<) (?P<limit>\d+)"),
        _length,
    ),
    (re.compile(r"^Expected " + _TYPES + r" (?P<op>>=|>|<=|<) (?P<limit>-?[\d.e+-]+)"), _bound),
    (
        re.compile(r"^Expected " + _TYPES + r" matching regex"),
        lambda field, _: tr("%(field)s is not in the expected form.", field=field),
    ),
    (
        re.compile(r"^Expected " + _TYPES + r" that's a multiple of (?P<limit>\S+)"),
        lambda field, found: tr(
            "%(field)s must be a multiple of %(limit)s.", field=field, limit=found["limit"]
        ),
    ),
    (
        re.compile(r"^Invalid enum value (?P<value>.+)$"),
        lambda field, found: tr(
            "%(field)s: %(value)s is not one of the choices.", field=field, value=found["value"]
        ),
    ),
    (
        re.compile(r"^Object missing required field `(?P<name>[^`]+)`"),
        lambda field, found: tr("The field %(name)s is missing.", name=found["name"]),
    ),
    (
        re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`"),
        lambda field, found: tr("There is no field %(name)s.", name=found["name"]),
    ),
    (
        re.compile(r"^Invalid RFC3339 encoded datetime"),
        lambda field, _: tr(
            "%(field)s must be a date and time like 2026-11-27T10:00:00Z.", field=field
        ),
    ),
    (
        re.compile(r"^Invalid RFC3339 encoded date"),
        lambda field, _: tr("%(field)s must be a date like 2026-11-27.", field=field),
    ),
    (
        re.compile(r"^Invalid RFC3339 encoded time"),
        lambda field, _: tr("%(field)s must be a time of day like 10:00:00.", field=field),
    ),
    (
        re.compile(r"^Invalid UUID"),
        lambda field, _: tr("%(field)s must be a UUID.", field=field),
    ),
    (
        re.compile(r"^Invalid base64 encoded string"),
        lambda field, _: tr("%(field)s must be base64 data.", field=field),
    ),
    (
        re.compile(r"^Missing required (?P<source>\w+) parameter '(?P<name>[^']+)'"),
        lambda field, found: tr("The parameter %(name)s is missing.", name=found["name"]),
    ),
    (
        re.compile(r"^JSON is malformed.*?(?:\(byte (?P<byte>\d+)\))?$"),
        lambda field, found: tr(
            "The body is not valid JSON (the error is at byte %(byte)s).", byte=found["byte"]
        )
        if found["byte"]
        else tr("The body is not valid JSON."),
    ),
]


def said_again(message: object, field: str) -> Text:
    """Litestar's English `message` about `field` as a tr() text in the asker's language."""
    if isinstance(message, Text):
        return message
    text = str(message or "")
    for pattern, say in PATTERNS:
        found = pattern.search(text)
        if found:
            return say(field, found)
    return catalog_text(text or tr("%(field)s is not valid.", field=field))


_NAMED_FIELD = re.compile(
    r"^Object (?:missing required|contains unknown) field `(?P<name>[^`]+)`"
    r"(?: - at `\$(?P<path>[^`]*)`)?"
)
_MISSING_PARAMETER = re.compile(r"^Missing required \w+ parameter '(?P<name>[^']+)'")


def field_named(key: object, message: object) -> str:
    """The field a refusal is about. Litestar names the whole body (`data`) for a missing
    or an unknown field, and nothing for a missing parameter: the name is then read from
    its message."""
    key = str(key or "")
    if key and key not in ("data", "body"):
        return key
    text = str(message or "")
    found = _NAMED_FIELD.search(text)
    if found:
        path = (found["path"] or "").lstrip(".")
        return f"{path}.{found['name']}" if path else found["name"]
    found = _MISSING_PARAMETER.search(text)
    if found:
        return found["name"]
    return key or "body"
