"""CSRF tokens bound to the session that received them.

A page's forms carry a token signed (HMAC with the secret key) together with
what identifies the browser: its session cookie once logged in, else a random
anonymous cookie set with the log-in form. A POST is accepted only with a token
signed for the cookie it comes with, so a token taken from one session is worth
nothing in another, and the log-in form itself is protected before any session
exists. The JSON API takes Bearer tokens only and needs none of this.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from billdesk.auth import SESSION_COOKIE
from billdesk.i18n import tr

ANONYMOUS_COOKIE = "billdesk_csrf"
FIELD = "_csrf_token"
HEADER = "x-csrftoken"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_NONCE_HEX = 32


def _binding(session: str, anonymous: str) -> str:
    if session:
        return "session:" + hashlib.sha256(session.encode()).hexdigest()
    return "anonymous:" + anonymous


def make_token(secret: str, binding: str) -> str:
    """A fresh token for this binding: a nonce and its signature, so no two pages repeat one."""
    nonce = secrets.token_hex(_NONCE_HEX // 2)
    return nonce + _sign(secret, binding, nonce)


def _sign(secret: str, binding: str, nonce: str) -> str:
    return hmac.new(secret.encode(), f"{binding}\n{nonce}".encode(), hashlib.sha256).hexdigest()


def token_matches(secret: str, binding: str, token: str) -> bool:
    nonce, signature = token[:_NONCE_HEX], token[_NONCE_HEX:]
    if len(nonce) != _NONCE_HEX or not signature:
        return False
    return hmac.compare_digest(signature, _sign(secret, binding, nonce))


def _is_anonymous_id(value: str) -> bool:
    return len(value) == 43 and all(c.isalnum() or c in "-_" for c in value)


class SessionBoundCsrf(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)
    should_bypass_for_scope = staticmethod(
        lambda scope: scope["path"].startswith(
            ("/api/", "/stripe/webhook", "/telegram/webhook", "/healthz", "/static/")
        )
    )

    def __init__(self, *, secret: str, secure: bool) -> None:
        self.secret = secret
        self.secure = secure

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request = scope["litestar_app"].request_class(scope=scope, receive=receive)
        session = request.cookies.get(SESSION_COOKIE, "")
        anonymous = request.cookies.get(ANONYMOUS_COOKIE, "")
        new_anonymous = ""
        if not session and not _is_anonymous_id(anonymous):
            anonymous = new_anonymous = secrets.token_urlsafe(32)
        binding = _binding(session, anonymous)
        state = ScopeState.from_scope(scope)
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(HEADER)
            if not sent and request.content_type[0] in (
                "application/x-www-form-urlencoded", "multipart/form-data",
            ):
                sent = (await request.form()).get(FIELD)
            if new_anonymous or not isinstance(sent, str) or not token_matches(
                self.secret, binding, sent
            ):
                raise PermissionDeniedException(tr("CSRF token verification failed"))
        state.csrf_token = make_token(self.secret, binding)
        if new_anonymous:
            send = self._setting_cookie(send, new_anonymous)
        await next_app(scope, receive, send)

    def _setting_cookie(self, send: Send, value: str) -> Send:
        cookie = Cookie(
            key=ANONYMOUS_COOKIE, value=value, path="/", httponly=True, secure=self.secure,
            samesite="lax",
        ).to_header(header="")

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message).add("set-cookie", cookie)
            await send(message)

        return wrapped
