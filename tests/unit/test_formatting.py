"""Money typed and shown in the currency's own units, and counts that agree with their noun."""

from __future__ import annotations

import pytest

from billdesk.formatting import MoneyFormatError, count, major_units, money, parse_money


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [
        ("20", "usd", 2000),
        ("20.00", "usd", 2000),
        ("20,00", "usd", 2000),
        ("0.5", "usd", 50),
        ("1 500,50", "rub", 150050),
        ("1\u00a0500,50", "rub", 150050),
        ("1,500.50", "usd", 150050),
        ("1,500", "usd", 150000),
        ("500", "jpy", 500),
        ("1,000", "jpy", 1000),
        ("1.234", "bhd", 1234),
    ],
)
def test_amounts_typed_in_the_currency_s_units(typed, currency, minor):
    assert parse_money(typed, currency) == minor


@pytest.mark.parametrize(
    ("typed", "currency", "says"),
    [
        ("5.5", "jpy", "JPY has no fractions"),
        ("20.123", "usd", "USD has 2 decimal places"),
        ("-5", "usd", "like 20.00"),
        ("", "usd", "like 20.00"),
        ("20 USD", "usd", "like 20.00"),
        ("1e3", "usd", "like 20.00"),
    ],
)
def test_amounts_refused_say_what_to_type(typed, currency, says):
    with pytest.raises(MoneyFormatError, match=says):
        parse_money(typed, currency)


def test_money_is_shown_with_the_currency_s_decimal_places():
    assert money(2000, "usd") == "20.00 USD"
    assert money(500, "jpy") == "500 JPY"
    assert money(1234, "bhd") == "1.234 BHD"
    assert major_units(2000, "usd") == "20.00" and major_units(500, "jpy") == "500"


def test_counts_agree_with_their_noun():
    assert count(1, "ticket") == "1 ticket"
    assert count(0, "ticket") == "0 tickets"
    assert count(2, "reply", "replies") == "2 replies"
