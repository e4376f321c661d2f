"""The desk: queues, the ticket with its thread and actions, bulk actions, reply templates."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, MediaType, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from markupsafe import Markup

from billdesk import presence, queues, reply_templates, tags
from billdesk.auth import CurrentUser, requires_staff
from billdesk.errors import DeskError, NotFound, ValidationFailed
from billdesk.i18n import tr, tr_n
from billdesk.navigation import desk_live, queue_version
from billdesk.sla import timers
from billdesk.sql import Statement
from billdesk.tables import Department, User
from billdesk.validation import parse_id
from billdesk.web import flashes
from billdesk.web.api.desk import read_reply, read_reply_guard
from billdesk.web.flashes import flash
from billdesk.web.layout import page_errors, render
from billdesk.web.params import CursorQuery, PageQuery

PAGE_SIZE = 50
TICKET_FIELDS = (
    "body", "attachments", "assignee_id", "department_id", "priority", "last_seen_message_id",
    "into_id", "tag_ids",
)
SORT_CHOICES = (
    ("due_at", tr("Due soonest")),
    ("priority", tr("Priority")),
    ("last_message_at", tr("Last activity")),
    ("created_at", tr("Created")),
)
SLA_CHOICES = (("breached", tr("Overdue")), ("at_risk", tr("At risk")))
STATUS_CHOICES = (
    ("open", tr("Open (in progress and waiting)")),
    ("in_progress", tr("In progress")),
    ("waiting_for_reply", tr("Waiting for customer")),
    ("solved", tr("Solved")),
)
TYPE_CHOICES = (("ticket", tr("Tickets")), ("request", tr("Requests")))
REQUEST_STATE_CHOICES = (
    ("pending", tr("Pending")), ("approved", tr("Approved")), ("rejected", tr("Rejected"))
)
FILTERS = (
    "id", "department", "status", "customer", "assignee", "service", "q", "sort", "sla",
    "priority", "type", "request_state", "tag",
)


def _bulk_done(action: str, ids: list[int]) -> str:
    """What a bulk action did, in a sentence of its own per action (the verb agrees)."""
    numbers = ", ".join(f"#{ticket_id}" for ticket_id in ids)
    if action == "close":
        return tr_n("Closed %(num)s ticket: %(ids)s.", "Closed %(num)s tickets: %(ids)s.",
                    len(ids), ids=numbers)
    if action == "assign":
        return tr_n("Assigned %(num)s ticket: %(ids)s.", "Assigned %(num)s tickets: %(ids)s.",
                    len(ids), ids=numbers)
    if action == "approve":
        return tr_n("Approved %(num)s ticket: %(ids)s.", "Approved %(num)s tickets: %(ids)s.",
                    len(ids), ids=numbers)
    if action == "reject":
        return tr_n("Rejected %(num)s ticket: %(ids)s.", "Rejected %(num)s tickets: %(ids)s.",
                    len(ids), ids=numbers)
    if action == "add_tag":
        return tr_n("Tagged %(num)s ticket: %(ids)s.", "Tagged %(num)s tickets: %(ids)s.",
                    len(ids), ids=numbers)
    if action == "remove_tag":
        return tr_n("Took the tag off %(num)s ticket: %(ids)s.",
                    "Took the tag off %(num)s tickets: %(ids)s.", len(ids), ids=numbers)
    return tr_n(
        "Moved %(num)s ticket to the trash: %(ids)s.",
        "Moved %(num)s tickets to the trash: %(ids)s.",
        len(ids),
        ids=numbers,
    )


PRIORITY_LABELS = {
    "low": tr("Low"), "normal": tr("Normal"), "high": tr("High"), "urgent": tr("Urgent")
}


def _chosen(**values: str | None) -> dict[str, str]:
    """The queue's filters as the person chose them, with the page's defaults."""
    chosen = {key: str(values.get(key) or "") for key in FILTERS}
    chosen["status"] = chosen["status"] or "open"
    chosen["sort"] = chosen["sort"] or "due_at"
    return chosen


MAX_SHOWN = 500


def _shown_ids(raw: str) -> set[int]:
    """The ticket ids a live page says it shows ("12,15,40"); a 422 naming `shown` otherwise."""
    parts = [part for part in raw.split(",") if part.strip()]
    if len(parts) > MAX_SHOWN:
        raise ValidationFailed.field(
            "shown", tr("List at most %(max)s ticket ids.", max=MAX_SHOWN)
        )
    ids = {_id_or_none("shown", part) for part in parts}
    return {ticket_id for ticket_id in ids if ticket_id is not None}


def _user(request: Request) -> CurrentUser:
    return request.scope["user"]


def _id_or_none(field: str, value: Any) -> int | None:
    """An id typed in a form or a filter (a ticket number may keep its '#'); None when blank."""
    return parse_id(field, str(value or "").strip().lstrip("#"))


async def _departments_for(user: CurrentUser) -> list[dict[str, Any]]:
    """The departments the user may filter by, by name."""
    return await queues.user_departments(user)


_EVERY_COLLEAGUE = Statement(
    "SELECT id, name FROM users WHERE role IN ('staff', 'admin') AND active = :active "
    "ORDER BY name"
)
_COLLEAGUES = Statement(
    "SELECT id, name FROM users WHERE role IN ('staff', 'admin') AND active = :active "
    'AND id IN (SELECT "user" FROM department_members WHERE department IN '
    '(SELECT department FROM department_members WHERE "user" = :user)) ORDER BY name'
)


async def _colleagues(user: CurrentUser) -> list[dict[str, Any]]:
    """Staff who share a department with the user (everyone at the desk, for an admin)."""
    if user.is_admin:
        return await _EVERY_COLLEAGUE.rows(active=True)
    return await _COLLEAGUES.rows(active=True, user=user.id)


class RenderedForms:
    """Forms as a template rendered them, kept by a key that names everything they show.

    desk/queue.html renders its filter form once per language, filters and options and
    reuses the HTML: the form is the same on most desk requests, and rendering its
    macros took a fifth of a queue request's time. The oldest of `size` goes first.
    """

    def __init__(self, size: int = 256) -> None:
        self._forms: OrderedDict[Hashable, Markup] = OrderedDict()
        self._size = size

    def get(self, key: Hashable) -> Markup | None:
        html = self._forms.get(key)
        if html is not None:
            self._forms.move_to_end(key)
        return html

    def keep(self, key: Hashable, html: Markup) -> str:
        """Keep `html` for `key`; nothing to show (called from the template)."""
        self._forms[key] = html
        self._forms.move_to_end(key)
        while len(self._forms) > self._size:
            self._forms.popitem(last=False)
        return ""


FILTER_FORMS = RenderedForms()


class DeskController(Controller):
    path = "/desk"
    tags = ["desk"]
    include_in_schema = False
    guards = [requires_staff]

    # ----------------------------------------------------------------- queue

    @get("/")
    async def queue(
        self,
        request: Request,
        id: FromQuery[str | None] = None,
        department: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        customer: FromQuery[str | None] = None,
        assignee: FromQuery[str | None] = None,
        service: FromQuery[str | None] = None,
        q: FromQuery[str | None] = None,
        sort: FromQuery[str | None] = None,
        sla: FromQuery[str | None] = None,
        priority: FromQuery[str | None] = None,
        type: FromQuery[str | None] = None,
        request_state: FromQuery[str | None] = None,
        tag: FromQuery[str | None] = None,
        cursor: CursorQuery = None,
        page: PageQuery = 1,
    ) -> Template | Redirect:
        with queues.reads_once_per_page():
            if q and page <= 1:
                target = await queues.jump_target(_user(request), q)
                if target is not None:
                    return Redirect(path=f"/desk/tickets/{target}", status_code=303)
            return await self._queue_page(
                request,
                _chosen(
                    id=id, department=department, status=status, customer=customer,
                    assignee=assignee, service=service, q=q, sort=sort, sla=sla,
                    priority=priority, type=type, request_state=request_state, tag=tag,
                ),
                cursor=cursor,
                page=max(page, 1),
            )

    @get("/live", media_type="application/json")
    async def live(self, request: Request) -> dict[str, Any]:
        """What an open desk page polls: the queue's version and the open counts."""
        state = await desk_live(_user(request))
        return {
            "version": state["version"],
            "counts": [
                {"department_id": row["department_id"], "open": row["open"]}
                for row in state["counts"]
            ],
            "refresh_seconds": state["refresh_seconds"],
        }

    @get("/rows", media_type=MediaType.HTML)
    async def rows(
        self,
        request: Request,
        cursor: CursorQuery = None,
        page: PageQuery = 1,
        shown: FromQuery[str | None] = None,
    ) -> Template:
        """The queue's results for the same filters and page as /desk, without the layout:
        what the open queue page swaps in when its version moved. `shown` lists the ticket
        ids the page shows now; rows not among them are marked new."""
        params = request.query_params
        chosen = _chosen(**{key: params.get(key) for key in FILTERS})
        with queues.reads_once_per_page():
            context, status_code = await self._queue_context(
                request, chosen, cursor=cursor, page=max(page, 1)
            )
        if shown is not None:
            before = _shown_ids(shown)
            new_ids = [row["id"] for row in context["tickets"] if row["id"] not in before]
            context["new_ids"] = set(new_ids)
            context["live_note"] = (
                tr_n("%(num)s new ticket", "%(num)s new tickets", len(new_ids))
                if new_ids
                else tr("The queue was updated.")
            )
        return Template(
            template_name="desk/_queue_results.html",
            context={**context, "current_user": _user(request)},
            status_code=status_code,
            headers={"Cache-Control": "no-store"},
        )

    async def _queue_page(
        self, request: Request, chosen: dict[str, str], *, cursor: str | None = None,
        page: int = 1,
        status_code: int = 200, result: queues.BulkResult | None = None,
        errors: dict[str, str] | None = None,
    ) -> Template:
        context, status_code = await self._queue_context(
            request, chosen, cursor=cursor, page=page, status_code=status_code, errors=errors
        )
        context["result"] = result
        return await render(
            request, "desk/queue.html", context, active="desk", status_code=status_code
        )

    async def _queue_context(
        self, request: Request, chosen: dict[str, str], *, cursor: str | None = None,
        page: int = 1, status_code: int = 200, errors: dict[str, str] | None = None,
    ) -> tuple[dict[str, Any], int]:
        """The queue's results and filter choices for the page and for its live rows."""
        user = _user(request)
        # Read before the rows: a change committed meanwhile then shows as a newer version.
        live_version = await queue_version(user)
        statuses = (
            list(queues.OPEN_STATUSES) if chosen["status"] in ("", "open") else [chosen["status"]]
        )
        errors = dict(errors or {})
        try:
            filters = queues.QueueFilters(
                id=_id_or_none("id", chosen["id"]),
                department=_id_or_none("department", chosen["department"]),
                statuses=statuses,
                customer=await queues.resolve_customer(user, chosen["customer"]),
                assignee=chosen["assignee"] or None,
                service=_id_or_none("service", chosen["service"]),
                q=chosen["q"], sort=chosen["sort"], sla=chosen.get("sla", ""),
                priorities=[chosen["priority"]] if chosen.get("priority") else [],
                type=chosen.get("type") or None,
                request_state=chosen.get("request_state") or None,
                tag=_id_or_none("tag", chosen.get("tag")),
            )
            found = await queues.queue(
                user, filters, limit=PAGE_SIZE, cursor=cursor, offset=(page - 1) * PAGE_SIZE
            )
        except DeskError as exc:
            errors.update(exc.errors)
            found = queues.QueuePage(items=[], total=0)
            status_code = exc.status
        kept = {key: value for key, value in chosen.items() if value}

        def page_url(**where: Any) -> str:
            return "/desk?" + urlencode({**kept, **where})

        searched = bool(found.snippets) or found.total is None
        if searched:  # ranked search results page by number
            prev_url = page_url(page=page - 1) if page > 1 else None
            next_url = page_url(page=page + 1) if found.has_more else None
        else:  # the queue pages by keyset, forward only
            prev_url = None
            next_url = page_url(cursor=found.next_cursor) if found.next_cursor else None

        colleagues = await _colleagues(user)
        departments = await _departments_for(user)
        all_tags = await tags.list_tags()
        live_query = {**kept, **({"cursor": cursor} if cursor else {"page": page})}
        department_options = [(d["id"], d["name"]) for d in departments]
        assignee_options = [("me", tr("Me")), ("none", tr("Nobody"))] + [
            (c["id"], c["name"]) for c in colleagues
        ]
        tag_options = [(tag["id"], tag["name"]) for tag in all_tags]
        return (
            {
                "tickets": found.items,
                "snippets": found.snippets,
                "searching": bool(chosen["q"].strip()),
                "ranked": found.ranked,
                "total": found.total,
                "total_capped": found.total_capped,
                "prev_url": prev_url,
                "first_url": page_url() if cursor and not searched else None,
                "next_url": next_url,
                "chosen": chosen,
                "departments": departments,
                "department_options": department_options,
                "colleagues": colleagues,
                "assignee_options": assignee_options,
                "status_choices": STATUS_CHOICES,
                "sort_choices": SORT_CHOICES,
                "sla_choices": SLA_CHOICES,
                "priority_choices": [(p, PRIORITY_LABELS.get(p, p)) for p in queues.PRIORITIES],
                "sla_states": {row["id"]: timers.sla_state(row) for row in found.items},
                # <time datetime="…"> of each row's last activity, written here rather than
                # by a call in the template's row loop (desk/_queue_results.html).
                "activity_times": {
                    row["id"]: row["last_message_at"].isoformat() for row in found.items
                },
                "type_choices": TYPE_CHOICES,
                "request_state_choices": REQUEST_STATE_CHOICES,
                "tag_options": tag_options,
                "errors": errors,
                # What the filter form shows besides its fixed choices (and the language,
                # which the template adds); a form with refusals is not kept.
                "filter_form_key": None if errors else (
                    tuple(chosen.items()), tuple(department_options),
                    tuple(assignee_options), tuple(tag_options),
                ),
                "filter_forms": FILTER_FORMS,
                "back_url": page_url(**({"cursor": cursor} if cursor else {"page": page})),
                "live_version": live_version,
                # A page showing refusals stays as it is; a good one follows the queue.
                "live_rows_url": None if errors else "/desk/rows?" + urlencode(live_query),
                "new_ids": set(),
                "live_note": "",
            },
            status_code,
        )

    @post("/bulk")
    async def bulk(self, request: Request) -> Template | Redirect:
        """Close, assign or remove the selected tickets, then back to the queue with the outcome."""
        user = _user(request)
        form = await request.form()
        raw_ids = form.getall("ids") if "ids" in form else []
        chosen = _chosen(**{key: str(form.get(f"filter_{key}", "") or "") for key in FILTERS})
        action = str(form.get("action", ""))
        try:
            ids = [_id_or_none("ticket_ids", value) for value in raw_ids]
            if any(ticket_id is None for ticket_id in ids):
                raise ValidationFailed.field("ticket_ids", tr("Select tickets by their number."))
            result = await queues.bulk_action(
                actor=user, action=action,
                ticket_ids=[ticket_id for ticket_id in ids if ticket_id is not None],
                assignee_id=_id_or_none("assignee_id", form.get("assignee_id")),
                reason=str(form.get("reason", "") or ""),
                tag_id=_id_or_none("tag_id", form.get("tag_id")),
            )
        except DeskError as exc:
            flash(request, "error", exc.detail)
            return await self._queue_page(
                request, chosen, status_code=exc.status, errors=exc.errors
            )
        if result.updated:
            flash(
                request, "success",
                _bulk_done(action, result.updated),
            )
        for skipped in result.skipped:
            flash(
                request,
                "warning",
                tr("Skipped #%(id)s: %(reason)s.", id=skipped["id"], reason=skipped["reason"]),
            )
        kept = {key: value for key, value in chosen.items() if value}
        return flashes.redirect(request, "/desk?" + urlencode(kept))

    @get("/customers", media_type="application/json")
    async def customers(self, request: Request, q: FromQuery[str | None] = None) -> dict[str, Any]:
        """The customer picker's suggestions: name or e-mail, customers of my departments."""
        found = await queues.find_customers(_user(request), q or "")
        return {"items": [{"id": c["id"], "name": c["name"], "email": c["email"]} for c in found]}

    # ---------------------------------------------------------------- ticket

    @get("/tickets/{ticket_id:int}")
    async def ticket(self, request: Request, ticket_id: FromPath[int]) -> Template:
        from billdesk import tickets

        user = _user(request)
        await queues.visible_ticket(user, ticket_id, include_removed=True)
        await tickets.mark_read_by_staff(ticket_id=ticket_id)
        await presence.mark_viewing(user, ticket_id)
        return await self._ticket_page(request, ticket_id)

    async def _ticket_page(
        self, request: Request, ticket_id: int, *, errors: dict[str, str] | None = None,
        typed: dict[str, Any] | None = None, status_code: int = 200,
    ) -> Template:
        user = _user(request)
        detail = await queues.desk_ticket(user, ticket_id)
        ticket = detail["ticket"]
        values = {
            "customer_name": ticket["customer.name"], "ticket_id": f"#{ticket_id}",
            "department": ticket["department.name"], "agent_name": user.name,
        }
        templates = await reply_templates.usable_templates(
            user, department_id=ticket["department.id"]
        )
        for template in templates:
            template["filled"] = reply_templates.fill_placeholders(template["body"], values)
        active_departments = await Department.select(Department.id, Department.name).where(
            Department.active == True  # noqa: E712
        ).order_by(Department.name)
        return await render(
            request,
            "desk/ticket.html",
            {
                **detail,
                "all_tags": await tags.list_tags(),
                "templates": templates,
                "template_options": [
                    (t["id"], t["title"], False, {"data-body": t["filled"]}) for t in templates
                ],
                "assignee_options": [("", tr("Nobody")), ("me", tr("Me"))] + [
                    (member["user.id"], member["user.name"])
                    for member in await queues.department_staff(ticket["department.id"])
                    if member["user.id"] != user.id
                ],
                "department_options": [(d["id"], d["name"]) for d in active_departments],
                "priority_options": [(p, PRIORITY_LABELS.get(p, p)) for p in queues.PRIORITIES],
                "errors": errors or {},
                "typed": typed or {},
                "solved": ticket["status"] == queues.Status.solved.value,
                "viewers": await presence.other_viewers(user, ticket_id),
                "last_message_id": max((m["id"] for m in detail["messages"]), default=0),
            },
            active="desk",
            status_code=status_code,
        )

    async def _act(
        self,
        request: Request,
        ticket_id: int,
        action,
        typed: dict[str, Any],
    ) -> Template | Redirect:
        """Run one action; on a refusal show the ticket again with the error by its field.

        `action` returns what to tell the agent. When the action took the ticket out
        of the agent's reach (a transfer to a department they are not in), they go
        back to the queue with the message instead of landing on a 404.
        """
        try:
            done = await action()
        except DeskError as exc:
            if exc.status == 404:
                raise
            # Said once, in the form's list of problems, each linked to its field.
            return await self._ticket_page(
                request, ticket_id, errors=page_errors(exc, TICKET_FIELDS), typed=typed,
                status_code=exc.status,
            )
        message = done or tr("Saved.")
        try:
            await queues.visible_ticket(_user(request), ticket_id, include_removed=True)
        except NotFound:
            return flashes.saved(
                request,
                "/desk",
                tr(
                    "Ticket #%(id)s: %(message)s It is no longer in your queue.",
                    id=ticket_id,
                    message=message,
                ),
            )
        return flashes.saved(request, f"/desk/tickets/{ticket_id}", message)

    @post("/tickets/{ticket_id:int}/reply")
    async def reply(self, request: Request, ticket_id: FromPath[int]) -> Template | Redirect:
        from billdesk import tickets

        user = _user(request)
        body, internal, files = await read_reply(request)
        last_seen, force = await read_reply_guard(request)

        async def action() -> str:
            await queues.visible_ticket(user, ticket_id)
            await tickets.reply_as_staff(
                ticket_id=ticket_id, author=user, body=body, internal=internal, files=files,
                last_seen_message_id=last_seen, force=force,
            )
            return tr("Internal note added.") if internal else tr("Reply sent to the customer.")

        return await self._act(
            request, ticket_id, action, {"body": body, "internal": internal, "seen": last_seen}
        )

    @get("/tickets/{ticket_id:int}/presence", media_type="application/json")
    async def presence(
        self, request: Request, ticket_id: FromPath[int], typing: FromQuery[str | None] = None
    ) -> dict[str, Any]:
        """The open page's heartbeat: who else has the ticket open, the newest message."""
        user = _user(request)
        await queues.visible_ticket(user, ticket_id, include_removed=True)
        return await presence.heartbeat(user, ticket_id, typing=typing == "1")

    @post("/tickets/{ticket_id:int}/assign")
    async def assign(self, request: Request, ticket_id: FromPath[int]) -> Template | Redirect:
        user = _user(request)
        form = await request.form()
        raw = str(form.get("assignee_id", "")).strip()

        async def action() -> str:
            assignee_id = user.id if raw == "me" else _id_or_none("assignee_id", raw)
            await queues.assign_ticket(actor=user, ticket_id=ticket_id, assignee_id=assignee_id)
            if assignee_id is None:
                return tr("Nobody is assigned now.")
            if assignee_id == user.id:
                return tr("Assigned to you.")
            name = await User.select(User.name).where(User.id == assignee_id).first()
            return tr("Assigned to %(name)s.", name=name["name"]) if name else tr("Assigned.")

        return await self._act(request, ticket_id, action, {"assignee_id": raw})

    @post("/tickets/{ticket_id:int}/transfer")
    async def transfer(self, request: Request, ticket_id: FromPath[int]) -> Template | Redirect:
        user = _user(request)
        form = await request.form()
        raw = str(form.get("department_id", ""))

        async def action() -> str:
            department_id = _id_or_none("department_id", raw)
            if department_id is None:
                raise ValidationFailed.field("department_id", tr("Choose a department."))
            await queues.transfer_ticket(
                actor=user, ticket_id=ticket_id, department_id=department_id
            )
            target = (
                await Department.select(Department.name)
                .where(Department.id == department_id)
                .first()
            )
            return tr("Moved to %(department)s.", department=target["name"]) if target else tr("Moved.")

        return await self._act(request, ticket_id, action, {"department_id": raw})

    @post("/tickets/{ticket_id:int}/priority")
    async def priority(self, request: Request, ticket_id: FromPath[int]) -> Template | Redirect:
        user = _user(request)
        form = await request.form()
        value = str(form.get("priority", ""))

        async def action() -> str:
            await queues.set_priority(actor=user, ticket_id=ticket_id, priority=value)
            return tr("Priority set to %(priority)s.", priority=PRIORITY_LABELS.get(value, value))

        return await self._act(request, ticket_id, action, {"priority": value})

    @post("/tickets/{ticket_id:int}/tags")
    async def set_tags(self, request: Request, ticket_id: FromPath[int]) -> Template | Redirect:
        """The ticket's tags as ticked in its Tags box."""
        user = _user(request)
        form = await request.form()
        raw = [str(value) for value in form.getall("tag_ids")] if "tag_ids" in form else []

        async def action() -> str:
            ids = [_id_or_none("tag_ids", value) for value in raw]
            await tags.set_ticket_tags(
                actor=user, ticket_id=ticket_id,
                tag_ids=[tag_id for tag_id in ids if tag_id is not None],
            )
            return tr("Tags saved.")

        return await self._act(request, ticket_id, action, {"tag_ids": raw})

    @post("/tickets/{ticket_id:int}/close")
    async def close(self, request: Request, ticket_id: FromPath[int]) -> Template | Redirect:
        from billdesk import tickets

        user = _user(request)

        async def action() -> str:
            await queues.visible_ticket(user, ticket_id)
            await tickets.close_ticket(ticket_id, actor=user)
            return tr("Ticket closed.")

        return await self._act(request, ticket_id, action, {})

    @post("/tickets/{ticket_id:int}/merge")
    async def merge(self, request: Request, ticket_id: FromPath[int]) -> Template | Redirect:
        """Merge this ticket into the one typed, then show that one, saying so."""
        from billdesk import tickets

        user = _user(request)
        form = await request.form()
        raw = str(form.get("into_id", "") or "")
        try:
            into_id = _id_or_none("into_id", raw)
            if into_id is None:
                raise ValidationFailed.field(
                    "into_id", tr("Type the number of the ticket to merge this one into.")
                )
            await tickets.merge_ticket(actor=user, ticket_id=ticket_id, into_id=into_id)
        except DeskError as exc:
            if exc.status == 404 and "into_id" not in exc.errors:
                raise
            return await self._ticket_page(
                request, ticket_id, errors=page_errors(exc, TICKET_FIELDS),
                typed={"into_id": raw}, status_code=exc.status,
            )
        return flashes.saved(
            request, f"/desk/tickets/{into_id}",
            tr("Ticket #%(id)s was merged into this ticket.", id=ticket_id),
        )

    @post("/tickets/{ticket_id:int}/decision")
    async def decide(self, request: Request, ticket_id: FromPath[int]) -> Template | Redirect:
        """Approve or reject a pending request, with an optional reason for the customer."""
        from billdesk import requests

        user = _user(request)
        form = await request.form()
        decision, reason = str(form.get("decision", "")), str(form.get("reason", ""))

        async def action() -> None:
            await requests.decide_request(
                actor=user, ticket_id=ticket_id, decision=decision, reason=reason
            )

        return await self._act(request, ticket_id, action, {"reason": reason})

    @post("/tickets/{ticket_id:int}/messages/{message_id:int}/delete")
    async def delete_message(
        self, request: Request, ticket_id: FromPath[int], message_id: FromPath[int]
    ) -> Template | Redirect:
        """Delete a message (not the opening one); it shows as "message deleted"."""
        from billdesk import tickets

        user = _user(request)

        async def action() -> None:
            await queues.visible_ticket(user, ticket_id)
            await tickets.delete_message_as_staff(
                ticket_id=ticket_id, message_id=message_id, actor=user
            )

        return await self._act(request, ticket_id, action, {})

    # ------------------------------------------------------- a new ticket

    @get("/tickets/new")
    async def new_ticket(self, request: Request, customer: FromQuery[str | None] = None) -> Template:
        """The form staff open a ticket for a customer with."""
        return await self._new_ticket_page(request, typed={"customer_id": customer or ""})

    async def _new_ticket_page(
        self, request: Request, *, typed: dict[str, Any], errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        from billdesk.tables import Department

        user = _user(request)
        active = set(
            await Department.select(Department.id)
            .where(Department.active == True)  # noqa: E712
            .output(as_list=True)
        )
        departments = [d for d in await _departments_for(user) if d["id"] in active]
        return await render(
            request,
            "desk/new_ticket.html",
            {
                "typed": typed,
                "errors": errors or {},
                "department_options": [(d["id"], d["name"]) for d in departments],
            },
            active="desk",
            status_code=status_code,
        )

    @post("/tickets/new")
    async def open_ticket(self, request: Request) -> Template | Redirect:
        """Open the ticket: waiting for the customer's reply, never charged."""
        from billdesk import tickets

        user = _user(request)
        form = await request.form()
        typed = {
            key: str(form.get(key, "") or "")
            for key in ("customer_id", "department_id", "service_id", "message")
        }
        try:
            opened = await tickets.open_ticket_for_customer(
                staff=user,
                customer_id=_id_or_none("customer_id", typed["customer_id"]),
                department_id=_id_or_none("department_id", typed["department_id"]),
                service_id=_id_or_none("service_id", typed["service_id"]),
                message=typed["message"],
                files=[
                    item for item in (form.getall("attachments") if "attachments" in form else [])
                    if not isinstance(item, str) and getattr(item, "filename", None)
                ],
            )
        except DeskError as exc:
            flash(request, "error", exc.detail)
            return await self._new_ticket_page(
                request, typed=typed, errors=exc.errors or {"form": exc.detail},
                status_code=exc.status,
            )
        return Redirect(path=f"/desk/tickets/{opened.ticket_id}")

    # ------------------------------------------------------------- templates

    @get("/templates")
    async def templates(self, request: Request) -> Template:
        return await self._templates_page(request)

    async def _templates_page(
        self, request: Request, *, errors: dict[str, str] | None = None,
        typed: dict[str, Any] | None = None, editing: dict[str, Any] | None = None,
        status_code: int = 200,
    ) -> Template:
        user = _user(request)
        rows = await reply_templates.usable_templates(user)
        departments = await _departments_for(user)
        mine = {department["id"] for department in departments}
        for row in rows:
            row["editable"] = user.is_admin or (
                row["scope"] == "personal" and row["owner.id"] == user.id
            ) or (row["scope"] == "department" and row["department.id"] in mine)
        scopes = [("personal", tr("Personal (only me)")), ("department", tr("A department"))]
        if user.is_admin:
            scopes.append(("global", tr("Global (everyone)")))
        return await render(
            request,
            "desk/templates.html",
            {
                "templates": rows, "scopes": scopes,
                "department_options": [(d["id"], d["name"]) for d in departments],
                "errors": errors or {}, "typed": typed or {}, "editing": editing,
                "placeholders": reply_templates.PLACEHOLDERS,
            },
            active="templates",
            status_code=status_code,
        )

    @staticmethod
    def _template_form(form: Any) -> dict[str, Any]:
        return {
            "title": str(form.get("title", "")),
            "body": str(form.get("body", "")),
            "scope": str(form.get("scope", "personal")),
            "department_id": _id_or_none("department_id", form.get("department_id")),
        }

    @post("/templates")
    async def create_template(self, request: Request) -> Template | Redirect:
        user = _user(request)
        typed = self._template_form(await request.form())
        try:
            await reply_templates.create_template(user=user, **typed)
        except DeskError as exc:
            return await self._templates_page(
                request, errors=exc.errors, typed=typed, status_code=exc.status
            )
        return flashes.saved(request, "/desk/templates", tr("Template added."))

    @get("/templates/{template_id:int}")
    async def edit_template(self, request: Request, template_id: FromPath[int]) -> Template:
        row = await reply_templates.get_template(_user(request), template_id)
        typed = {
            "title": row["title"], "body": row["body"], "scope": row["scope"],
            "department_id": row["department"],
        }
        return await self._templates_page(request, typed=typed, editing=row)

    @post("/templates/{template_id:int}")
    async def update_template(
        self, request: Request, template_id: FromPath[int]
    ) -> Template | Redirect:
        user = _user(request)
        row = await reply_templates.get_template(user, template_id)
        typed = self._template_form(await request.form())
        try:
            await reply_templates.update_template(
                user=user, template_id=template_id, changes=typed
            )
        except DeskError as exc:
            return await self._templates_page(
                request, errors=exc.errors, typed=typed, editing=row, status_code=exc.status
            )
        return flashes.saved(request, "/desk/templates", tr("Template saved."))

    @post("/templates/{template_id:int}/delete")
    async def delete_template(self, request: Request, template_id: FromPath[int]) -> Redirect:
        await reply_templates.delete_template(user=_user(request), template_id=template_id)
        return flashes.saved(request, "/desk/templates", tr("Template deleted."))
