"""The page a sign-in link from the billing panel opens: a session, then the redirect."""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.params import FromPath
from litestar.response import Redirect, Template

from billdesk import auth, login_links
from billdesk.i18n import tr
from billdesk.settings import get_settings
from billdesk.web.layout import render
from billdesk.web.middleware import session_cookie


def _refused() -> str:
    return tr(
        "This sign-in link was used already or has expired (links work once, for 60 seconds). "
        "Open billdesk again from your billing panel, or log in with your email and password."
    )


class LoginLinkController(Controller):
    tags = ["pages"]
    include_in_schema = False

    @get(login_links.PATH + "{secret:str}")
    async def use(self, request: Request, secret: FromPath[str]) -> Template | Redirect:
        """Sign the customer in with a normal session and go where the link says."""
        try:
            used = await login_links.use_link(secret)
        except login_links.LinkRefused:
            return await render(
                request,
                "auth/login.html",
                {"error": _refused(), "email": "", "next": ""},
                status_code=410,
            )
        old = request.cookies.get(auth.SESSION_COOKIE, "")
        if old:
            await auth.end_session(old)
        token, _ = await auth.start_session(
            user_id=used.user_id,
            ip=request.client.host if request.client else "",
            user_agent=request.headers.get("user-agent", ""),
        )
        settings = get_settings()
        response = Redirect(path=used.redirect)
        response.set_cookie(
            session_cookie(
                token, max_age=settings.session_days * 86400, secure=settings.secure_cookies
            )
        )
        return response
