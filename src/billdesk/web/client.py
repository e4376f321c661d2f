"""The client area: the customer's tickets, the new-ticket form, a ticket's thread, notifications.

HTTP only: each handler reads the form, calls one function of the ticket
domain, and renders; a refusal shows the same page again with what was typed
and the message next to its field.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.response import File, Redirect, Template

from billdesk import attachments, formatting, notifications, tickets
from billdesk.auth import CurrentUser, requires_customer, requires_login
from billdesk.errors import DeskError, NotFound
from billdesk.i18n import tr, tr_n
from billdesk.navigation import support_enabled
from billdesk.quotas import QuotaStatus
from billdesk.sla import satisfaction
from billdesk.tables import Department, Notification
from billdesk.validation import parse_id, parse_int
from billdesk.web import flashes
from billdesk.web.layout import page_errors, render
from billdesk.web.paging import cut_page, time_cursor
from billdesk.web.params import CursorQuery, PageQuery

PAGE_SIZE = 25
NEW_TICKET_FIELDS = ("department_id", "service_id", "message", "attachments", "accept_price")
STATUS_OPTIONS = [
    ("in_progress", tr("In progress")),
    ("waiting_for_reply", tr("Waiting for your reply")),
    ("awaiting_payment", tr("Awaiting payment")),
    ("solved", tr("Solved")),
]


def _user(request: Request) -> CurrentUser:
    return request.scope["user"]


def _form_files(form: Any) -> list[UploadFile]:
    """The files of the `attachments` field; a browser sends an empty part for an untouched input."""
    items = form.getall("attachments") if "attachments" in form else []
    return [item for item in items if isinstance(item, UploadFile) and item.filename]


def quota_text(quota: QuotaStatus) -> str:
    """What the form says about a department's quota."""
    if quota.always_free:
        return tr("Support here is always free.")
    if quota.always_paid:
        return (
            tr("Every ticket here costs %(price)s.", price=quota.price.label()) if quota.price else ""
        )
    if quota.resets_at is None:
        return tr_n(
            "%(remaining)s of %(num)s free ticket left (for the life of your account).",
            "%(remaining)s of %(num)s free tickets left (for the life of your account).",
            quota.free_per_period or 0,
            remaining=quota.remaining,
        )
    return tr_n(
        "%(remaining)s of %(num)s free ticket left; resets on %(day)s.",
        "%(remaining)s of %(num)s free tickets left; resets on %(day)s.",
        quota.free_per_period or 0,
        remaining=quota.remaining,
        day=formatting.long_date(quota.resets_at),
    )


def price_warning(quota: QuotaStatus) -> str:
    if not quota.next_ticket_paid or quota.price is None:
        return ""
    if quota.always_paid:
        return tr(
            "This ticket will be charged %(price)s to your saved card.", price=quota.price.label()
        )
    return tr(
        "No free tickets are left here this period: this ticket will be charged "
        "%(price)s to your saved card.",
        price=quota.price.label(),
    )


