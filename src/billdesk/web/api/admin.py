"""The JSON API of admin and the billing-system sync (API.md, "Admin and billing-system sync")."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from billdesk import accounts, departments, queues, two_factor
from billdesk.auth import CurrentUser, requires_admin
from billdesk.errors import NotFound
from billdesk.i18n import tr
from billdesk.navigation import support_enabled
from billdesk.sla import policy
from billdesk.tables import Service, User
from billdesk.web.api.desk import rfc3339
from billdesk.web.params import Amount, Id

CREATED = ResponseSpec(data_container=dict[str, Any], description="Created (200: updated).")


class DepartmentIn(msgspec.Struct, forbid_unknown_fields=True):
    slug: str
    name: str
    description: str = ""
    public: bool = True
    active: bool = True
    free_tickets: Amount | None = None
    quota_period: str = "month"
    ticket_price: Amount = 0
    currency: str = "usd"
    inbound_address: str | None = None
    assign_on_reply: bool = True


class DepartmentChanges(msgspec.Struct, forbid_unknown_fields=True):
    slug: str | msgspec.UnsetType = msgspec.UNSET
    name: str | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType = msgspec.UNSET
    public: bool | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    free_tickets: Amount | msgspec.UnsetType | None = msgspec.UNSET
    quota_period: str | msgspec.UnsetType = msgspec.UNSET
    ticket_price: Amount | msgspec.UnsetType = msgspec.UNSET
    currency: str | msgspec.UnsetType = msgspec.UNSET
    inbound_address: str | msgspec.UnsetType | None = msgspec.UNSET
    assign_on_reply: bool | msgspec.UnsetType = msgspec.UNSET


class MemberIn(msgspec.Struct):
    user_id: Id


class UserIn(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    name: str
    role: str
    password: str | None = None
    active: bool = True


class UserChanges(msgspec.Struct, forbid_unknown_fields=True):
    email: str | msgspec.UnsetType = msgspec.UNSET
    name: str | msgspec.UnsetType = msgspec.UNSET
    role: str | msgspec.UnsetType = msgspec.UNSET
    password: str | msgspec.UnsetType | None = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class CustomerIn(msgspec.Struct):
    email: str
    name: str
    stripe_customer_id: str | None = None


class ServiceIn(msgspec.Struct):
    customer_external_id: str
    name: str
    kind: str
    status: str


class SettingsChanges(msgspec.Struct, forbid_unknown_fields=True):
    support_enabled: bool | msgspec.UnsetType = msgspec.UNSET
    two_factor_required: bool | msgspec.UnsetType = msgspec.UNSET


def _given(struct: msgspec.Struct) -> dict[str, Any]:
    return {
        name: getattr(struct, name)
        for name in struct.__struct_fields__
        if getattr(struct, name) is not msgspec.UNSET
    }


async def department_out(department_id: int) -> dict[str, Any]:
    row = await departments.get_department(department_id)
    members = await departments.members(department_id)
    return {
        "id": row["id"],
        **{key: row[key] for key in departments.FIELDS},
        "created_at": rfc3339(row["created_at"]),
        "members": [
            {"id": member["user.id"], "name": member["user.name"], "email": member["user.email"]}
            for member in members
        ],
    }


USER_COLUMNS = (
    User.id, User.email, User.name, User.role, User.active, User.external_id,
    User.stripe_customer_id, User.created_at, User.totp_enabled,
)


async def user_out(user_id: int) -> dict[str, Any]:
    row = await User.select(*USER_COLUMNS).where(User.id == user_id).first()
    if row is None:
        raise NotFound(tr("There is no such user."))
    row["created_at"] = rfc3339(row["created_at"])
    row["two_factor"] = bool(row.pop("totp_enabled"))
    return row


async def _settings_out() -> dict[str, Any]:
    return {
        "support_enabled": await support_enabled(),
        "two_factor_required": await two_factor.is_required(),
    }


class AdminApiController(Controller):
    path = "/api/v1/admin"
    tags = ["admin"]
    guards = [requires_admin]

    @get("/departments")
    async def list_departments(self) -> dict[str, Any]:
        """Every department, active or not, with its quota, price and members."""
        rows = await departments.list_departments()
        return {
            "items": [
                {"id": row["id"], **{key: row[key] for key in departments.FIELDS}}
                for row in rows
            ],
            "next_cursor": None,
        }

    @post("/departments", status_code=HTTP_201_CREATED)
    async def create_department(self, data: JSONBody[DepartmentIn]) -> dict[str, Any]:
        """Create a department: slug, name, quota (`free_tickets` per `quota_period`), `ticket_price` in minor units and `currency`."""
        department_id = await departments.create_department(**_given(data))
        return await department_out(department_id)

    @get("/departments/{department_id:int}")
    async def show_department(self, department_id: FromPath[int]) -> dict[str, Any]:
        """One department with its quota, price and members."""
        return await department_out(department_id)

    @patch("/departments/{department_id:int}")
    async def change_department(
        self, department_id: FromPath[int], data: JSONBody[DepartmentChanges]
    ) -> dict[str, Any]:
        """Change some of a department's fields; the others stay as they are."""
        await departments.update_department(department_id, _given(data))
        return await department_out(department_id)

    @get("/departments/{department_id:int}/service-level")
    async def show_service_level(self, department_id: FromPath[int]) -> dict[str, Any]:
        """Business hours, targets, escalation rule and auto-close (docs/sla.md)."""
        return await policy.service_level(department_id)

    @put("/departments/{department_id:int}/service-level")
    async def set_service_level(
        self, department_id: FromPath[int], data: JSONBody[dict[str, Any]]
    ) -> dict[str, Any]:
        """Replace the fields given; each bad value answers 422 naming its field."""
        return await policy.set_service_level(department_id, data)

    @post("/departments/{department_id:int}/members", status_code=HTTP_201_CREATED)
    async def add_member(self, department_id: FromPath[int], data: JSONBody[MemberIn]) -> dict[str, Any]:
        """Add a staff member or admin to the department; they see its queue."""
        await departments.add_member(department_id=department_id, user_id=data.user_id)
        return await department_out(department_id)

    @delete(
        "/departments/{department_id:int}/members/{user_id:int}", status_code=HTTP_204_NO_CONTENT
    )
    async def remove_member(self, department_id: FromPath[int], user_id: FromPath[int]) -> None:
        """Take a member out of the department; tickets assigned to them stay assigned."""
        await departments.remove_member(department_id=department_id, user_id=user_id)

    @get("/users")
    async def list_users(self) -> dict[str, Any]:
        """Every user (at most 1,000), with role and whether the account is active."""
        rows = await User.select(*USER_COLUMNS).order_by(User.id).limit(1000)
        for row in rows:
            row["created_at"] = rfc3339(row["created_at"])
            row["two_factor"] = bool(row.pop("totp_enabled"))
        return {"items": rows, "next_cursor": None}

    @post("/users", status_code=HTTP_201_CREATED)
    async def create_user(self, data: JSONBody[UserIn]) -> dict[str, Any]:
        """Create a user with a role; without a password they log in only through a password link."""
        user_id = await accounts.create_user(
            email=data.email, name=data.name, role=data.role, password=data.password,
            active=data.active,
        )
        return await user_out(user_id)

    @patch("/users/{user_id:int}")
    async def change_user(
        self, request: Request, user_id: FromPath[int], data: JSONBody[UserChanges]
    ) -> dict[str, Any]:
        """Change a user; a new password or `active: false` ends their sessions and tokens."""
        actor: CurrentUser = request.scope["user"]
        await accounts.update_user(user_id, _given(data), actor_id=actor.id)
        return await user_out(user_id)

    @post("/users/{user_id:int}/two-factor/reset", status_code=HTTP_200_OK)
    async def reset_two_factor(self, user_id: FromPath[int]) -> dict[str, Any]:
        """Take away the user's second factor (a lost phone); recorded in the audit log."""
        await two_factor.reset(user_id)
        return await user_out(user_id)

    @put("/customers/{external_id:str}", responses={201: CREATED})
    async def put_customer(
        self, external_id: FromPath[str], data: JSONBody[CustomerIn]
    ) -> Response[dict[str, Any]]:
        """Create or update a customer of the billing system (201 when created)."""
        user_id, created = await departments.upsert_customer(
            external_id=external_id, email=data.email, name=data.name,
            stripe_customer_id=data.stripe_customer_id,
        )
        return Response(
            await user_out(user_id), status_code=HTTP_201_CREATED if created else HTTP_200_OK
        )

    @put("/services/{external_id:str}", responses={201: CREATED})
    async def put_service(
        self, external_id: FromPath[str], data: JSONBody[ServiceIn]
    ) -> Response[dict[str, Any]]:
        """Create or update a service of the billing system (201 when created)."""
        service_id, created = await departments.upsert_service(
            external_id=external_id, customer_external_id=data.customer_external_id,
            name=data.name, kind=data.kind, status=data.status,
        )
        row = await Service.select(
            Service.id, Service.external_id, Service.customer.id, Service.customer.external_id,
            Service.name, Service.kind, Service.status,
        ).where(Service.id == service_id).first()
        answer = {
            "id": row["id"], "external_id": row["external_id"],  # type: ignore[index]
            "customer": {
                "id": row["customer.id"],  # type: ignore[index]
                "external_id": row["customer.external_id"],  # type: ignore[index]
            },
            "name": row["name"], "kind": row["kind"], "status": row["status"],  # type: ignore[index]
        }
        return Response(answer, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get("/settings")
    async def show_settings(self) -> dict[str, Any]:
        """Whether support is on for customers, and whether staff must use a second factor."""
        return await _settings_out()

    @patch("/settings")
    async def change_settings(self, data: JSONBody[SettingsChanges]) -> dict[str, Any]:
        """`support_enabled`; `two_factor_required` (staff, finance and admins)."""
        if data.support_enabled is not msgspec.UNSET:
            await departments.set_support_enabled(data.support_enabled)
        if data.two_factor_required is not msgspec.UNSET:
            await two_factor.set_required(data.two_factor_required)
        return await _settings_out()

    @get("/trash")
    async def list_trash(self) -> dict[str, Any]:
        """Tickets moved to the trash, newest first; an admin can restore them."""
        rows = await queues.trash()
        return {
            "items": [
                {
                    "id": row["id"], "subject": row["subject"], "status": row["status"],
                    "department": row["department.name"], "customer": row["customer.name"],
                    "removed_at": rfc3339(row["removed_at"]),
                }
                for row in rows
            ],
            "next_cursor": None,
        }

    @post("/trash/{ticket_id:int}/restore", status_code=HTTP_200_OK)
    async def restore(self, request: Request, ticket_id: FromPath[int]) -> dict[str, Any]:
        """Bring a ticket back from the trash to its queue."""
        user: CurrentUser = request.scope["user"]
        await queues.restore_ticket(actor=user, ticket_id=ticket_id)
        return {"id": ticket_id, "restored": True}
