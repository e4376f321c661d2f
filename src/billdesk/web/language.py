"""The account page's language choice (docs/i18n.md)."""

from __future__ import annotations

from litestar import Controller, Request, post
from litestar.response import Redirect, Template

from billdesk import accounts
from billdesk.auth import CurrentUser, requires_login
from billdesk.errors import ValidationFailed
from billdesk.web.account import account_page


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
            await accounts.set_language(user_id=user.id, language=str(form.get("language", "")))
        except ValidationFailed as exc:
            return await account_page(request, language_errors=exc.errors, status_code=422)
        return Redirect(path="/account#language")
