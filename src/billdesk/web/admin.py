"""Admin: departments, quotas and prices, staff, users and settings."""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.response import Redirect, Template

from billdesk.auth import requires_admin
from billdesk.tables import Department
from billdesk.web.layout import render


class AdminController(Controller):
    path = "/admin"
    tags = ["admin"]
    include_in_schema = False
    guards = [requires_admin]

    @get("/")
    async def index(self) -> Redirect:
        return Redirect(path="/admin/departments")

    @get("/departments")
    async def departments(self, request: Request) -> Template:
        rows = await Department.select().order_by(Department.name)
        return await render(
            request, "admin/departments.html", {"departments": rows}, active="admin_departments"
        )
