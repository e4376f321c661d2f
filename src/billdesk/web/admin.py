"""Admin: departments with their quotas, prices and members; users; settings; the trash."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from billdesk import accounts, departments, formatting, queues, two_factor
from billdesk.auth import CurrentUser, Role, requires_admin
from billdesk.errors import DeskError, NotFound, ValidationFailed
from billdesk.i18n import tr
from billdesk.navigation import support_enabled
from billdesk.tables import User
from billdesk.validation import parse_id, parse_int
from billdesk.web import flashes
from billdesk.web.layout import render

PERIOD_OPTIONS = [
    ("month", tr("Calendar month")),
    ("year", tr("Calendar year")),
    ("lifetime", tr("Lifetime")),
]
ROLE_LABELS = {
    "customer": tr("Customer"),
    "staff": tr("Staff"),
    "finance": tr("Finance"),
    "admin": tr("Admin"),
}
ROLE_OPTIONS = [(role, ROLE_LABELS.get(role, role.capitalize())) for role in Role.ALL]


def _department_form(form: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The department's values as typed (to show again) and as parsed, with parse errors."""
    typed: dict[str, Any] = {
        key: str(form.get(key, "")).strip()
        for key in ("slug", "name", "description", "free_tickets", "quota_period",
                    "ticket_price", "currency", "inbound_address")
    }
    typed["public"] = "public" in form
    typed["active"] = "active" in form
    typed["assign_on_reply"] = "assign_on_reply" in form
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "slug": typed["slug"], "name": typed["name"], "description": typed["description"],
        "quota_period": typed["quota_period"], "currency": typed["currency"],
        "public": typed["public"], "active": typed["active"],
        "assign_on_reply": typed["assign_on_reply"],
        "inbound_address": typed["inbound_address"] or None,
    }
    try:
        values["free_tickets"] = parse_int("free_tickets", typed["free_tickets"])
    except ValidationFailed:
        errors["free_tickets"] = tr("Free tickets must be a whole number of 0 or more.")
    values["currency"] = typed["currency"].lower()
    if values["currency"] not in departments.CURRENCIES:
        errors["currency"] = tr("Choose a currency from the list.")
    elif not typed["ticket_price"]:
        values["ticket_price"] = 0
    else:
        # Typed in the currency's units (20 or 20.00 USD is 2000 cents; JPY has none).
        try:
            values["ticket_price"] = formatting.parse_money(
                typed["ticket_price"], values["currency"]
            )
        except formatting.MoneyFormatError as exc:
            errors["ticket_price"] = exc.args[0]
    return typed, values, errors


def _typed_from_row(row: dict[str, Any]) -> dict[str, Any]:
    typed = {key: row[key] for key in departments.FIELDS}
    typed["free_tickets"] = "" if row["free_tickets"] is None else str(row["free_tickets"])
    typed["ticket_price"] = formatting.major_units(row["ticket_price"], row["currency"])
    typed["inbound_address"] = row["inbound_address"] or ""
    return typed


