"""The JSON API of the desk (API.md, "Staff"): queues, the ticket, replies, actions, templates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from billdesk import presence, queues, reply_templates, requests, search, tags
from billdesk.auth import CurrentUser, requires_staff
from billdesk.errors import ValidationFailed
from billdesk.i18n import tr
from billdesk.navigation import desk_live
from billdesk.sla import timers
from billdesk.tables import Ticket
from billdesk.validation import parse_id
from billdesk.web.paging import page, parse_limit
from billdesk.web.params import CursorQuery, Id, IdQuery, LimitQuery


def rfc3339(value: datetime | None) -> str | None:
    """`2024-05-01T12:00:00Z`: UTC, whole seconds (a queue page writes some 300 of them)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:  # both engines give UTC already
        value = value.astimezone(UTC)
    return value.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def _ref(row: dict[str, Any], prefix: str, *names: str) -> dict[str, Any] | None:
    if row.get(f"{prefix}.id") is None:
        return None
    return {"id": row[f"{prefix}.id"], **{name: row[f"{prefix}.{name}"] for name in names}}


def ticket_summary(row: dict[str, Any]) -> dict[str, Any]:
    """A queue row as the API shows it to staff."""
    return {
        "id": row["id"],
        "subject": row["subject"],
        "status": row["status"],
        "priority": row["priority"],
        "archived": row["archived"],
        "department": _ref(row, "department", "name"),
        "customer": _ref(row, "customer", "name", "email"),
        "assignee": _ref(row, "assignee", "name"),
        "service": _ref(row, "service", "name"),
        "created_at": rfc3339(row["created_at"]),
        "last_message_at": rfc3339(row["last_message_at"]),
        "last_author_role": row["last_author_role"],
        "answers": row["answers"],
        "unread": row["unread_by_staff"],
        "type": row["type"],
        "request": requests.request_out(row),
        "tags": [tags.tag_out(tag) for tag in row.get("tags", [])],
        **sla_fields(row),
    }


def sla_fields(row: dict[str, Any]) -> dict[str, Any]:
    """The ticket's service-level deadlines and where the nearest one stands."""
    state = timers.sla_state(row)
    return {
        "first_response_due_at": rfc3339(row["first_response_due_at"]),
        "first_response_at": rfc3339(row["first_response_at"]),
        "next_response_due_at": rfc3339(row["next_response_due_at"]),
        "resolution_due_at": rfc3339(row["resolution_due_at"]),
        "sla": {
            "state": state.state,
            "due_at": rfc3339(state.due_at),
            "target": row["due_kind"] or None,
        },
    }


def full_ticket(detail: dict[str, Any]) -> dict[str, Any]:
    ticket = detail["ticket"]
    answer = ticket_summary(ticket)
    answer["removed_at"] = rfc3339(ticket["removed_at"])
    answer["merged_into_id"] = ticket["merged_into"]
    answer["merged_from_ids"] = detail["merged_from"]
    rating = detail.get("rating")
    answer["rating"] = (
        None if rating is None
        else {
            "score": rating["score"], "comment": rating["comment"],
            "created_at": rfc3339(rating["created_at"]),
            "updated_at": rfc3339(rating["updated_at"]),
        }
    )
    answer["customer"]["external_id"] = ticket["customer.external_id"]
    answer["customer"]["services"] = [
        {key: service[key] for key in ("id", "external_id", "name", "kind", "status")}
        for service in detail["services"]
    ]
    answer["customer"]["recent_tickets"] = [
        {
            "id": other["id"], "subject": other["subject"], "status": other["status"],
            "department": other["department.name"],
            "last_message_at": rfc3339(other["last_message_at"]),
        }
        for other in detail["recent_tickets"]
    ]
    answer["messages"] = [
        {
            "id": message["id"],
            "author": {
                "id": message["author.id"], "name": message["author.name"],
                "role": message["author.role"],
            },
            "body": "" if message["deleted"] else message["body"],
            "internal": message["internal"],
            "channel": message["channel"],
            "deleted": message["deleted"],
            "created_at": rfc3339(message["created_at"]),
            "attachments": [
                {key: item[key] for key in ("id", "filename", "content_type", "size", "url")}
                for item in message["attachments"]
            ],
        }
        for message in detail["messages"]
    ]
    answer["events"] = [
        {
            "id": event["id"], "kind": event["kind"],
            "old_value": event["old_value"], "new_value": event["new_value"],
            "actor": _ref(event, "actor", "name"),
            "created_at": rfc3339(event["created_at"]),
        }
        for event in detail["events"]
    ]
    return answer


