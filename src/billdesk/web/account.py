"""Log in, log out, the home redirect and the account page with its API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response, Template

from billdesk import auth, clock, sessions, telegram, two_factor
from billdesk.auth import CurrentUser, LoginRefused, requires_login
from billdesk.errors import RateLimited, ValidationFailed
from billdesk.i18n import tr
from billdesk.settings import get_settings
from billdesk.tables import ApiToken
from billdesk.web import flashes
from billdesk.web.layout import render
from billdesk.web.middleware import session_cookie


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never an open redirect."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


class AccountController(Controller):
    tags = ["pages"]
    include_in_schema = False

    @get("/")
    async def home(self, request: Request) -> Redirect:
        user: CurrentUser | None = request.scope.get("user")
        return Redirect(path=user.home if user else "/login")

    @get("/login")
    async def login_page(
        self, request: Request, next: FromQuery[str | None] = None
    ) -> Template | Redirect:
        user: CurrentUser | None = request.scope.get("user")
        if user is not None:
            return Redirect(path=_safe_next(next) or user.home)
        return await render(
            request, "auth/login.html", {"error": None, "email": "", "next": next or ""}
        )

    @post("/login")
    async def login(self, request: Request) -> Template | Redirect:
        form = await request.form()
        email = str(form.get("email", "")).strip()
        password = str(form.get("password", ""))
        next_path = str(form.get("next", ""))
        context = {"email": email, "next": next_path}
        if not email or not password:
            return await render(
                request,
                "auth/login.html",
                {**context, "error": tr("Enter your email and your password.")},
                status_code=400,
            )
        try:
            user = await auth.authenticate(email=email, password=password, ip=_client_ip(request))
        except (RateLimited, ValidationFailed) as exc:
            return await render(
                request, "auth/login.html", {**context, "error": exc.detail},
                status_code=exc.status,
            )
        except LoginRefused as exc:
            return await render(
                request,
                "auth/login.html",
                {**context, "error": exc.message},
                status_code=exc.status,
            )
        return await signed_in(request, user, via="password", next_path=next_path)

    @post("/logout")
    async def logout(self, request: Request) -> Redirect:
        token = request.cookies.get(auth.SESSION_COOKIE, "")
        if token:
            await sessions.end_session(token)
        response = Redirect(path="/login")
        response.delete_cookie(auth.SESSION_COOKIE, path="/")
        return response

    @get("/account", guards=[requires_login])
    async def account_page(self, request: Request) -> Template:
        return await account_page(request)

    async def _account(self, request: Request, **extra: Any) -> Template:
        return await account_page(request, **extra)

    @post("/account/tokens", guards=[requires_login])
    async def create_token(self, request: Request) -> Template:
        user: CurrentUser = request.scope["user"]
        form = await request.form()
        name = str(form.get("name", "")).strip()
        if len(name) > 100:
            return await self._account(
                request, errors={"name": tr("Keep the label under 100 characters.")}, name=name
            )
        _, secret = await auth.create_api_token(
            user_id=user.id, name=name, read_only="read_only" in form
        )
        return await self._account(request, new_token=secret)

    @post("/account/tokens/{token_id:int}/revoke", guards=[requires_login])
    async def revoke_token(self, request: Request, token_id: FromPath[int]) -> Response | Redirect:
        user: CurrentUser = request.scope["user"]
        owned = await ApiToken.exists().where(
            (ApiToken.id == token_id) & (ApiToken.user == user.id)
        )
        if not owned:
            from litestar.exceptions import NotFoundException

            raise NotFoundException()
        await auth.revoke_api_token(token_id)
        return flashes.saved(request, "/account", tr("Token revoked."))


async def signed_in(
    request: Request, user: CurrentUser, *, via: str, next_path: str = ""
) -> Redirect:
    """The answer to a right password (a log-in, a reset link): a session in the stage
    the account's second factor calls for, and the page that stage leads to."""
    stage = await two_factor.stage_after_password(user)
    token, expires_at = await sessions.sign_in(
        user, stage=stage, via=via, ip=_client_ip(request),
        user_agent=request.headers.get("user-agent", ""),
    )
    target = _safe_next(next_path) or user.home
    if stage == sessions.CODE:
        target = "/login/code" + (f"?next={quote(target, safe='')}" if next_path else "")
    elif stage == sessions.ENROL:
        target = "/account/two-factor"
    response = Redirect(path=target)
    set_session_cookie(response, token, expires_at)
    if user.language:
        from billdesk.web.language import language_cookie

        response.set_cookie(language_cookie(user.language))
    return response


def set_session_cookie(response: Response, token: str, expires_at: datetime) -> None:
    seconds = max(int((expires_at - clock.now()).total_seconds()), 1)
    response.set_cookie(
        session_cookie(token, max_age=seconds, secure=get_settings().secure_cookies)
    )


async def account_page(request: Request, *, status_code: int = 200, **extra: Any) -> Template:
    """The account page: profile, second factor, sessions, password, mail choices, API tokens."""
    from billdesk.mail import preferences

    user: CurrentUser = request.scope["user"]
    tokens = (
        await ApiToken.select(
            ApiToken.id,
            ApiToken.name,
            ApiToken.prefix,
            ApiToken.created_at,
            ApiToken.last_used_at,
            ApiToken.revoked_at,
            ApiToken.read_only,
        )
        .where(ApiToken.user == user.id)
        .order_by(ApiToken.id, ascending=False)
        .limit(200)
    )
    context = {
        "tokens": tokens,
        "sessions": await sessions.active_sessions(
            user.id, current_token=request.cookies.get(auth.SESSION_COOKIE, "")
        ),
        "two_factor": await two_factor.status(user.id),
        "telegram": await telegram.account_view(user),
        "mail_choices": preferences.choices_for(user.role),
        "mail_preferences": await preferences.preferences(user.id),
        **extra,
    }
    return await render(request, "account.html", context, active="account", status_code=status_code)
