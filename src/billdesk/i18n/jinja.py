"""gettext in templates: Jinja's i18n extension, answering in the language of the page.

One environment serves every request at once, so the gettext callables do not hold
a catalog: they look up the language being rendered (`billdesk.i18n.choice`) each
time they run.

A page calls `_()` hundreds of times (a status label on every row), so `_` and
`gettext` are one function doing what Jinja's newstyle gettext does through three
calls, and the finished text of a message without variables is kept per language.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from jinja2.utils import missing
from markupsafe import Markup, escape

from billdesk.i18n.catalogs import LANGUAGES, Localized, Text, gettext, supported, translations
from billdesk.i18n.choice import current_language


def context_language(context: Context) -> str:
    """The language a template renders in: its `language`, else the current one.

    Macros imported without context see no `request`, so the current language
    (set once per request, or around a mail) is what they go by."""
    # resolve_or_missing, not get: a macro's context usually has no `language`, and get()
    # finds that out by raising and catching a KeyError, on every `_()` of the macro.
    value = context.resolve_or_missing("language")
    chosen = supported(value) if value is not missing else None
    if chosen:
        return chosen
    return current_language()


@pass_context
def _gettext(context: Context, message: str) -> str:
    return translations(context_language(context)).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return translations(context_language(context)).ngettext(singular, plural, n)


@pass_context
def _pgettext(context: Context, msgctxt: str, message: str) -> str:
    return translations(context_language(context)).pgettext(msgctxt, message)


@pass_context
def _npgettext(context: Context, msgctxt: str, singular: str, plural: str, n: int) -> str:
    return translations(context_language(context)).npgettext(msgctxt, singular, plural, n)


@pass_context
def _finalize(context: Context, value: Any) -> Any:
    # `{{ text }}` of a tr() string from Python (a flash, a field error, a label) is
    # shown in the page's language.
    if isinstance(value, Text | Localized):
        return value.in_language(context_language(context))
    return value


@pass_context
def _translated(context: Context, value: Any) -> Any:
    """`value | translated`: a tr() string in the page's language before a filter works on it."""
    if isinstance(value, Text):
        return value.in_language(context_language(context))
    return value


@pass_context
def _attribute_text(context: Context, value: Any) -> Markup:
    """`value | attribute_text`: a value written inside an attribute's quotes, as text.

    `_("…")` is safe HTML in the page's text, but inside `attr="…"` its quotes would end
    the attribute (`placeholder="words, "a phrase""`): a safe value's text is escaped
    again from its plain text, so `"` reads `&quot;` and an entity is not doubled."""
    value = _finalize(context, value)
    if isinstance(value, Markup):
        value = value.unescape()
    return escape(str(value))


@pass_context
def _catalog(context: Context, value: Any) -> Any:
    """`value | catalog`: English kept in the database (a failure reason that came from a
    tr() constant) in the page's language, when the catalog knows it."""
    if not value:
        return value
    return gettext(context_language(context), str(value))


@pass_context
def _page_language(context: Context) -> str:
    return context_language(context)


@lru_cache(maxsize=8192)
def _escaped_text(language: str, message: str) -> Markup:
    # Jinja's newstyle gettext formats even without variables ("100%%" reads "100%").
    # The message is the template's own text, which Jinja marks safe the same way.
    return Markup(translations(language).gettext(message)) % {}  # noqa: S704


@pass_context
def _page_gettext(context: Context, message: str, /, **variables: Any) -> str:
    """`_("…")`, `gettext("…")` and `{% trans %}`: Jinja's newstyle gettext in the page's language."""
    language = context_language(context)
    if context.eval_ctx.autoescape:
        if not variables:
            return _escaped_text(language, message)
        return Markup(translations(language).gettext(message)) % variables  # noqa: S704
    return translations(language).gettext(message) % variables


def install(env: Environment) -> Environment:
    """Give `env` gettext (`_`, `ngettext`, `{% trans %}`) in the language of each render."""
    env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(  # type: ignore[attr-defined]
        _gettext, _ngettext, newstyle=True, pgettext=_pgettext, npgettext=_npgettext
    )
    env.globals["gettext"] = env.globals["_"] = _page_gettext
    env.finalize = _finalize
    env.filters["translated"] = _translated
    env.filters["catalog"] = _catalog
    env.filters["attribute_text"] = _attribute_text
    env.globals["page_language"] = _page_language
    env.globals["LANGUAGES"] = LANGUAGES
    return env
