"""Who is asking: a session cookie for pages, a Bearer token for /api/v1."""

from __future__ import annotations

from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from billdesk import formatting
from billdesk.auth import SESSION_COOKIE, user_for_api_token, user_for_session
from billdesk.formatting import TIME_ZONE_COOKIE
from billdesk.i18n import set_request_language

API_PREFIX = "/api/v1"


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _cookie(scope: Scope, name: str) -> str:
    raw = _header(scope, b"cookie")
    for part in raw.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


class AuthMiddleware(ASGIMiddleware):
    """Put the current user (or None) in `scope["user"]`; guards decide what it may do.

    The API takes Bearer tokens only, so a browser's cookie can never act on it
    and it needs no CSRF token; pages take the session cookie only.
    """

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        path = scope.get("path", "")
        user = None
        if path.startswith(API_PREFIX):
            scheme, _, credentials = _header(scope, b"authorization").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                user = await user_for_api_token(credentials.strip())
        elif not path.startswith(("/static/", "/healthz", "/stripe/")):
            token = _cookie(scope, SESSION_COOKIE)
            if token:
                user = await user_for_session(token)
        scope["user"] = user
        scope["auth"] = None
        set_request_language(scope)
        # Pages show times in the person's zone; the API stays in UTC.
        formatting.use_time_zone(
            "UTC" if path.startswith(API_PREFIX)
            else (user.time_zone if user and user.time_zone else _cookie(scope, TIME_ZONE_COOKIE))
        )
        await next_app(scope, receive, send)


def session_cookie(value: str, *, max_age: int, secure: bool) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        max_age=max_age,
        httponly=True,
        secure=secure,
        samesite="lax",
        path="/",
    )
