"""Finance: charged tickets, reconciliation, refunds and exports."""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.response import Template

from billdesk.auth import requires_finance
from billdesk.web.layout import render


class FinanceController(Controller):
    path = "/finance"
    tags = ["finance"]
    include_in_schema = False
    guards = [requires_finance]

    @get("/")
    async def charges(self, request: Request) -> Template:
        return await render(request, "finance/charges.html", active="finance")
