"""The JSON API the billing system uses beside the admin sync (docs/integration.md):
request kinds per department and requests filed for a customer."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED

from billdesk import login_links, queues, requests
from billdesk.auth import CurrentUser, requires_admin
from billdesk.departments import get_department
from billdesk.web.api.desk import full_ticket, rfc3339
from billdesk.web.params import Id


class RequestKindIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    description: str = ""
    requires_service: bool = False


class RequestIn(msgspec.Struct, forbid_unknown_fields=True):
    customer_external_id: str
    kind_id: Id
    message: str
    service_external_id: str | None = None


class LoginLinkIn(msgspec.Struct, forbid_unknown_fields=True):
    redirect: str | None = None


class IntegrationApiController(Controller):
    path = "/api/v1/admin"
    tags = ["admin"]
    guards = [requires_admin]

    @post("/customers/{external_id:str}/login-link", status_code=HTTP_201_CREATED)
    async def login_link(
        self, external_id: FromPath[str], data: JSONBody[LoginLinkIn]
    ) -> dict[str, Any]:
        """A sign-in link for the customer: works once, within 60 seconds, then goes to
        `redirect` (a path on billdesk; anything else goes to the home page).
        A deactivated customer gets none (409)."""
        issued = await login_links.issue_link(external_id=external_id, redirect=data.redirect)
        return {"url": issued.url, "expires_at": rfc3339(issued.expires_at)}

    @get("/departments/{department_id:int}/request-kinds")
    async def list_request_kinds(self, department_id: FromPath[int]) -> dict[str, Any]:
        """The department's request kinds, offered or not."""
        await get_department(department_id)
        kinds = await requests.kinds_by_department([department_id], active_only=False)
        return {
            "items": [requests.kind_out(row) for row in kinds.get(department_id, [])],
            "next_cursor": None,
        }

    @post("/departments/{department_id:int}/request-kinds", status_code=HTTP_201_CREATED)
    async def create_request_kind(
        self, department_id: FromPath[int], data: JSONBody[RequestKindIn]
    ) -> dict[str, Any]:
        """Add a kind of request customers may file in the department; the kind with its id."""
        row = await requests.create_kind(
            department_id=department_id,
            name=data.name,
            description=data.description,
            requires_service=data.requires_service,
        )
        return requests.kind_out(row)

    @post("/requests", status_code=HTTP_201_CREATED)
    async def file_request(self, request: Request, data: JSONBody[RequestIn]) -> dict[str, Any]:
        """File a request on a customer's behalf (never charged, no quota used); the ticket."""
        user: CurrentUser = request.scope["user"]
        ticket_id = await requests.file_request(
            customer_external_id=data.customer_external_id,
            kind_id=data.kind_id,
            service_external_id=data.service_external_id,
            message=data.message,
        )
        return full_ticket(await queues.desk_ticket(user, ticket_id))
