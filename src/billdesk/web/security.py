"""The second step of a sign-in, setting up and turning off the second factor, and
ending one's sessions (billdesk.two_factor, billdesk.sessions)."""

from __future__ import annotations

from typing import Any, cast

from litestar import Controller, Request, get, post
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from billdesk import auth, sessions, two_factor
from billdesk.auth import CurrentUser, requires_login
from billdesk.errors import RateLimited, ValidationFailed
from billdesk.i18n import tr, tr_n
from billdesk.sessions import SessionInfo
from billdesk.web import flashes
from billdesk.web.account import _client_ip, _safe_next, set_session_cookie
from billdesk.web.layout import render


def _pending(request: Request, stage: str) -> SessionInfo | None:
    pending = cast(dict[str, Any], request.scope).get("pending_session")
    return pending if pending is not None and pending.stage == stage else None


def _enrolling(request: Request) -> tuple[CurrentUser, SessionInfo | None]:
    """Who sets up a second factor: a signed-in person, or one sent to enrol at sign-in."""
    user: CurrentUser | None = request.scope.get("user")
    if user is not None:
        return user, None
    pending = _pending(request, sessions.ENROL)
    if pending is None:
        raise NotAuthorizedException(tr("Log in to continue."))
    return pending.user, pending


class SecurityController(Controller):
    tags = ["pages"]
    include_in_schema = False

    # ------------------------------------------------------- sign-in, step two

    @get("/login/code")
    async def code_page(
        self, request: Request, next: FromQuery[str | None] = None
    ) -> Template | Redirect:
        pending = _pending(request, sessions.CODE)
        if pending is None:
            return Redirect(path="/login")
        return await render(
            request,
            "auth/code.html",
            {"error": None, "next": next or "", "email": pending.user.email},
        )

    @post("/login/code")
    async def check_code(self, request: Request) -> Template | Redirect:
        """The code of the second factor (or a recovery code); then the person is signed in."""
        pending = _pending(request, sessions.CODE)
        if pending is None:
            return Redirect(path="/login")
        form = await request.form()
        next_path = str(form.get("next", ""))
        try:
            how = await two_factor.check_sign_in_code(
                pending.user, str(form.get("code", ""))[:100], ip=_client_ip(request)
            )
        except (ValidationFailed, RateLimited) as exc:
            return await render(
                request,
                "auth/code.html",
                {
                    "error": exc.errors.get("code") or exc.detail,
                    "next": next_path,
                    "email": pending.user.email,
                },
                status_code=exc.status,
            )
        expires_at = await sessions.complete(pending.id, pending.user, via=f"password and {how}")
        response = Redirect(path=_safe_next(next_path) or pending.user.home)
        set_session_cookie(response, request.cookies.get(auth.SESSION_COOKIE, ""), expires_at)
        return response

    # ------------------------------------------------------------- enrolment

    @get("/account/two-factor")
    async def two_factor_page(self, request: Request) -> Template:
        return await self._two_factor(request)

    async def _two_factor(
        self, request: Request, *, status_code: int = 200, **extra: Any
    ) -> Template:
        user, pending = _enrolling(request)
        state = await two_factor.status(user.id)
        context: dict[str, Any] = {
            "state": state,
            "required": pending is not None,
            "errors": {},
            **extra,
        }
        if not state["enabled"]:
            context["enrolment"] = await two_factor.start_enrolment(user)
        return await render(
            request, "account_two_factor.html", context, active="account", status_code=status_code
        )

    @post("/account/two-factor")
    async def confirm(self, request: Request) -> Template:
        """Confirm the app with its code: the second factor is on, the recovery codes shown once."""
        user, pending = _enrolling(request)
        form = await request.form()
        try:
            codes = await two_factor.confirm_enrolment(user, str(form.get("code", ""))[:100])
        except ValidationFailed as exc:
            return await self._two_factor(request, errors=exc.errors, status_code=exc.status)
        if pending is not None:
            # Set up at sign-in: the session is signed in now.
            expires_at = await sessions.complete(
                pending.id, user, via="password and a new second factor"
            )
            request.scope["user"] = user
            cast(dict[str, Any], request.scope)["pending_session"] = None
            page = await render(
                request,
                "account_two_factor.html",
                {
                    "state": {"enabled": True},
                    "recovery_codes": codes,
                    "continue_to": user.home,
                    "errors": {},
                },
                active="account",
            )
            set_session_cookie(page, request.cookies.get(auth.SESSION_COOKIE, ""), expires_at)
            return page
        return await self._two_factor(request, recovery_codes=codes, continue_to="/account")

    @post("/account/two-factor/disable", guards=[requires_login])
    async def disable(self, request: Request) -> Template:
        user: CurrentUser = request.scope["user"]
        form = await request.form()
        try:
            await two_factor.disable(user, str(form.get("code", ""))[:100])
        except ValidationFailed as exc:
            return await self._two_factor(request, errors=exc.errors, status_code=exc.status)
        return await self._two_factor(request, disabled=True)

    # -------------------------------------------------------------- sessions

    @post("/account/sessions/{session_id:int}/revoke", guards=[requires_login])
    async def revoke(self, request: Request, session_id: FromPath[int]) -> Redirect:
        if not await sessions.revoke_session(request.scope["user"], session_id):
            raise NotFoundException()
        return Redirect(path="/account#sessions")

    @post("/account/sessions/revoke-others", guards=[requires_login])
    async def revoke_others(self, request: Request) -> Redirect:
        ended = await sessions.revoke_other_sessions(
            request.scope["user"], keep_token=request.cookies.get(auth.SESSION_COOKIE, "")
        )
        message = tr_n(
            "Signed out everywhere else (%(num)s session ended).",
            "Signed out everywhere else (%(num)s sessions ended).",
            ended,
        )
        return flashes.saved(request, "/account#sessions", message)
