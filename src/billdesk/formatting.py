"""How numbers, counts, money and times read for a person: the one place to change them.

Pages, mails and messages format through these functions (templates through the
filters of the same names). They write in the language being rendered (the
person's, see billdesk.i18n) with Babel's locale data: 1,500.00 USD in English,
1 500,00 USD in Russian. Counts of things in a sentence are `tr_n()`/`ngettext`
(docs/i18n.md), so the noun agrees in every language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel.dates import format_date
from babel.numbers import format_decimal, get_currency_name, get_currency_precision

from billdesk.i18n import Localized, babel_locale, current_language, tr, tr_n


def count(number: int, noun: str, plural: str | None = None) -> str:
    """'1 ticket', '2 tickets', '0 tickets': the noun agrees with the number."""
    word = noun if number == 1 else (plural or noun + "s")
    return f"{number} {word}"


# ------------------------------------------------------------------------ money


def currency_digits(currency: str) -> int:
    """How many decimal places the currency has (USD 2, JPY 0, BHD 3), as ISO 4217 says."""
    return get_currency_precision(currency.upper())


def long_date(value: date, language: str | None = None) -> str:
    """A day written out in the locale's long form: 1 December 2026 in English."""
    return format_date(value, format="long", locale=babel_locale(language or current_language()))


def number(value: int | Decimal | float, language: str | None = None) -> str:
    """A number as the person's locale writes it: 1,500 (en), 1 500 (ru)."""
    return format_decimal(value, locale=babel_locale(language or current_language()))


def money(amount: int | None, currency: str | None, language: str | None = None) -> str:
    """Minor units as a person reads them: '15.00 USD', '500 JPY'; '1 500,00 USD' in Russian."""
    code = (currency or "").upper()
    if not code:
        return number(amount or 0, language)
    digits = currency_digits(code)
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    value = format_decimal(
        Decimal(amount or 0).scaleb(-digits),
        format=pattern,
        locale=babel_locale(language or current_language()),
    )
    return f"{value} {code}"


class LocalMoney(Localized):
    """An amount written by `money()` in whichever language it is read in (a notification
    read later, a refusal put in a sentence): 15.00 USD, 15,00 USD. As a plain string
    (`%s`, f-strings) it reads in the language current when it was made."""

    __slots__ = ("amount", "currency")
    kind = "money"
    amount: int
    currency: str

    def __new__(cls, amount: int, currency: str) -> LocalMoney:
        # As a plain string it reads in the current language, like money() itself.
        self = super().__new__(cls, money(amount, currency))
        self.amount, self.currency = amount, currency
        return self

    def in_language(self, language: str) -> str:
        return money(self.amount, self.currency, language)

    def as_json(self) -> Any:
        return [self.amount, self.currency]

    @classmethod
    def from_json(cls, data: Any) -> LocalMoney:
        amount, currency = data
        return cls(int(amount), str(currency))


class LocalDay(Localized):
    """A day written out (`long_date`) in the language it is read in: 1 December 2026."""

    __slots__ = ("day",)
    kind = "day"
    day: date

    def __new__(cls, day: date) -> LocalDay:
        self = super().__new__(cls, long_date(day))
        self.day = day
        return self

    def in_language(self, language: str) -> str:
        return long_date(self.day, language)

    def as_json(self) -> Any:
        return self.day.isoformat()

    @classmethod
    def from_json(cls, data: Any) -> LocalDay:
        return cls(date.fromisoformat(str(data)))


class LocalMoment(Localized):
    """A moment written by `when_zoned()` on the clocks of whoever reads it (their time zone
    at the time they read it): '2026-11-27 10:15 CET'."""

    __slots__ = ("moment",)
    kind = "moment"
    moment: datetime

    def __new__(cls, moment: datetime) -> LocalMoment:
        self = super().__new__(cls, when_zoned(moment))
        self.moment = moment
        return self

    def in_language(self, language: str) -> str:
        return when_zoned(self.moment)

    def as_json(self) -> Any:
        return self.moment.isoformat()

    @classmethod
    def from_json(cls, data: Any) -> LocalMoment:
        return cls(datetime.fromisoformat(str(data)))


def major_units(amount: int, currency: str) -> str:
    """Minor units written in the currency's units, for a form field: 2000 USD → '20.00'."""
    digits = currency_digits(currency)
    value = Decimal(amount).scaleb(-digits)
    return f"{value:.{digits}f}"


class MoneyFormatError(ValueError):
    """Text that is not an amount of the currency; the message says what to type."""


_AMOUNT = re.compile(r"^\d+(?:[.,]\d+)?$")


