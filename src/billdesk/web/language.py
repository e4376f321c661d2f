"""The account page's language choice (docs/i18n.md)."""

from __future__ import annotations

from litestar import Controller, Request, post
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template

from billdesk import accounts
from billdesk.auth import CurrentUser, requires_login
from billdesk.errors import ValidationFailed
from billdesk.i18n.choice import COOKIE
from billdesk.settings import get_settings
from billdesk.web.account import account_page


def language_cookie(language: str) -> Cookie:
    """The person's chosen language for requests that come before they are recognised;
    an empty choice (follow the browser) removes it."""
    return Cookie(
        key=COOKIE,
        value=language,
        max_age=365 * 86400 if language else 0,
        path="/",
        samesite="lax",
        secure=get_settings().secure_cookies,
        httponly=True,
    )


class LanguageController(Controller):
    path = "/account/language"
    tags = ["pages"]
    include_in_schema = False
    guards = [requires_login]

    @post("/")
    async def choose(self, request: Request) -> Redirect | Template:
        """Save the person's language; the account page then reads in it."""
        user: CurrentUser = request.scope["user"]
        form = await request.form()
        try:
            chosen = await accounts.set_language(
                user_id=user.id, language=str(form.get("language", ""))
            )
        except ValidationFailed as exc:
            return await account_page(request, language_errors=exc.errors, status_code=422)
        response = Redirect(path="/account#language")
        response.set_cookie(language_cookie(chosen))
        return response
