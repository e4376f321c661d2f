"""The page a sign-in link from the billing panel opens: a session, then the redirect."""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.params import FromPath
from litestar.response import Redirect, Template

from billdesk import auth, login_links, sessions
from billdesk.auth import CurrentUser
from billdesk.i18n import tr
from billdesk.tables import User
from billdesk.web.account import signed_in
from billdesk.web.layout import render


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
            await sessions.end_session(old)
        row = (
            await User.select(User.id, User.email, User.name, User.role)
            .where(User.id == used.user_id)
            .first()
        )
        assert row is not None  # use_link checked the customer is active
        customer = CurrentUser(id=row["id"], email=row["email"], name=row["name"], role=row["role"])
        # A second factor the customer turned on is still asked for, as after a password.
        return await signed_in(request, customer, via="login_link", next_path=used.redirect)