def parse_money(text: str, currency: str) -> int:
    """An amount typed in the currency's units into minor units: '20', '20.00' and '20,00' → 2000 USD.

    Spaces and a thousands separator are allowed ('1 500,00', '1,500.00'); more decimal
    places than the currency has is refused, not rounded.
    """
    digits = currency_digits(currency)
    typed = re.sub(r"[\s\u00a0\u202f']", "", text)
    if "," in typed and "." in typed:
        # Both: the last one is the decimal mark, the other groups thousands.
        mark = "," if typed.rfind(",") > typed.rfind(".") else "."
        typed = typed.replace("." if mark == "," else ",", "")
    elif typed.count(",") > 1 or typed.count(".") > 1:
        typed = typed.replace(",", "").replace(".", "")  # thousands only: '1,000,000'
    elif digits != 3 and re.fullmatch(r"\d{1,3},\d{3}", typed):
        typed = typed.replace(",", "")  # '1,500' in a currency without three decimal places
    if not _AMOUNT.match(typed):
        example = major_units(20 * 10**digits, currency)
        raise MoneyFormatError(tr("Type an amount like %(example)s.", example=example))
    whole, _, fraction = typed.replace(",", ".").partition(".")
    if len(fraction) > digits:
        if digits == 0:
            raise MoneyFormatError(
                tr("%(currency)s has no fractions: type a whole number.", currency=currency.upper())
            )
        raise MoneyFormatError(
            tr_n(
                "%(currency)s has %(num)s decimal place: type at most that many.",
                "%(currency)s has %(num)s decimal places: type at most that many.",
                digits,
                currency=currency.upper(),
            )
        )
    return int(whole) * 10**digits + int((fraction or "0").ljust(digits, "0") or "0")


def currency_options(codes: Iterable[str]) -> list[tuple[str, str]]:
    """(code, 'USD — US Dollar') pairs for a currency list, sorted by code."""
    return [(code, f"{code.upper()} — {_currency_name(code)}") for code in sorted(codes)]


def _currency_name(code: str) -> str:
    try:
        return get_currency_name(code.upper(), locale=babel_locale(current_language()))
    except (ValueError, LookupError):
        return code.upper()


# ------------------------------------------------------------------------ times

# Set by the browser's script from Intl.DateTimeFormat: the zone a person gets until they
# choose one on the account page.
TIME_ZONE_COOKIE = "billdesk_tz"
_time_zone: ContextVar[str] = ContextVar("billdesk_time_zone", default="UTC")


@lru_cache(maxsize=1)
def time_zones() -> tuple[str, ...]:
    """Every IANA zone name a person may choose, sorted."""
    return tuple(sorted(zone for zone in available_timezones() if "/" in zone or zone == "UTC"))


@lru_cache(maxsize=1)
def _time_zone_names() -> frozenset[str]:
    # Looked up on every page request: a set, not a scan of the sorted list.
    return frozenset(time_zones())


def valid_time_zone(name: str | None) -> str | None:
    """The zone's name when it is a real IANA zone, else None."""
    if not name or len(name) > 64 or name not in _time_zone_names():
        return None
    return name


def use_time_zone(name: str | None) -> None:
    """Show the times of this request (or render) in `name`; UTC when it is not a zone."""
    _time_zone.set(valid_time_zone(name) or "UTC")


def current_time_zone() -> str:
    return _time_zone.get()


def local(moment: datetime, zone: str | None = None) -> datetime:
    """The moment on the clocks of `zone` (the current person's by default)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(ZoneInfo(zone or current_time_zone()))
    except ZoneInfoNotFoundError:
        return moment.astimezone(UTC)


def when(moment: datetime | None, zone: str | None = None) -> str:
    """A moment as a person reads it, in their time zone: '2026-11-27 10:15'."""
    if moment is None:
        return ""
    shown = local(moment, zone)
    # By hand rather than strftime, at half its cost: a queue page writes a hundred of them.
    return "%04d-%02d-%02d %02d:%02d" % (  # noqa: UP031
        shown.year, shown.month, shown.day, shown.hour, shown.minute
    )


def when_zoned(moment: datetime | None, zone: str | None = None) -> str:
    """The same with the zone named, where it matters (receipts, deadlines): '… 10:15 CET'."""
    if moment is None:
        return ""
    shown = local(moment, zone)
    return f"{shown:%Y-%m-%d %H:%M} {shown.tzname() or ''}".rstrip()


def day(moment: datetime | None, zone: str | None = None) -> str:
    """The date alone, in the person's zone: '2026-11-27'."""
    return "" if moment is None else f"{local(moment, zone):%Y-%m-%d}"


# Stripe's card brands as their owners write them; others are shown capitalised.
CARD_BRANDS = {
    "amex": "American Express", "diners": "Diners Club", "discover": "Discover",
    "eftpos_au": "eftpos", "jcb": "JCB", "mastercard": "Mastercard", "unionpay": "UnionPay",
    "visa": "Visa", "cartes_bancaires": "Cartes Bancaires", "interac": "Interac",
}


def card_brand(brand: str | None) -> str:
    """A card brand as Stripe names it ("visa"), as a person reads it ("Visa")."""
    if not brand:
        return "Card"
    return CARD_BRANDS.get(brand.lower(), brand.replace("_", " ").capitalize())
