"""The account page's time zone choice: the zone every page shows times in."""

from __future__ import annotations

from litestar import Controller, Request, post
from litestar.response import Redirect, Template

from billdesk import accounts
from billdesk.auth import CurrentUser, requires_login
from billdesk.errors import ValidationFailed
from billdesk.i18n import tr
from billdesk.web import flashes
from billdesk.web.account import account_page


class TimeZoneController(Controller):
    path = "/account/time-zone"
    tags = ["pages"]
    include_in_schema = False
    guards = [requires_login]

    @post("/")
    async def choose(self, request: Request) -> Redirect | Template:
        """Save the person's time zone; empty follows the browser's."""
        user: CurrentUser = request.scope["user"]
        form = await request.form()
        try:
            await accounts.set_time_zone(
                user_id=user.id, time_zone=str(form.get("time_zone", ""))
            )
        except ValidationFailed as exc:
            return await account_page(request, time_zone_errors=exc.errors, status_code=422)
        return flashes.saved(request, "/account#time-zone", tr("Time zone saved."))
