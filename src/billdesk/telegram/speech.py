"""What the bot says, in the language of the conversation.

The gate (and the notification jobs) render inside `billdesk.i18n.speaking`: the
linked customer's chosen language, else the language Telegram reports for the chat's
person, else English. `_()` and `ngettext()` give a string in that language at once,
because aiogram sends plain strings.
"""

from __future__ import annotations

from typing import Any

from billdesk.i18n import current_language, translate, translations


def _(message: str, /, **params: Any) -> str:
    """`message` in the conversation's language, `%(name)s` placeholders filled."""
    text = translations(current_language()).gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, /, **params: Any) -> str:
    """The form agreeing with `n` (`%(num)s` is `n`) in the conversation's language."""
    text = translations(current_language()).ngettext(singular, plural, n)
    return text % {"num": n, **params}


def shown(value: Any) -> str:
    """A domain's tr() text (a refusal's detail) in the conversation's language."""
    return str(translate(value, current_language()))
