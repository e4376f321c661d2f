"""Litestar's and msgspec's English refusals said again, in English and in Russian."""

from __future__ import annotations

import pytest

from billdesk.web.litestar_messages import said_again

CASES = [
    ("Expected `int | null`, got `str`", "limit", "limit must be a whole number, not text.",
     "limit: нужно целое число, а не текст."),
    ("Expected `str` of length <= 200", "name", "name may be at most 200 characters long.",
     "name: не больше 200 символов."),
    ("Expected `array` of length <= 1000", "ids", "ids may have at most 1000 items.",
     "ids: не больше 1000 элементов."),
    ("Expected `str` of length >= 1", "name", "name must be at least 1 character long.",
     "name: не меньше 1 символа."),
    ("Expected `int` <= 100", "limit", "limit must be at most 100.",
     "limit: значение должно быть не больше 100."),
    ("Invalid enum value 'bogus'", "kind", "kind: 'bogus' is not one of the choices.",
     "kind: 'bogus' — не один из допустимых вариантов."),
    ("Expected `str` matching regex '^[a-z]+$'", "slug", "slug is not in the expected form.",
     "slug: значение не в том виде, который ожидается."),
    ("Object contains unknown field `colour`", "data", "There is no field colour.",
     "Поля colour нет."),
    ("Missing required query parameter 'q' for path /api/v1/x?y=1", "body",
     "The parameter q is missing.", "Не указан параметр q."),
    ("Invalid RFC3339 encoded datetime", "at", "at must be a date and time like 2026-11-27T10:00:00Z.",
     "at: нужны дата и время вида 2026-11-27T10:00:00Z."),
    ("Expected `int | str`, got `bool`", "x", "x must be a whole number or text, not true or false.",
     "x: нужно целое число или текст, а не true или false."),
]


@pytest.mark.parametrize(("message", "field", "english", "russian"), CASES)
def test_each_kind_of_refusal_is_said_in_words(message, field, english, russian):
    said = said_again(message, field)
    assert said.in_language("en") == english
    assert said.in_language("ru") == russian


def test_a_sentence_no_pattern_knows_is_kept():
    assert said_again("Something new from msgspec", "x").in_language("ru") == (
        "Something new from msgspec"
    )


@pytest.mark.parametrize(
    ("key", "message", "field"),
    [
        # A missing body field: Litestar names the whole body; the answer names the field.
        ("data", "Object missing required field `name`", "name"),
        ("data", "Object missing required field `city` - at `$.address`", "address.city"),
        ("data", "Object contains unknown field `colour`", "colour"),
        # A missing parameter comes with no key at all.
        (None, "Missing required query parameter 'q' for path /api/v1/x", "q"),
        # A key Litestar did give is kept as it is.
        ("limit", "Expected `int`, got `str`", "limit"),
        ("data", "JSON is malformed: trailing characters (byte 3)", "data"),
        (None, "Something else", "body"),
    ],
)
def test_a_refusal_names_the_field_it_is_about(key, message, field):
    from billdesk.web.litestar_messages import field_named

    assert field_named(key, message) == field
