"""Money typed and shown in the currency's own units, and counts that agree with their noun."""

from __future__ import annotations

import pytest

from billdesk import formatting
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


def test_card_brands_read_as_their_owners_write_them():
    assert formatting.card_brand("visa") == "Visa"
    assert formatting.card_brand("amex") == "American Express"
    assert formatting.card_brand("some_new_brand") == "Some new brand"


def test_what_a_stripe_charge_says_about_its_card_and_receipt():
    from billdesk.payments.stripe_api import paid_with

    found = paid_with({
        "payment_method_details": {"card": {"brand": "mastercard", "last4": "4444"}},
        "receipt_url": "https://pay.stripe.com/receipts/x",
    })
    assert (found.brand, found.last4, found.receipt_url) == (
        "mastercard", "4444", "https://pay.stripe.com/receipts/x"
    )
    bare = paid_with({"payment_method": "pm_1"})
    assert (bare.brand, bare.last4, bare.receipt_url) == (None, None, None)
    assert paid_with({"receipt_url": "javascript:alert(1)"}).receipt_url is None
