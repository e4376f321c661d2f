"""Which language a request is answered in: the person's choice, else their browser's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from billdesk.i18n.catalogs import DEFAULT_LANGUAGE, supported

SCOPE_KEY = "billdesk.language"
# The chosen language also rides in a cookie, so pages answered before anyone is
# recognised (an unknown address, the log-in page after logging out) keep it.
COOKIE = "billdesk_language"

# The language of what is being rendered now: a request's (set by the web layer for
# each request) or a mail's or bot message's (set around rendering it).
_current: ContextVar[str | None] = ContextVar("billdesk_language", default=None)


def current_language() -> str:
    return _current.get() or DEFAULT_LANGUAGE


@contextmanager
def speaking(language: str | None) -> Iterator[str]:
    """Render in `language` inside the block (a mail, a bot message)."""
    chosen = supported(language) or DEFAULT_LANGUAGE
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)


def set_request_language(scope: Any) -> str:
    """Make the language of this request the current one, for the rest of its task."""
    language = request_language(scope)
    _current.set(language)
    return language


def from_accept_language(header: str | None) -> str:
    """The best language billdesk speaks from an `Accept-Language` header (RFC 9110)."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((header or "").split(",")):
        tag, _sep, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        code = supported(tag)
        if code and quality > 0:
            ranked.append((-quality, position, code))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE


def _header(scope: Any, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _cookie(scope: Any, name: str) -> str:
    for part in _header(scope, b"cookie").split(";"):
        key, _sep, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


def request_language(request: Any) -> str:
    """The language of a request (or ASGI scope): the signed-in person's setting, else
    the language cookie, else `Accept-Language`, else English. Worked out once per request."""
    scope = getattr(request, "scope", request)
    cached = scope.get(SCOPE_KEY)
    if cached:
        return cached
    user = scope.get("user")
    language = (
        supported(getattr(user, "language", None))
        or supported(_cookie(scope, COOKIE))
        or from_accept_language(_header(scope, b"accept-language"))
    )
    scope[SCOPE_KEY] = language
    return language
