"""The desk: the queues of the departments a staff member works in."""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.response import Template

from billdesk.auth import requires_staff
from billdesk.web.layout import render


class DeskController(Controller):
    path = "/desk"
    tags = ["desk"]
    include_in_schema = False
    guards = [requires_staff]

    @get("/")
    async def queue(self, request: Request) -> Template:
        return await render(request, "desk/queue.html", active="desk")
