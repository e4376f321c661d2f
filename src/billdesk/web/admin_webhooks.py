"""Admin: outgoing webhook endpoints, their delivery log and "send again" (pages and API)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from billdesk import outgoing_webhooks as webhooks
from billdesk.auth import requires_admin
from billdesk.errors import DeskError
from billdesk.i18n import tr
from billdesk.tables import WebhookDelivery
from billdesk.web import flashes
from billdesk.web.api.desk import rfc3339
from billdesk.web.layout import render
from billdesk.web.paging import keyset_page, page, parse_limit
from billdesk.web.params import CursorQuery, LimitQuery

LOG_SIZE = 50


def endpoint_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "url": row["url"],
        "description": row["description"],
        "events": row["events"],
        "active": row["active"],
        "allow_insecure": row["allow_insecure"],
        "disabled_reason": row["disabled_reason"],
        "failing_since": rfc3339(row["failing_since"]),
        "created_at": rfc3339(row["created_at"]),
    }


def delivery_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "event_id": row["event_id"],
        "type": row["event_type"],
        "status": row["status"],
        "tries": row["tries"],
        "response_code": row["response_code"],
        "last_error": row["last_error"],
        "created_at": rfc3339(row["created_at"]),
        "last_try_at": rfc3339(row["last_try_at"]),
        "delivered_at": rfc3339(row["delivered_at"]),
    }


class EndpointIn(msgspec.Struct, forbid_unknown_fields=True):
    url: str
    events: list[str]
    description: str = ""
    allow_insecure: bool = False


class EndpointChanges(msgspec.Struct, forbid_unknown_fields=True):
    url: str | msgspec.UnsetType = msgspec.UNSET
    events: list[str] | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType = msgspec.UNSET
    allow_insecure: bool | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class AdminWebhooksApiController(Controller):
    path = "/api/v1/admin/webhooks"
    tags = ["admin"]
    guards = [requires_admin]

    @get("/")
    async def list_endpoints(self) -> dict[str, Any]:
        """Every endpoint (without its secret)."""
        return page([endpoint_out(row) for row in await webhooks.list_endpoints()], None)

    @post("/", status_code=HTTP_201_CREATED)
    async def create_endpoint(self, data: JSONBody[EndpointIn]) -> dict[str, Any]:
        """Register an endpoint: the answer holds its signing `secret`, shown this once."""
        row, secret = await webhooks.create_endpoint(
            url=data.url,
            events=data.events,
            description=data.description,
            allow_insecure=data.allow_insecure,
        )
        return {**endpoint_out(row), "secret": secret}

    @get("/{endpoint_id:int}")
    async def get_endpoint(self, endpoint_id: FromPath[int]) -> dict[str, Any]:
        """One endpoint, without its secret."""
        return endpoint_out(await webhooks.get_endpoint(endpoint_id))

    @patch("/{endpoint_id:int}")
    async def change_endpoint(
        self, endpoint_id: FromPath[int], data: JSONBody[EndpointChanges]
    ) -> dict[str, Any]:
        """Change it; `active: true` turns a disabled endpoint back on."""
        changes = {
            name: getattr(data, name)
            for name in data.__struct_fields__
            if getattr(data, name) is not msgspec.UNSET
        }
        return endpoint_out(await webhooks.update_endpoint(endpoint_id, changes))

    @delete("/{endpoint_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def delete_endpoint(self, endpoint_id: FromPath[int]) -> None:
        """Forget the endpoint and its delivery log."""
        await webhooks.delete_endpoint(endpoint_id)

    @get("/{endpoint_id:int}/deliveries")
    async def deliveries(
        self, endpoint_id: FromPath[int], limit: LimitQuery = None, cursor: CursorQuery = None
    ) -> dict[str, Any]:
        """The delivery log, newest first: status, tries, last response code, times."""
        await webhooks.get_endpoint(endpoint_id)
        rows, next_cursor = await keyset_page(
            webhooks.deliveries_query(endpoint_id),
            sort=None,
            id_column=WebhookDelivery.id,
            limit=parse_limit(limit),
            cursor=cursor,
        )
        return page([delivery_out(row) for row in rows], next_cursor)

    @post("/{endpoint_id:int}/deliveries/{delivery_id:int}/resend", status_code=HTTP_200_OK)
    async def resend(
        self, endpoint_id: FromPath[int], delivery_id: FromPath[int]
    ) -> dict[str, Any]:
        """Send it again: the same event id and body, with a fresh day of retries."""
        await webhooks.send_again(endpoint_id=endpoint_id, delivery_id=delivery_id)
        row = (
            await webhooks.deliveries_query(endpoint_id)
            .where(WebhookDelivery.id == delivery_id)
            .first()
        )
        return delivery_out(row)  # type: ignore[arg-type]


def _form_endpoint(form: Any) -> dict[str, Any]:
    return {
        "url": str(form.get("url", "")).strip(),
        "events": [str(event) for event in form.getall("events")] if "events" in form else [],
        "description": str(form.get("description", "")),
        "allow_insecure": bool(form.get("allow_insecure")),
    }


class AdminWebhooksController(Controller):
    path = "/admin/webhooks"
    tags = ["admin"]
    include_in_schema = False
    guards = [requires_admin]

    @get("/")
    async def endpoints_page(self, request: Request) -> Template:
        return await self._list(request)

    async def _list(
        self,
        request: Request,
        *,
        typed: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        secret: str | None = None,
        status_code: int = 200,
    ) -> Template:
        return await render(
            request,
            "admin/webhooks.html",
            {
                "endpoints": await webhooks.list_endpoints(),
                "event_names": webhooks.EVENTS,
                "typed": typed or {"events": list(webhooks.EVENTS)},
                "errors": errors or {},
                "secret": secret,
            },
            active="admin_webhooks",
            status_code=status_code,
        )

    @post("/")
    async def create_endpoint(self, request: Request) -> Template:
        """Register an endpoint; the page shows its secret this once."""
        typed = _form_endpoint(await request.form())
        try:
            _, secret = await webhooks.create_endpoint(**typed)
        except DeskError as exc:
            return await self._list(request, typed=typed, errors=exc.errors, status_code=422)
        return await self._list(request, secret=secret, status_code=201)

    @get("/{endpoint_id:int}")
    async def endpoint_page(self, request: Request, endpoint_id: FromPath[int]) -> Template:
        return await self._endpoint(request, endpoint_id)

    async def _endpoint(
        self,
        request: Request,
        endpoint_id: int,
        *,
        typed: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        endpoint = await webhooks.get_endpoint(endpoint_id)
        log = await (
            webhooks.deliveries_query(endpoint_id)
            .order_by(WebhookDelivery.id, ascending=False)
            .limit(LOG_SIZE)
        )
        return await render(
            request,
            "admin/webhook.html",
            {
                "endpoint": endpoint,
                "deliveries": log,
                "event_names": webhooks.EVENTS,
                "typed": typed or endpoint,
                "errors": errors or {},
            },
            active="admin_webhooks",
            status_code=status_code,
        )

    @post("/{endpoint_id:int}")
    async def update_endpoint(
        self, request: Request, endpoint_id: FromPath[int]
    ) -> Template | Redirect:
        form = await request.form()
        typed = {**_form_endpoint(form), "active": bool(form.get("active"))}
        try:
            await webhooks.update_endpoint(endpoint_id, typed)
        except DeskError as exc:
            if exc.status == 404:
                raise
            return await self._endpoint(
                request, endpoint_id, typed=typed, errors=exc.errors, status_code=422
            )
        return flashes.saved(request, f"/admin/webhooks/{endpoint_id}")

    @post("/{endpoint_id:int}/delete")
    async def delete_endpoint(self, request: Request, endpoint_id: FromPath[int]) -> Redirect:
        await webhooks.delete_endpoint(endpoint_id)
        return flashes.saved(request, "/admin/webhooks", tr("Endpoint deleted."))

    @post("/{endpoint_id:int}/deliveries/{delivery_id:int}/resend")
    async def resend(
        self, request: Request, endpoint_id: FromPath[int], delivery_id: FromPath[int]
    ) -> Redirect:
        await webhooks.send_again(endpoint_id=endpoint_id, delivery_id=delivery_id)
        return flashes.saved(
            request, f"/admin/webhooks/{endpoint_id}", tr("It will be sent again.")
        )