async def _search_answer(
    user: CurrentUser, filters: queues.QueueFilters, query: search.SearchQuery, size: int,
    cursor: str | None,
) -> dict[str, Any]:
    """A ranked page of search results, each with its `snippet`; `jump_to` is the ticket a
    bare number names, when the caller may work it."""
    offset = search.parse_offset_cursor(cursor)
    found = await queues.queue(user, filters, limit=size, offset=offset)
    items = []
    for row in found.items:
        item = ticket_summary(row)
        snippet = found.snippets.get(row["id"])
        item["snippet"] = (
            {"html": str(snippet.html), "internal": snippet.internal} if snippet else None
        )
        items.append(item)
    next_cursor = search.offset_cursor(offset + size) if found.has_more else None
    jump_to = await queues.jump_target(user, query.text)
    return {
        **page(items, next_cursor), "total": None, "jump_to": jump_to, "ranked": found.ranked
    }


def _status_list(status: list[str] | None) -> list[str]:
    if not status:
        return list(queues.OPEN_STATUSES)
    return [part.strip() for value in status for part in value.split(",") if part.strip()]


class TicketChanges(msgspec.Struct, forbid_unknown_fields=True):
    assignee_id: Id | msgspec.UnsetType | None = msgspec.UNSET
    department_id: Id | msgspec.UnsetType = msgspec.UNSET
    priority: str | msgspec.UnsetType = msgspec.UNSET


class BulkRequest(msgspec.Struct):
    action: str
    ticket_ids: list[Id]
    assignee_id: Id | None = None
    reason: str | None = None
    tag_id: Id | None = None


class TicketTagsIn(msgspec.Struct, forbid_unknown_fields=True):
    tag_ids: list[Id]


class MergeIn(msgspec.Struct, forbid_unknown_fields=True):
    into_id: Id


class DecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    decision: str
    reason: str | None = None


class NewTicketIn(msgspec.Struct, forbid_unknown_fields=True):
    customer_id: Id
    department_id: Id
    message: str
    service_id: Id | None = None


class TemplateIn(msgspec.Struct):
    title: str
    body: str
    scope: str = "personal"
    department_id: Id | None = None


class TemplateChanges(msgspec.Struct, forbid_unknown_fields=True):
    title: str | msgspec.UnsetType = msgspec.UNSET
    body: str | msgspec.UnsetType = msgspec.UNSET
    scope: str | msgspec.UnsetType = msgspec.UNSET
    department_id: Id | msgspec.UnsetType | None = msgspec.UNSET


def _given(struct: msgspec.Struct) -> dict[str, Any]:
    return {
        name: getattr(struct, name)
        for name in struct.__struct_fields__
        if getattr(struct, name) is not msgspec.UNSET
    }


def template_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "title": row["title"], "body": row["body"], "scope": row["scope"],
        "department": _ref(row, "department", "name"), "owner_id": row["owner.id"],
    }


