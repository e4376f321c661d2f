"""The account page's mail choices, and their JSON twin."""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import JSONBody
from litestar.response import Template

from billdesk.auth import CurrentUser, requires_login
from billdesk.errors import ValidationFailed
from billdesk.i18n import tr
from billdesk.mail import preferences


class MailPreferencesController(Controller):
    tags = ["pages"]
    include_in_schema = False
    guards = [requires_login]

    @post("/account/mail-preferences")
    async def save(self, request: Request) -> Template:
        """A box not ticked is a mail not wanted."""
        from billdesk.web.account import account_page

        user: CurrentUser = request.scope["user"]
        form = await request.form()
        wanted = {kind: kind in form for kind, _ in preferences.choices_for(user.role)}
        await preferences.set_preferences(user_id=user.id, role=user.role, wanted=wanted)
        return await account_page(request, preferences_saved=True)


class MailPreferences(msgspec.Struct):
    """Which mails the caller gets: customers staff_reply, ticket_solved, payment_failed;
    staff and admins new_ticket, customer_reply, paid_ticket."""

    choices: dict[str, bool]


class MailPreferencesApiController(Controller):
    path = "/api/v1/me/mail-preferences"
    tags = ["me"]
    guards = [requires_login]

    @get("/")
    async def read(self, request: Request) -> MailPreferences:
        """The mails the caller can choose, each on or off (all on until changed)."""
        user: CurrentUser = request.scope["user"]
        current = await preferences.preferences(user.id)
        return MailPreferences(
            choices={kind: current[kind] for kind, _ in preferences.choices_for(user.role)}
        )

    @patch("/")
    async def change(self, request: Request, data: JSONBody[MailPreferences]) -> MailPreferences:
        """Turn mails on or off: `{"choices": {"ticket_solved": false}}`; others stay as they are."""
        user: CurrentUser = request.scope["user"]
        if not isinstance(data.choices, dict):
            raise ValidationFailed.field("choices", tr("choices is an object of true or false."))
        saved = await preferences.set_preferences(
            user_id=user.id, role=user.role, wanted=data.choices
        )
        return MailPreferences(
            choices={kind: saved[kind] for kind, _ in preferences.choices_for(user.role)}
        )