class ClientController(Controller):
    tags = ["client"]
    include_in_schema = False
    guards = [requires_customer]

    # ------------------------------------------------------------- the list

    @get("/tickets")
    async def tickets(
        self,
        request: Request,
        status: FromQuery[str | None] = None,
        department: FromQuery[str | None] = None,
        archived: FromQuery[str | None] = None,
        q: FromQuery[str | None] = None,
        page: PageQuery = 1,
        cursor: CursorQuery = None,
    ) -> Template | Redirect:
        """The customer's tickets, newest activity first, with filters, in keyset pages;
        with `q`, the tickets matching the search, best first, in numbered pages
        (`#1042` opens that ticket)."""
        user = _user(request)
        chosen_status = status if status in {value for value, _ in STATUS_OPTIONS} else None
        department_id = parse_id("department", department, what="department id")
        show_archived = archived in ("1", "true", "on", "yes")
        page_number = page
        text = (q or "").strip()
        snippets: dict[int, Any] = {}
        next_cursor: str | None = None
        if text:
            if page_number <= 1 and (
                target := await tickets.customer_jump_target(user.id, text)
            ) is not None:
                return Redirect(path=f"/tickets/{target}", status_code=303)
            found = await tickets.search_customer_tickets(
                user.id, text, status=chosen_status, department_id=department_id,
                archived=show_archived, limit=PAGE_SIZE, offset=(page_number - 1) * PAGE_SIZE,
            )
            rows, snippets = found.rows, found.snippets
            has_more = found.has_more
            charges = await tickets.charges_by_ticket([row["id"] for row in rows])
        else:
            # The API's statement, each ticket's charge joined in (`charge.status`).
            rows, next_cursor = cut_page(
                await tickets.customer_ticket_page(
                    user.id, status=chosen_status, department_id=department_id,
                    archived=show_archived, after=time_cursor(cursor), limit=PAGE_SIZE + 1,
                ),
                limit=PAGE_SIZE, sort_key="last_message_at",
            )
            has_more = next_cursor is not None
            charges = {
                row["id"]: {"status": row["charge.status"]}
                for row in rows
                if row["charge.id"] is not None
            }
        for row in rows:
            row["shown_status"] = tickets.shown_status(row["status"], charges.get(row["id"]))
        query = {
            key: value
            for key, value in (
                ("q", text), ("status", chosen_status), ("department", department_id),
                ("archived", "1" if show_archived else None),
            )
            if value
        }

        def page_url(**where: Any) -> str:
            return "/tickets?" + urlencode({**query, **where})

        if text:  # ranked results page by number
            prev_url = page_url(page=page_number - 1) if page_number > 1 else None
            next_url = page_url(page=page_number + 1) if has_more else None
            first_url = None
        else:  # the list pages by keyset, forward only
            prev_url = None
            next_url = page_url(cursor=next_cursor) if next_cursor else None
            first_url = page_url() if cursor else None
        departments = await Department.select(Department.id, Department.name).where(
            Department.id.is_in(
                tickets.Ticket.select(tickets.Ticket.department).where(
                    tickets.Ticket.customer == user.id
                )
            )
        ).order_by(Department.name)
        any_ticket = bool(rows) or bool(query) or await tickets.Ticket.exists().where(
            tickets.Ticket.customer == user.id
        )
        return await render(
            request,
            "client/tickets.html",
            {
                "tickets": rows,
                "snippets": snippets,
                "prev_url": prev_url,
                "next_url": next_url,
                "first_url": first_url,
                "filters": {
                    "status": chosen_status, "department": department_id,
                    "archived": show_archived, "q": text,
                },
                "filtered": bool(query),
                "support_on": await support_enabled(),
                "any_ticket": any_ticket,
                "status_options": STATUS_OPTIONS,
                "department_options": [(d["id"], d["name"]) for d in departments],
            },
            active="tickets",
        )

    # ------------------------------------------------------------- opening

    @get("/tickets/new")
    async def new_ticket(self, request: Request, department: FromQuery[str | None] = None) -> Template:
        return await self._new_page(request, typed={"department_id": department or ""})

    async def _new_page(
        self, request: Request, *, typed: dict[str, Any], errors: dict[str, str] | None = None,
        status_code: int = 200, price: dict[str, Any] | None = None,
    ) -> Template:
        user = _user(request)
        departments = await tickets.customer_departments(user.id)
        options = []
        for dep in departments:
            quota: QuotaStatus = dep["quota"]
            attrs = {"data-quota": quota_text(quota), "data-price-warning": price_warning(quota)}
            if quota.price is not None:
                attrs["data-price"] = str(quota.price.amount)
            options.append((dep["id"], dep["name"], False, attrs))
        from billdesk import requests

        kinds = await requests.kinds_by_department([dep["id"] for dep in departments])
        names = {dep["id"]: dep["name"] for dep in departments}
        request_kind_options = [
            (kind["id"], f"{names[department_id]}: {kind['name']}")
            for department_id, rows in kinds.items() for kind in rows
        ]
        services = await tickets.customer_services(user.id)
        service_options = [("", tr("Not about a service"))] + [
            (s["id"], tr("%(service)s (%(kind)s)", service=s["label"], kind=s["kind"]))
            for s in services
        ]
        chosen = next(
            (d for d in departments if str(d["id"]) == str(typed.get("department_id", ""))), None
        )
        return await render(
            request,
            "client/new_ticket.html",
            {
                "departments": departments,
                "department_options": options,
                "service_options": service_options,
                "request_kind_options": request_kind_options,
                "chosen": chosen,
                "chosen_quota": quota_text(chosen["quota"]) if chosen else "",
                "chosen_warning": price_warning(chosen["quota"]) if chosen else "",
                "typed": typed,
                "errors": errors or {},
                "client_token": typed.get("client_token") or secrets.token_urlsafe(16),
                "support_on": await support_enabled(),
                "price": price,
            },
            active="new_ticket",
            status_code=status_code,
        )

    @post("/tickets/new")
    async def open_ticket(self, request: Request) -> Template | Redirect:
        user = _user(request)
        form = await request.form()
        typed: dict[str, Any] = {
            "department_id": str(form.get("department_id", "")),
            "service_id": str(form.get("service_id", "")),
            "request_kind_id": str(form.get("request_kind_id", "")),
            "message": str(form.get("message", "")),
            "client_token": str(form.get("client_token", ""))[:60],
            "urgent": str(form.get("urgent", "")).lower() in ("1", "yes", "on", "true"),
        }
        # The price accepted is the one this form showed for the chosen department
        # (a hidden field per department), so a price changed since then is asked again.
        try:
            accept = None
            if form.get("accept_price"):
                accept = parse_int(
                    "accept_price", str(form.get(f"price_{typed['department_id']}", "")).strip()
                )
            opened = await tickets.open_ticket(
                customer=user,
                department_id=parse_id("department_id", typed["department_id"]),
                service_id=parse_id("service_id", typed["service_id"]),
                message=typed["message"],
                files=_form_files(form),
                accept_price=accept,
                client_token=typed["client_token"] or None,
                urgent=bool(typed["urgent"]),
                request_kind_id=parse_id("request_kind_id", typed["request_kind_id"]),
            )
        except DeskError as exc:
            if exc.status == 404:
                raise
            # Said once, in the form's list of problems, each linked to its field.
            return await self._new_page(
                request, typed=typed, errors=page_errors(exc, NEW_TICKET_FIELDS),
                status_code=exc.status, price=exc.extra.get("price"),
            )
        return Redirect(path=f"/tickets/{opened.ticket_id}")

    # ------------------------------------------------------------- one ticket

    @get("/tickets/{ticket_id:int}")
    async def ticket(
        self, request: Request, ticket_id: FromPath[int], rate: FromQuery[str | None] = None
    ) -> Template:
        user = _user(request)
        await tickets.customer_ticket(ticket_id, user.id)
        await tickets.mark_read_by_customer(ticket_id)
        # A rating link in a mail (?rate=4) preselects that score; nothing is saved yet.
        typed = {"score": rate} if rate in ("1", "2", "3", "4", "5") else None
        return await self._ticket_page(request, ticket_id, typed=typed)

    async def _ticket_page(
        self, request: Request, ticket_id: int, *, errors: dict[str, str] | None = None,
        typed: dict[str, Any] | None = None, status_code: int = 200,
    ) -> Template:
        ticket = await tickets.ticket_detail(ticket_id)
        messages = await tickets.thread(ticket_id, include_internal=False)
        for message in messages:
            for item in message["attachments"]:
                item["url"] = f"/attachments/{item['id']}"
        charges = await tickets.charges_by_ticket([ticket_id])
        return await render(
            request,
            "client/ticket.html",
            {
                "ticket": ticket,
                "messages": messages,
                "charge": charges.get(ticket_id),
                "payment": await tickets.ticket_payment(ticket_id),
                "shown_status": tickets.shown_status(ticket["status"], charges.get(ticket_id)),
                "errors": errors or {},
                "typed": typed or {},
                "solved": ticket["status"] == tickets.Status.solved,
                "can_reply": ticket["status"] in (tickets.Status.in_progress, tickets.Status.waiting_for_reply),
                "support_on": await support_enabled(),
                "may_rate": satisfaction.may_be_rated(ticket),
                "rating": await satisfaction.rating_of(ticket_id),
            },
            active="tickets",
            status_code=status_code,
        )

    async def _act(
        self,
        request: Request,
        ticket_id: int,
        action,
        typed: dict[str, Any],
        done: str,
    ) -> Template | Redirect:
        """Run one action on the ticket; a refusal shows the ticket again with the message."""
        try:
            await action()
        except DeskError as exc:
            if exc.status == 404:
                raise
            # Said once, in the form's list of problems, each linked to its field.
            return await self._ticket_page(
                request, ticket_id, errors=page_errors(exc, ("body", "attachments")), typed=typed,
                status_code=exc.status,
            )
        return flashes.saved(request, f"/tickets/{ticket_id}", done)

    @get("/tickets/{ticket_id:int}/receipt")
    async def receipt(self, request: Request, ticket_id: FromPath[int]) -> Template:
        """A printable receipt of what the ticket cost, with its refunds."""
        user = _user(request)
        await tickets.customer_ticket(ticket_id, user.id)
        payment = await tickets.ticket_payment(ticket_id)
        if payment is None or payment["paid_at"] is None:
            raise NotFound(tr("This ticket has no payment to give a receipt for."))
        return await render(
            request, "client/receipt.html",
            {"ticket": await tickets.ticket_detail(ticket_id), "payment": payment},
            active="tickets",
        )

    @post("/tickets/{ticket_id:int}/reply")
    async def reply(self, request: Request, ticket_id: FromPath[int]) -> Template | Redirect:
        user = _user(request)
        await tickets.customer_ticket(ticket_id, user.id)
        form = await request.form()
        body = str(form.get("body", ""))
        files = _form_files(form)

        async def action() -> None:
            await tickets.reply_as_customer(ticket_id=ticket_id, customer=user, body=body, files=files)

        return await self._act(request, ticket_id, action, {"body": body}, tr("Reply sent."))

    @post("/tickets/{ticket_id:int}/close")
    async def close(self, request: Request, ticket_id: FromPath[int]) -> Template | Redirect:
        user = _user(request)
        ticket = await tickets.customer_ticket(ticket_id, user.id)
        return await self._act(
            request, ticket_id, lambda: tickets.close_ticket(ticket, user), {}, tr("Ticket closed.")
        )

    @post("/tickets/{ticket_id:int}/rating")
    async def rate(self, request: Request, ticket_id: FromPath[int]) -> Template | Redirect:
        user = _user(request)
        form = await request.form()
        typed = {"score": str(form.get("score", "")), "comment": str(form.get("comment", ""))}
        score = int(typed["score"]) if typed["score"] in ("1", "2", "3", "4", "5") else None

        async def rate() -> None:
            await satisfaction.rate_ticket(
                ticket_id=ticket_id, customer=user, score=score, comment=typed["comment"]
            )

        return await self._act(request, ticket_id, rate, typed, tr("Thank you for your rating."))

    @post("/tickets/{ticket_id:int}/archive")
    async def archive(self, request: Request, ticket_id: FromPath[int]) -> Template | Redirect:
        user = _user(request)
        ticket = await tickets.customer_ticket(ticket_id, user.id)
        return await self._act(
            request, ticket_id, lambda: tickets.archive_ticket(ticket, user), {}, tr("Ticket archived.")
        )

    @post("/tickets/{ticket_id:int}/messages/{message_id:int}/delete")
    async def delete_message(
        self, request: Request, ticket_id: FromPath[int], message_id: FromPath[int]
    ) -> Template | Redirect:
        user = _user(request)

        async def action() -> None:
            await tickets.delete_own_reply(ticket_id=ticket_id, message_id=message_id, customer=user)

        return await self._act(request, ticket_id, action, {}, tr("Reply deleted."))


