"""Who is asking: a session cookie for pages, a Bearer token for /api/v1."""

from __future__ import annotations

from typing import Any, cast

from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, HTTPResponseStartEvent, Receive, Scope, Send

from billdesk import audit, formatting
from billdesk.auth import SESSION_COOKIE, token_for
from billdesk.formatting import TIME_ZONE_COOKIE
from billdesk.i18n import set_request_language, tr
from billdesk.sessions import ENROL, SIGNED_IN, session_for

API_PREFIX = "/api/v1"
ENROL_PAGE = "/account/two-factor"
# Where a session sent to set up its second factor may go; anything else leads there.
ENROL_PATHS = (ENROL_PAGE, "/logout", "/static/")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _cookie_in(raw: str, name: str) -> str:
    """The first cookie called `name` in a Cookie header, else ''."""
    if name not in raw:
        return ""
    for part in raw.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


def _read_headers(scope: Scope) -> tuple[str, str, str]:
    """The Authorization, Cookie and User-Agent headers (the first of each), in one pass."""
    authorization = cookie = user_agent = None
    for key, value in scope.get("headers", []):
        key = key.lower()
        if key == b"authorization":
            if authorization is None:
                authorization = value.decode("latin-1")
        elif key == b"cookie":
            if cookie is None:
                cookie = value.decode("latin-1")
        elif key == b"user-agent" and user_agent is None:
            user_agent = value.decode("latin-1")
    return authorization or "", cookie or "", user_agent or ""


class AuthMiddleware(ASGIMiddleware):
    """Put the current user (or None) in `scope["user"]`; guards decide what it may do.

    The API takes Bearer tokens only, so a browser's cookie can never act on it
    and it needs no CSRF token; pages take the session cookie only. A read-only
    token may only read. A session still waiting for its second factor is no
    user at all (`scope["pending_session"]` holds it for the sign-in pages), and
    one sent to enrol reaches the enrolment page and nothing else. Whoever it is,
    they are the actor of everything the request puts in the audit log.
    """

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        path = scope.get("path", "")
        authorization, cookies, user_agent = _read_headers(scope)
        api = path.startswith(API_PREFIX)
        user = None
        pending = None
        read_only = False
        if api:
            scheme, _, credentials = authorization.partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                use = await token_for(credentials.strip())
                if use is not None:
                    user, read_only = use.user, use.read_only
        elif not path.startswith(("/static/", "/healthz", "/stripe/")):
            token = _cookie_in(cookies, SESSION_COOKIE)
            if token:
                session = await session_for(token)
                if session is not None and session.stage == SIGNED_IN:
                    user = session.user
                elif session is not None:
                    pending = session
        if pending is not None and pending.stage == ENROL and not path.startswith(ENROL_PATHS):
            await _redirect(send, ENROL_PAGE)
            return
        scope["user"] = user
        cast(dict[str, Any], scope)["pending_session"] = pending
        scope["auth"] = None
        set_request_language(scope)
        # Pages show times in the person's zone; the API stays in UTC.
        formatting.use_time_zone(
            "UTC" if api
            else (user.time_zone if user and user.time_zone else _cookie_in(cookies, TIME_ZONE_COOKIE))
        )
        if read_only and scope.get("method") not in READ_METHODS:
            raise PermissionDeniedException(tr("This API token is read-only: it may only read (GET)."))
        who = user or (pending.user if pending else None)
        client = scope.get("client")
        actor = audit.Actor(
            user_id=who.id if who else None,
            email=who.email if who else "",
            ip=client[0] if client else "",
            user_agent=user_agent,
        )
        with audit.acting(actor):
            await next_app(scope, receive, send)


async def _redirect(send: Send, location: str) -> None:
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 303,
        "headers": [(b"location", location.encode()), (b"content-length", b"0")],
    }
    await send(start)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


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
