"""The client area: the customer's pages."""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.response import Template

from billdesk.auth import requires_customer
from billdesk.web.layout import render


class ClientController(Controller):
    tags = ["client"]
    include_in_schema = False
    guards = [requires_customer]

    @get("/tickets")
    async def tickets(self, request: Request) -> Template:
        return await render(request, "client/tickets.html", active="tickets")