class AdminController(Controller):
    path = "/admin"
    tags = ["admin"]
    include_in_schema = False
    guards = [requires_admin]

    @get("/")
    async def index(self) -> Redirect:
        return Redirect(path="/admin/departments")

    # ----------------------------------------------------------- departments

    @get("/departments")
    async def departments_page(self, request: Request) -> Template:
        return await self._departments(request)

    async def _departments(
        self, request: Request, *, typed: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None, status_code: int = 200,
    ) -> Template:
        return await render(
            request,
            "admin/departments.html",
            {
                "departments": await departments.list_departments(),
                "typed": typed or {"public": True, "active": True, "assign_on_reply": True,
                                   "quota_period": "month",
                                   "currency": "usd", "ticket_price": "0"},
                "errors": errors or {},
                "period_options": PERIOD_OPTIONS,
                "currency_options": formatting.currency_options(departments.CURRENCIES),
            },
            active="admin_departments",
            status_code=status_code,
        )

    @post("/departments")
    async def create_department(self, request: Request) -> Template | Redirect:
        typed, values, errors = _department_form(await request.form())
        if not errors:
            try:
                department_id = await departments.create_department(**values)
            except DeskError as exc:
                errors = exc.errors
            else:
                return flashes.saved(
                    request, f"/admin/departments/{department_id}", tr("Department created.")
                )
        return await self._departments(request, typed=typed, errors=errors, status_code=422)

    @get("/departments/{department_id:int}")
    async def department_page(self, request: Request, department_id: FromPath[int]) -> Template:
        row = await departments.get_department(department_id)
        return await self._department(request, row, typed=_typed_from_row(row))

    async def _department(
        self, request: Request, row: dict[str, Any], *, typed: dict[str, Any],
        errors: dict[str, str] | None = None, status_code: int = 200,
        kind_typed: dict[str, Any] | None = None,
    ) -> Template:
        from billdesk import requests

        members = await departments.members(row["id"])
        member_ids = {member["user.id"] for member in members}
        kinds = await requests.kinds_by_department([row["id"]], active_only=False)
        candidates = await User.select(User.id, User.name, User.email).where(
            User.role.is_in([Role.STAFF, Role.ADMIN]) & (User.active == True)  # noqa: E712
        ).order_by(User.name)
        return await render(
            request,
            "admin/department.html",
            {
                "department": row, "typed": typed, "errors": errors or {},
                "members": members,
                "candidate_options": [
                    (user["id"], f"{user['name']} ({user['email']})")
                    for user in candidates if user["id"] not in member_ids
                ],
                "period_options": PERIOD_OPTIONS,
                "currency_options": formatting.currency_options(departments.CURRENCIES),
                "request_kinds": kinds.get(row["id"], []),
                "kind_typed": kind_typed or {},
            },
            active="admin_departments",
            status_code=status_code,
        )

    @post("/departments/{department_id:int}")
    async def update_department(
        self, request: Request, department_id: FromPath[int]
    ) -> Template | Redirect:
        row = await departments.get_department(department_id)
        typed, values, errors = _department_form(await request.form())
        if not errors:
            try:
                await departments.update_department(department_id, values)
            except DeskError as exc:
                errors = exc.errors
            else:
                return flashes.saved(request, f"/admin/departments/{department_id}")
        return await self._department(
            request, row, typed=typed, errors=errors, status_code=422
        )

    @post("/departments/{department_id:int}/deactivate")
    async def deactivate_department(
        self, request: Request, department_id: FromPath[int]
    ) -> Redirect:
        await departments.update_department(department_id, {"active": False})
        return flashes.saved(
            request, f"/admin/departments/{department_id}", tr("Department deactivated.")
        )

    @post("/departments/{department_id:int}/members")
    async def add_member(
        self, request: Request, department_id: FromPath[int]
    ) -> Template | Redirect:
        row = await departments.get_department(department_id)
        form = await request.form()
        raw = str(form.get("user_id", ""))
        try:
            user_id = parse_id("user_id", raw)
            if user_id is None:
                raise ValidationFailed.field("user_id", tr("Choose a staff member."))
            await departments.add_member(department_id=department_id, user_id=user_id)
        except DeskError as exc:
            if exc.status == 404:
                raise
            return await self._department(
                request, row, typed=_typed_from_row(row), errors=exc.errors, status_code=422
            )
        return flashes.saved(request, f"/admin/departments/{department_id}", tr("Member added."))

    @post("/departments/{department_id:int}/request-kinds")
    async def add_request_kind(
        self, request: Request, department_id: FromPath[int]
    ) -> Template | Redirect:
        """Add a kind of service request customers may file here."""
        from billdesk import requests

        row = await departments.get_department(department_id)
        form = await request.form()
        kind_typed = {
            "kind_name": str(form.get("name", "")),
            "kind_description": str(form.get("description", "")),
            "kind_requires_service": bool(form.get("requires_service")),
        }
        try:
            await requests.create_kind(
                department_id=department_id, name=kind_typed["kind_name"],
                description=kind_typed["kind_description"],
                requires_service=kind_typed["kind_requires_service"],
            )
        except DeskError as exc:
            if exc.status == 404:
                raise
            errors = {f"kind_{key}": value for key, value in exc.errors.items()}
            return await self._department(
                request, row, typed=_typed_from_row(row), errors=errors, status_code=422,
                kind_typed=kind_typed,
            )
        return Redirect(path=f"/admin/departments/{department_id}")

    @post("/departments/{department_id:int}/request-kinds/{kind_id:int}/toggle")
    async def toggle_request_kind(
        self, department_id: FromPath[int], kind_id: FromPath[int]
    ) -> Redirect:
        """Stop offering a request kind, or offer it again."""
        from billdesk import requests

        kinds = await requests.kinds_by_department([department_id], active_only=False)
        kind = next((k for k in kinds.get(department_id, []) if k["id"] == kind_id), None)
        await requests.set_kind_active(
            department_id=department_id, kind_id=kind_id, active=not (kind and kind["active"])
        )
        return Redirect(path=f"/admin/departments/{department_id}")

    @post("/departments/{department_id:int}/members/{user_id:int}/remove")
    async def remove_member(
        self, request: Request, department_id: FromPath[int], user_id: FromPath[int]
    ) -> Redirect:
        await departments.remove_member(department_id=department_id, user_id=user_id)
        return flashes.saved(request, f"/admin/departments/{department_id}", tr("Member removed."))

    # ----------------------------------------------------------------- users

    @get("/users")
    async def users_page(self, request: Request) -> Template:
        return await self._users(request)

    async def _users(
        self, request: Request, *, typed: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None, status_code: int = 200,
    ) -> Template:
        users = await User.select(
            User.id, User.email, User.name, User.role, User.active
        ).order_by(User.role).order_by(User.name).limit(1000)
        return await render(
            request,
            "admin/users.html",
            {
                "users": users, "typed": typed or {"role": "staff"}, "errors": errors or {},
                "role_options": ROLE_OPTIONS,
            },
            active="admin_users",
            status_code=status_code,
        )

    @post("/users")
    async def create_user(self, request: Request) -> Template | Redirect:
        form = await request.form()
        typed = {key: str(form.get(key, "")) for key in ("email", "name", "role", "password")}
        try:
            await accounts.create_user(
                email=typed["email"], name=typed["name"], role=typed["role"],
                password=typed["password"] or None,
            )
        except DeskError as exc:
            typed.pop("password")
            return await self._users(request, typed=typed, errors=exc.errors, status_code=422)
        return flashes.saved(
            request, "/admin/users", tr("User %(email)s created.", email=typed["email"])
        )

    @get("/users/{user_id:int}")
    async def user_page(self, request: Request, user_id: FromPath[int]) -> Template:
        row = await self._user_row(user_id)
        return await self._user(request, row, typed=dict(row))

    @staticmethod
    async def _user_row(user_id: int) -> dict[str, Any]:
        row = await User.select(User.id, User.email, User.name, User.role, User.active).where(
            User.id == user_id
        ).first()
        if row is None:
            raise NotFound(tr("There is no such user."))
        return row

    async def _user(
        self, request: Request, row: dict[str, Any], *, typed: dict[str, Any],
        errors: dict[str, str] | None = None, status_code: int = 200,
    ) -> Template:
        return await render(
            request, "admin/user.html",
            {"user": row, "typed": typed, "errors": errors or {}, "role_options": ROLE_OPTIONS,
             "two_factor": await two_factor.status(row["id"])},
            active="admin_users", status_code=status_code,
        )

    @post("/users/{user_id:int}/two-factor/reset")
    async def reset_two_factor(self, request: Request, user_id: FromPath[int]) -> Redirect:
        """Take away a user's second factor (a lost phone); recorded in the audit log."""
        await two_factor.reset(user_id)
        return flashes.saved(
            request, f"/admin/users/{user_id}",
            tr("The second factor is reset; the user may set up a new one."),
        )

    @post("/users/{user_id:int}")
    async def update_user(self, request: Request, user_id: FromPath[int]) -> Template | Redirect:
        me: CurrentUser = request.scope["user"]
        row = await self._user_row(user_id)
        form = await request.form()
        typed: dict[str, Any] = {key: str(form.get(key, "")) for key in ("email", "name", "role")}
        typed["active"] = "active" in form
        changes: dict[str, Any] = dict(typed)
        if form.get("password"):
            changes["password"] = str(form.get("password"))
        try:
            await accounts.update_user(user_id, changes, actor_id=me.id)
        except DeskError as exc:
            if exc.status == 404:
                raise
            return await self._user(request, row, typed=typed, errors=exc.errors, status_code=422)
        return flashes.saved(
            request, "/admin/users", tr("User %(email)s saved.", email=typed["email"])
        )

    # -------------------------------------------------------------- settings

    @get("/settings")
    async def settings_page(self, request: Request) -> Template:
        return await render(
            request, "admin/settings.html",
            {"support_enabled": await support_enabled(),
             "two_factor_required": await two_factor.is_required()},
            active="admin_settings",
        )

    @post("/settings")
    async def update_settings(self, request: Request) -> Redirect:
        form = await request.form()
        await departments.set_support_enabled("support_enabled" in form)
        await two_factor.set_required("two_factor_required" in form)
        enabled = await support_enabled()
        return flashes.saved(
            request,
            "/admin/settings",
            tr("Support is on.") if enabled else tr("Support is switched off."),
        )

    # ----------------------------------------------------------------- trash

    @get("/trash")
    async def trash_page(self, request: Request) -> Template:
        return await render(
            request, "admin/trash.html", {"tickets": await queues.trash()}, active="admin_trash"
        )

    @post("/trash/{ticket_id:int}/restore")
    async def restore(self, request: Request, ticket_id: FromPath[int]) -> Redirect:
        await queues.restore_ticket(actor=request.scope["user"], ticket_id=ticket_id)
        return flashes.saved(request, "/admin/trash", tr("Ticket #%(id)s restored.", id=ticket_id))