class PersonalController(Controller):
    """What every logged-in person has: notifications, and attachments of the tickets they may see."""

    tags = ["client"]
    include_in_schema = False
    guards = [requires_login]

    # ------------------------------------------------------------- notifications

    @get("/notifications")
    async def notifications_page(self, request: Request) -> Template:
        user = _user(request)
        rows = await (
            notifications.notifications_query(user.id)
            .order_by(Notification.created_at, ascending=False)
            .order_by(Notification.id, ascending=False)
            .limit(100)
        )
        shown = [{**row, "text": notifications.shown(row)} for row in rows]
        return await render(
            request, "client/notifications.html", {"notifications": shown}, active="notifications"
        )

    @post("/notifications/read")
    async def notifications_read(self, request: Request) -> Redirect:
        await notifications.mark_read(_user(request).id)
        return flashes.saved(request, "/notifications", tr("All notifications marked read."))

    @get("/attachments/{attachment_id:int}")
    async def download(self, request: Request, attachment_id: FromPath[int]) -> File:
        found = await attachments.download_for(attachment_id, _user(request))
        return download_response(found)


def download_response(found: attachments.Download) -> File:
    """The file as a download, never shown inline, so no upload can run as a page of the site."""
    return File(
        path=found.path,
        filename=found.filename,
        media_type=found.content_type,
        content_disposition_type="attachment",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"},
    )
