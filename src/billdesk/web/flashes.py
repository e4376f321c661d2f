"""Messages that outlive a redirect: "Saved.", "Ticket #12 moved to Billing."

A form that changes something answers with a redirect (so a reload repeats
nothing) and the message travels in a short-lived cookie signed with the secret
key; the next page shown to that browser displays it once and clears it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any, cast

from litestar import Request
from litestar.datastructures import Cookie
from litestar.response import Redirect

from billdesk.i18n import current_language, tr, translate
from billdesk.settings import get_settings

COOKIE = "billdesk_flash"
SAVED = tr("Saved.")
SCOPE_KEY = "_flashes"
CATEGORIES = ("success", "error", "info", "warning")
_MAX_MESSAGES = 10


def flash(request: Request, category: str, message: str) -> None:
    """A message shown on the page rendered for this request."""
    cast(dict[str, Any], request.scope).setdefault(SCOPE_KEY, []).append((category, message))


def _sign(payload: str) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, b"flash\n" + payload.encode(), hashlib.sha256).hexdigest()[:32]


def _encode(messages: list[tuple[str, str]]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(messages[:_MAX_MESSAGES]).encode()).decode()
    return f"{payload}.{_sign(payload)}"


def _decode(value: str) -> list[tuple[str, str]]:
    payload, _, signature = value.partition(".")
    if not payload or not hmac.compare_digest(signature, _sign(payload)):
        return []
    try:
        items = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        return []
    return [
        (str(item[0]), str(item[1]))
        for item in items
        if isinstance(item, list) and len(item) == 2 and item[0] in CATEGORIES
    ]


def redirect(request: Request, path: str, *messages: tuple[str, str]) -> Redirect:
    """Redirect to `path` (a reload of the next page repeats nothing), carrying messages.

    Messages already flashed for this request travel too.
    """
    carried = list(request.scope.get(SCOPE_KEY, [])) + list(messages)  # type: ignore[call-overload]
    # The cookie carries plain text, so messages go in the language of this request.
    language = current_language()
    carried = [(category, translate(message, language)) for category, message in carried]
    cookies = (
        [
            Cookie(
                key=COOKIE,
                value=_encode(carried),
                path="/",
                httponly=True,
                samesite="lax",
                max_age=60,
            )
        ]
        if carried
        else []
    )
    return Redirect(path=path, cookies=cookies)


def saved(request: Request, path: str, message: str = SAVED) -> Redirect:
    """The answer to a form that saved something: back to `path`, saying so."""
    return redirect(request, path, ("success", message))


def take(request: Request) -> tuple[list[tuple[str, str]], list[Cookie]]:
    """The messages for the page now rendered, and the cookie that clears those carried over."""
    messages = list(request.scope.get(SCOPE_KEY, []))  # type: ignore[call-overload]
    carried = request.cookies.get(COOKIE)
    if not carried:
        return messages, []
    return _decode(carried) + messages, [Cookie(key=COOKIE, value="", path="/", max_age=0)]