class DeskApiController(Controller):
    path = "/api/v1/desk"
    tags = ["staff"]
    guards = [requires_staff]

    @get("/tickets")
    async def list_tickets(
        self,
        request: Request,
        id: IdQuery = None,
        department: IdQuery = None,
        status: FromQuery[list[str] | None] = None,
        customer: IdQuery = None,
        assignee: FromQuery[str | None] = None,
        service: IdQuery = None,
        q: FromQuery[str | None] = None,
        sort: FromQuery[str] = "last_message_at",
        sla: FromQuery[str | None] = None,
        priority: FromQuery[list[str] | None] = None,
        type: FromQuery[str | None] = None,
        request_state: FromQuery[str | None] = None,
        tag: IdQuery = None,
        limit: LimitQuery = None,
        cursor: CursorQuery = None,
    ) -> dict[str, Any]:
        """The queue of the caller's departments; newest activity (or creation) first,
        soonest due first (`sort=due_at`) or most urgent first (`sort=priority`);
        `sla=breached|at_risk` and `priority=high,urgent` filter; so do `type` (ticket,
        request), `request_state` (pending, approved, rejected) and `tag` (a tag's id)."""
        user: CurrentUser = request.scope["user"]
        filters = queues.QueueFilters(
            id=id, department=department, statuses=_status_list(status), customer=customer,
            assignee=assignee, service=service, q=q or "", sort=sort, sla=sla or "",
            priorities=_status_list(priority) if priority else [], type=type,
            request_state=request_state, tag=tag,
        )
        size = parse_limit(limit)
        query = search.parse_query(q)
        if query:
            return await _search_answer(user, filters, query, size, cursor)
        with queues.reads_once_per_page():
            found = await queues.queue(user, filters, limit=size, cursor=cursor)
        return {
            **page([ticket_summary(row) for row in found.items], found.next_cursor),
            "total": found.total,
            "total_capped": found.total_capped,
        }

    @get("/tickets/{ticket_id:int}")
    async def show_ticket(self, request: Request, ticket_id: FromPath[int]) -> dict[str, Any]:
        """The ticket with internal notes, the customer, their services and the history."""
        from billdesk import tickets

        user: CurrentUser = request.scope["user"]
        await queues.visible_ticket(user, ticket_id, include_removed=True)
        await tickets.mark_read_by_staff(ticket_id=ticket_id)
        return full_ticket(await queues.desk_ticket(user, ticket_id))

    @post("/tickets/{ticket_id:int}/messages", status_code=HTTP_201_CREATED)
    async def reply(self, request: Request, ticket_id: FromPath[int]) -> dict[str, Any]:
        """A public reply (→ waiting_for_reply) or an internal note; JSON or multipart."""
        from billdesk import tickets

        user: CurrentUser = request.scope["user"]
        body, internal, files = await read_reply(request)
        last_seen, force = await read_reply_guard(request)
        await queues.visible_ticket(user, ticket_id)
        message_id = await tickets.reply_as_staff(
            ticket_id=ticket_id, author=user, body=body, internal=internal, files=files,
            last_seen_message_id=last_seen, force=force,
        )
        detail = full_ticket(await queues.desk_ticket(user, ticket_id))
        message = next(m for m in detail["messages"] if m["id"] == _id_of(message_id))
        return message

    @patch("/tickets/{ticket_id:int}")
    async def change_ticket(
        self, request: Request, ticket_id: FromPath[int], data: JSONBody[TicketChanges]
    ) -> dict[str, Any]:
        """Assign, transfer or set the priority; all or nothing."""
        user: CurrentUser = request.scope["user"]
        await queues.update_ticket(actor=user, ticket_id=ticket_id, changes=_given(data))
        return full_ticket(await queues.desk_ticket(user, ticket_id, check=False))

    @put("/tickets/{ticket_id:int}/tags")
    async def set_tags(
        self, request: Request, ticket_id: FromPath[int], data: JSONBody[TicketTagsIn]
    ) -> dict[str, Any]:
        """Make the ticket carry exactly these tags (`[]` takes them all off); solved tickets
        too. Each tag put on or taken off is a line of the ticket's history."""
        user: CurrentUser = request.scope["user"]
        await tags.set_ticket_tags(actor=user, ticket_id=ticket_id, tag_ids=data.tag_ids)
        return full_ticket(await queues.desk_ticket(user, ticket_id))

    @get("/tags")
    async def list_tags(self) -> dict[str, Any]:
        """Every tag, by name: the ids to tag tickets with and to filter the queue by."""
        return {"items": [tags.tag_out(row) for row in await tags.list_tags()], "next_cursor": None}

    @post("/tickets/{ticket_id:int}/close", status_code=HTTP_200_OK)
    async def close(self, request: Request, ticket_id: FromPath[int]) -> dict[str, Any]:
        """Close the ticket: it becomes solved and read-only; closing a solved ticket does nothing."""
        from billdesk import tickets

        user: CurrentUser = request.scope["user"]
        await queues.visible_ticket(user, ticket_id)
        await tickets.close_ticket(ticket_id, actor=user)
        return full_ticket(await queues.desk_ticket(user, ticket_id))

    @post("/tickets/{ticket_id:int}/merge", status_code=HTTP_200_OK)
    async def merge(
        self, request: Request, ticket_id: FromPath[int], data: JSONBody[MergeIn]
    ) -> dict[str, Any]:
        """Merge this ticket into ticket `into_id` of the same customer: its messages and
        attachments move there in time order, it is solved with `merged_into_id`, its charge
        stays with it. Answers the ticket merged into. 404 `not_found` for a ticket outside
        the caller's departments (either one); 409 `ticket_closed` when either is solved;
        409 `invalid_transition` for a service request; 422 `validation_error` naming
        `into_id` for the same ticket or another customer's."""
        from billdesk import tickets

        user: CurrentUser = request.scope["user"]
        into_id = await tickets.merge_ticket(actor=user, ticket_id=ticket_id, into_id=data.into_id)
        return full_ticket(await queues.desk_ticket(user, into_id))

    @post("/tickets/bulk", status_code=HTTP_200_OK)
    async def bulk(self, request: Request, data: JSONBody[BulkRequest]) -> dict[str, Any]:
        """Close, assign or remove many tickets, approve or reject requests, or add or
        remove a tag (`add_tag`, `remove_tag` with `tag_id`); says which were changed and
        which skipped."""
        user: CurrentUser = request.scope["user"]
        result = await queues.bulk_action(
            actor=user, action=data.action, ticket_ids=data.ticket_ids,
            assignee_id=data.assignee_id, reason=data.reason, tag_id=data.tag_id,
        )
        return {"updated": result.updated, "skipped": result.skipped}

    @get("/customers")
    async def customers(self, request: Request, q: FromQuery[str | None] = None) -> dict[str, Any]:
        """Customers of the caller's departments by name or e-mail (a picker's suggestions);
        the id goes in the queue's `customer` filter."""
        found = await queues.find_customers(request.scope["user"], q or "")
        return {
            "items": [{"id": c["id"], "name": c["name"], "email": c["email"]} for c in found],
            "next_cursor": None,
        }
    @post("/tickets", status_code=HTTP_201_CREATED)
    async def open_for_customer(
        self, request: Request, data: JSONBody[NewTicketIn]
    ) -> dict[str, Any]:
        """Open a ticket for a customer: waiting for their reply, never charged, no quota used."""
        from billdesk import tickets

        user: CurrentUser = request.scope["user"]
        opened = await tickets.open_ticket_for_customer(
            staff=user, customer_id=data.customer_id, department_id=data.department_id,
            service_id=data.service_id, message=data.message,
        )
        return full_ticket(await queues.desk_ticket(user, opened.ticket_id))

    @post("/tickets/{ticket_id:int}/decision", status_code=HTTP_200_OK)
    async def decide(
        self, request: Request, ticket_id: FromPath[int], data: JSONBody[DecisionIn]
    ) -> dict[str, Any]:
        """Approve or reject a pending request (→ solved; the customer is told); once only (409)."""
        user: CurrentUser = request.scope["user"]
        await requests.decide_request(
            actor=user, ticket_id=ticket_id, decision=data.decision, reason=data.reason
        )
        return full_ticket(await queues.desk_ticket(user, ticket_id))

    @delete("/tickets/{ticket_id:int}/messages/{message_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def delete_message(
        self, request: Request, ticket_id: FromPath[int], message_id: FromPath[int]
    ) -> None:
        """Delete a message (not the opening one): it shows as deleted; the history says who."""
        from billdesk import tickets

        user: CurrentUser = request.scope["user"]
        await queues.visible_ticket(user, ticket_id)
        await tickets.delete_message_as_staff(ticket_id=ticket_id, message_id=message_id, actor=user)

    @get("/tickets/{ticket_id:int}/presence")
    async def presence(self, request: Request, ticket_id: FromPath[int]) -> dict[str, Any]:
        """Who else has the ticket open (and whether they are writing), and the newest
        message's id; calling it marks the caller as viewing it."""
        user: CurrentUser = request.scope["user"]
        await queues.visible_ticket(user, ticket_id, include_removed=True)
        return await presence.heartbeat(user, ticket_id)

    @get("/counts")
    async def counts(self, request: Request) -> dict[str, Any]:
        """Open tickets per department the caller works in, and `version`: a text that changes
        whenever a ticket of those departments changes (compare it to know when to fetch the
        queue again), with `refresh_seconds`, how often the desk's pages ask."""
        user: CurrentUser = request.scope["user"]
        state = await desk_live(user)
        return {
            "items": [
                {
                    "department": {"id": row["department_id"], "name": row["name"]},
                    "open": row["open"],
                }
                for row in state["counts"]
            ],
            "version": state["version"],
            "refresh_seconds": state["refresh_seconds"],
        }

    @get("/templates")
    async def list_templates(
        self, request: Request, ticket_id: IdQuery = None
    ) -> dict[str, Any]:
        """The templates the caller may use; with `ticket_id`, each adds `filled_body`."""
        user: CurrentUser = request.scope["user"]
        values = None
        department_id = None
        if ticket_id is not None:
            values, department_id = await placeholder_values(user, ticket_id)
        rows = await reply_templates.usable_templates(user, department_id=department_id)
        items = []
        for row in rows:
            item = template_out(row)
            if values is not None:
                item["filled_body"] = reply_templates.fill_placeholders(row["body"], values)
            items.append(item)
        return {"items": items, "next_cursor": None}

    @post("/templates", status_code=HTTP_201_CREATED)
    async def create_template(self, request: Request, data: JSONBody[TemplateIn]) -> dict[str, Any]:
        """Create a quick-reply template: personal, for a department, or global (admins)."""
        user: CurrentUser = request.scope["user"]
        template_id = await reply_templates.create_template(
            user=user, title=data.title, body=data.body, scope=data.scope,
            department_id=data.department_id,
        )
        return await _template(user, template_id)

    @patch("/templates/{template_id:int}")
    async def change_template(
        self, request: Request, template_id: FromPath[int], data: JSONBody[TemplateChanges]
    ) -> dict[str, Any]:
        """Change a template's title, body, scope or department."""
        user: CurrentUser = request.scope["user"]
        await reply_templates.update_template(
            user=user, template_id=template_id, changes=_given(data)
        )
        return await _template(user, template_id)

    @delete("/templates/{template_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def delete_template(self, request: Request, template_id: FromPath[int]) -> None:
        """Delete a template the caller may edit."""
        user: CurrentUser = request.scope["user"]
        await reply_templates.delete_template(user=user, template_id=template_id)


async def _template(user: CurrentUser, template_id: int) -> dict[str, Any]:
    from billdesk.tables import ReplyTemplate

    row = await ReplyTemplate.select(*reply_templates.COLUMNS).where(
        ReplyTemplate.id == template_id
    ).first()
    return template_out(row)  # type: ignore[arg-type]


def _id_of(created: Any) -> int:
    """The new message's id, whether the domain returned it alone or inside a row."""
    if isinstance(created, dict):
        return created["id"]
    return getattr(created, "id", created)


async def placeholder_values(user: CurrentUser, ticket_id: int) -> tuple[dict[str, Any], int]:
    """The values of a template's placeholders for this ticket, and its department."""
    await queues.visible_ticket(user, ticket_id)
    row = await Ticket.select(
        Ticket.id, Ticket.department.id, Ticket.department.name, Ticket.customer.name
    ).where(Ticket.id == ticket_id).first()
    values = {
        "customer_name": row["customer.name"],  # type: ignore[index]
        "ticket_id": f"#{ticket_id}",
        "department": row["department.name"],  # type: ignore[index]
        "agent_name": user.name,
    }
    return values, row["department.id"]  # type: ignore[index]


async def read_reply_guard(request: Request) -> tuple[int | None, bool]:
    """`last_seen_message_id` and `force` of a reply (JSON or form; the body is read once
    and kept by Litestar): the collision check of `reply_as_staff`."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()
        raw_seen: Any = str(form.get("last_seen_message_id", "") or "").strip() or None
        force: Any = str(form.get("force", "")).lower() in ("1", "true", "on", "yes")
    else:
        try:
            data = msgspec.json.decode(await request.body())
        except msgspec.DecodeError:
            return None, False
        if not isinstance(data, dict):
            return None, False
        raw_seen = data.get("last_seen_message_id")
        force = data.get("force", False)
        if not isinstance(force, bool):
            raise ValidationFailed.field("force", tr("force must be true or false."))
    if raw_seen is None:
        return None, force
    if isinstance(raw_seen, bool) or (not isinstance(raw_seen, (int, str))):
        raise ValidationFailed.field(
            "last_seen_message_id", tr("last_seen_message_id must be a message id.")
        )
    return parse_id("last_seen_message_id", str(raw_seen), what="message id"), force


async def read_reply(request: Request) -> tuple[str, bool, list[Any]]:
    """The body, the internal flag and the uploaded files of a reply, from JSON or multipart."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()
        body = str(form.get("body", ""))
        internal = str(form.get("internal", "")).lower() in ("1", "true", "on", "yes")
        uploads = form.getall("attachments") if "attachments" in form else []
        # A browser sends an empty part for an untouched file input.
        files = [
            item for item in uploads
            if not isinstance(item, str) and getattr(item, "filename", None)
        ]
        return body, internal, files
    try:
        data = msgspec.json.decode(await request.body())
    except msgspec.DecodeError as exc:
        raise ValidationFailed.field("body", tr("Send JSON like {\"body\": \"…\"}.")) from exc
    if not isinstance(data, dict) or not isinstance(data.get("body"), str):
        raise ValidationFailed.field("body", tr("Write the reply's text in body."))
    internal = data.get("internal", False)
    if not isinstance(internal, bool):
        raise ValidationFailed.field("internal", tr("internal must be true or false."))
    return data["body"], internal, []
