"""The message catalogs (read from the committed .po files when first needed) and `Text`."""

from __future__ import annotations

import gettext as _gettext
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any, ClassVar

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

# The languages a person may choose, in their own words; English is the source.
LANGUAGES: dict[str, str] = {"en": "English", "ru": "Русский"}
DEFAULT_LANGUAGE = "en"
DOMAIN = "messages"
LOCALE_DIR = Path(__file__).parent / "locale"


def supported(language: str | None) -> str | None:
    """The language code if billdesk speaks it, else None."""
    code = (language or "").strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else None


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> _gettext.NullTranslations:
    """The catalog of a language, compiled in memory from its .po, so a fresh clone
    needs no build step; English (and anything unknown) is the source text itself."""
    code = supported(language) or DEFAULT_LANGUAGE
    path = po_path(code)
    if code == DEFAULT_LANGUAGE or not path.exists():
        return _gettext.NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=code, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled, domain=DOMAIN)


@cache
def babel_locale(language: str) -> Locale:
    return Locale.parse(supported(language) or DEFAULT_LANGUAGE)


def gettext(language: str, message: str) -> str:
    return translations(language).gettext(message)


def ngettext(language: str, singular: str, plural: str, n: int) -> str:
    return translations(language).ngettext(singular, plural, n)


class Text(str):
    """A string marked for translation, reading as English until it is translated.

    `translate(text, language)` gives it in a language; its parameters may be
    `Text` themselves and are translated into the same language.
    """

    __slots__ = ("msgid", "n", "params", "plural")
    msgid: str
    plural: str | None
    n: int | None
    params: dict[str, Any]

    def __new__(
        cls, msgid: str, plural: str | None = None, n: int | None = None, /, **params: Any
    ) -> Text:
        if plural is not None:
            params.setdefault("num", n)
        english = msgid if plural is None or n == 1 else plural
        self = super().__new__(cls, english % params if params else english)
        self.msgid, self.plural, self.n, self.params = msgid, plural, n, params
        return self

    def __reduce__(self) -> Any:
        return (str, (str(self),))

    def in_language(self, language: str) -> str:
        if self.plural is not None:
            text = ngettext(language, self.msgid, self.plural, self.n or 0)
        else:
            text = gettext(language, self.msgid)
        if not self.params:
            return text
        return text % {key: translate(value, language) for key, value in self.params.items()}


class Localized(str):
    """A value written differently in each language (an amount of money, a day): as a plain
    string it reads as it was written when made; `in_language()` (and `translate()`) writes
    it for someone. Subclasses name their `kind` so a stored text (`to_json`) can bring
    them back."""

    __slots__ = ()
    kinds: ClassVar[dict[str, type[Localized]]] = {}
    kind: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            Localized.kinds[cls.kind] = cls

    def __reduce__(self) -> Any:
        return (str, (str(self),))

    def in_language(self, language: str) -> str:
        raise NotImplementedError

    def as_json(self) -> Any:
        raise NotImplementedError

    @classmethod
    def from_json(cls, data: Any) -> Localized:
        raise NotImplementedError


def to_json(value: Any) -> Any:
    """A `tr()` text (with its values) as JSON, to be read later in any language (`from_json`)."""
    if isinstance(value, Text):
        return {
            "msgid": value.msgid,
            "plural": value.plural,
            "n": value.n,
            "params": {key: to_json(item) for key, item in value.params.items()},
        }
    if isinstance(value, Localized):
        return {"kind": value.kind, "value": value.as_json()}
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)


def from_json(data: Any) -> Any:
    """What `to_json` wrote: a `Text` again, a `Localized` value, or the plain value."""
    if isinstance(data, dict) and "msgid" in data:
        params = {key: from_json(item) for key, item in (data.get("params") or {}).items()}
        if data.get("plural") is not None:
            params.pop("num", None)
            return Text(str(data["msgid"]), str(data["plural"]), int(data.get("n") or 0), **params)
        return Text(str(data["msgid"]), **params)
    if isinstance(data, dict) and data.get("kind") in Localized.kinds:
        return Localized.kinds[data["kind"]].from_json(data.get("value"))
    return data


def tr(message: str, /, **params: Any) -> Text:
    """Mark `message` for translation; `%(name)s` placeholders take `params`."""
    return Text(message, **params)


def tr_n(singular: str, plural: str, n: int, /, **params: Any) -> Text:
    """A message that agrees with the count `n` (`%(num)s` in it is `n`)."""
    return Text(singular, plural, n, **params)


def catalog_text(value: str | None) -> Text:
    """Text kept in English somewhere (a charge's failure reason) that came from a tr()
    constant: it reads in the person's language when the catalog knows it, else as kept."""
    return Text(str(value or ""))


def translate(value: Any, language: str) -> Any:
    """`value` in `language` when it is a `Text` or a `Localized` value; anything else as it is."""
    if isinstance(value, Text | Localized):
        return value.in_language(language)
    return value
