"""The JSON API for customers (API.md, "Customers"): departments, services, tickets, notifications.

HTTP only: each handler parses, calls the ticket domain (the same functions the
client area's pages call), and shapes the answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import UploadFile
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import File
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from billdesk import attachments, notifications, requests, search, tickets
from billdesk.auth import CurrentUser, requires_customer, requires_login
from billdesk.errors import ValidationFailed
from billdesk.i18n import current_language, tr, translate
from billdesk.quotas import Price, QuotaStatus
from billdesk.sla import satisfaction
from billdesk.tables import Message, Notification, Service, Ticket
from billdesk.tickets.reading import customer_ticket_page, ticket_charge
from billdesk.validation import parse_id, parse_int
from billdesk.web.client import download_response
from billdesk.web.paging import cut_page, keyset_page, parse_limit, time_cursor
from billdesk.web.params import CursorQuery, LimitQuery

API = "/api/v1"
MAX_READ_IDS = 1000


# ------------------------------------------------------------------ shapes


class Money(msgspec.Struct):
    amount: int
    currency: str


class Quota(msgspec.Struct):
    free_per_period: int
    period: str
    used: int
    remaining: int
    resets_at: str | None


class NextTicket(msgspec.Struct):
    paid: bool
    price: Money | None


class RequestKindOut(msgspec.Struct):
    id: int
    name: str
    description: str
    requires_service: bool


class DepartmentOut(msgspec.Struct):
    id: int
    slug: str
    name: str
    description: str
    quota: Quota | None
    next_ticket: NextTicket
    request_kinds: list[RequestKindOut] = []


class ServiceOut(msgspec.Struct):
    id: int
    external_id: str | None
    name: str
    kind: str
    status: str


class Named(msgspec.Struct):
    id: int
    name: str


class ChargeOut(msgspec.Struct):
    id: int
    amount: int
    currency: str
    status: str


class RequestOut(msgspec.Struct):
    """A service request's kind and decision."""

    kind: Named
    state: str
    reason: str
    decided_by: Named | None
    decided_at: str | None


class TicketSummary(msgspec.Struct):
    id: int
    subject: str
    status: str
    archived: bool
    department: Named
    service: Named | None
    created_at: str
    last_message_at: str
    answers: int
    unread: bool
    charge: ChargeOut | None
    type: str = "ticket"
    request: RequestOut | None = None


class SnippetOut(msgspec.Struct):
    html: str


class TicketFound(TicketSummary):
    """A search result: the summary and the passage that matched, matches in <mark>."""

    snippet: SnippetOut | None = None


class AttachmentOut(msgspec.Struct):
    id: int
    filename: str
    content_type: str
    size: int
    url: str


class Author(msgspec.Struct):
    id: int
    name: str
    role: str


class MessageOut(msgspec.Struct):
    id: int
    author: Author
    body: str
    internal: bool
    deleted: bool
    created_at: str
    attachments: list[AttachmentOut]


class RatingIn(msgspec.Struct, forbid_unknown_fields=True):
    score: int
    comment: str | None = None


class RatingOut(msgspec.Struct):
    score: int
    comment: str
    created_at: str
    updated_at: str
    changeable_until: str
    changeable: bool


def _rating_struct(rating: dict[str, Any] | None) -> RatingOut | None:
    if rating is None:
        return None
    return RatingOut(
        score=rating["score"], comment=rating["comment"],
        created_at=rfc3339(rating["created_at"]) or "",
        updated_at=rfc3339(rating["updated_at"]) or "",
        changeable_until=rfc3339(rating["changeable_until"]) or "",
        changeable=rating["changeable"],
    )


class TicketFull(msgspec.Struct):
    id: int
    subject: str
    status: str
    archived: bool
    department: Named
    service: Named | None
    created_at: str
    last_message_at: str
    answers: int
    unread: bool
    charge: ChargeOut | None
    messages: list[MessageOut]
    payment_url: str | None = None
    rating: RatingOut | None = None
    type: str = "ticket"
    request: RequestOut | None = None
    merged_into_id: int | None = None


class NotificationOut(msgspec.Struct):
    id: int
    kind: str
    ticket_id: int | None
    text: str
    read: bool
    created_at: str


class ListOf(msgspec.Struct):
    items: list[Any]
    next_cursor: str | None


class MarkedRead(msgspec.Struct):
    updated: int


# ------------------------------------------------------------------ helpers


def rfc3339(moment: datetime | None) -> str | None:
    """A time as API.md writes it: UTC, seconds, with a Z."""
    if moment is None:
        return None
    if moment.tzinfo is not UTC:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment.year < 1000:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")  # strftime does not pad such a year
    # isoformat is several times cheaper than strftime: its first 19 characters are the
    # same "2026-11-27T15:42:54", whatever the microseconds and the offset after them.
    return moment.isoformat()[:19] + "Z"


def _user(request: Request) -> CurrentUser:
    return request.scope["user"]


def _quota_out(status: QuotaStatus) -> tuple[Quota | None, NextTicket]:
    price = Money(status.price.amount, status.price.currency) if status.price else None
    next_ticket = NextTicket(paid=status.next_ticket_paid, price=price)
    if status.always_free:
        return None, next_ticket
    assert status.free_per_period is not None and status.remaining is not None
    quota = Quota(
        free_per_period=status.free_per_period, period=status.period, used=status.used,
        remaining=status.remaining, resets_at=rfc3339(status.resets_at),
    )
    return quota, next_ticket


def _charge_out(row: dict[str, Any] | None) -> ChargeOut | None:
    if row is None:
        return None
    return ChargeOut(id=row["id"], amount=row["amount"], currency=row["currency"], status=row["status"])


def _request_out(row: dict[str, Any]) -> RequestOut | None:
    shown = requests.request_out(row)
    if shown is None:
        return None
    decided_by = shown["decided_by"]
    return RequestOut(
        kind=Named(**shown["kind"]), state=shown["state"], reason=shown["reason"],
        decided_by=Named(**decided_by) if decided_by else None, decided_at=shown["decided_at"],
    )


def _joined_charge(row: dict[str, Any]) -> ChargeOut | None:
    """The charge of a row of `customer_ticket_page`, joined under `charge.`."""
    if row["charge.id"] is None:
        return None
    return ChargeOut(
        id=row["charge.id"], amount=row["charge.amount"], currency=row["charge.currency"],
        status=row["charge.status"],
    )


def _summary(row: dict[str, Any], charge: ChargeOut | None) -> TicketSummary:
    service = Named(row["service_id"], row["service_name"]) if row["service_id"] else None
    return TicketSummary(
        type=row["type"], request=_request_out(row),
        id=row["id"], subject=row["subject"], status=row["status"], archived=row["archived"],
        department=Named(row["department_id"], row["department_name"]), service=service,
        created_at=rfc3339(row["created_at"]) or "", last_message_at=rfc3339(row["last_message_at"]) or "",
        answers=row["answers"], unread=row["unread_by_customer"], charge=charge,
    )


def _message_out(message: dict[str, Any]) -> MessageOut:
    return MessageOut(
        id=message["id"],
        author=Author(message["author_id"], message["author_name"], message["author_role"]),
        body=message["body"], internal=message["internal"], deleted=message["deleted"],
        created_at=rfc3339(message["created_at"]) or "",
        attachments=[
            AttachmentOut(
                id=item["id"], filename=item["filename"], content_type=item["content_type"],
                size=item["size"], url=f"{API}/attachments/{item['id']}",
            )
            for item in message["attachments"]
        ],
    )


def _payment_url(ticket_id: int) -> str | None:
    try:
        from billdesk.payments.charges import payment_url
    except ImportError:
        return None
    return payment_url(ticket_id)


async def full_ticket(ticket_id: int) -> TicketFull:
    """The ticket as its customer sees it: summary fields, public messages, and how to pay."""
    row = await tickets.ticket_detail(ticket_id)
    messages = await tickets.thread(ticket_id, include_internal=False)
    service = Named(row["service"], row["service_name"]) if row["service"] else None
    awaiting = row["status"] == Ticket.Status.awaiting_payment
    return TicketFull(
        type=row["type"], request=_request_out(row),
        id=row["id"], subject=row["subject"], status=row["status"], archived=row["archived"],
        department=Named(row["department"], row["department_name"]), service=service,
        created_at=rfc3339(row["created_at"]) or "", last_message_at=rfc3339(row["last_message_at"]) or "",
        answers=row["answers"], unread=row["unread_by_customer"],
        charge=_charge_out(await ticket_charge(ticket_id)),
        messages=[_message_out(message) for message in messages],
        payment_url=_payment_url(ticket_id) if awaiting else None,
        rating=_rating_struct(await satisfaction.rating_of(ticket_id)),
        merged_into_id=row["merged_into"],
    )


def _optional_int(data: dict[str, Any], field: str) -> int | None:
    return parse_id(field, data.get(field))


def _accept_price(value: Any) -> Price | int | None:
    """accept_price as an amount in minor units, or as money {amount, currency}."""
    if value is None or value == "" or value is False:
        return None
    if isinstance(value, dict):
        amount, currency = value.get("amount"), value.get("currency")
        if isinstance(amount, int) and not isinstance(amount, bool) and isinstance(currency, str):
            return Price(parse_int("accept_price.amount", amount) or 0, currency.lower())
    elif isinstance(value, int | str) and not isinstance(value, bool):
        amount = parse_int("accept_price", value)
        if amount is not None:
            return amount
    raise ValidationFailed.field(
        "accept_price",
        tr('accept_price is the price shown: {"amount": 1500, "currency": "usd"} or 1500.'),
    )


async def _read_body(request: Request, text_field: str) -> tuple[dict[str, Any], list[UploadFile]]:
    """The fields of a JSON or multipart request, and its attached files."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()
        data: dict[str, Any] = {key: form.get(key) for key in form if key != "attachments"}
        if "accept_price.amount" in data:
            data["accept_price"] = {
                "amount": parse_int("accept_price.amount", data.get("accept_price.amount")),
                "currency": str(data.get("accept_price.currency") or ""),
            }
        items = form.getall("attachments") if "attachments" in form else []
        files = [item for item in items if isinstance(item, UploadFile) and item.filename]
        return data, files
    try:
        data = msgspec.json.decode(await request.body())
    except msgspec.DecodeError as exc:
        raise ValidationFailed.field(text_field, tr("Send a JSON object.")) from exc
    if not isinstance(data, dict):
        raise ValidationFailed.field(text_field, tr("Send a JSON object."))
    value = data.get(text_field)
    if value is not None and not isinstance(value, str):
        raise ValidationFailed.field(text_field, tr("%(field)s must be text.", field=text_field))
    return data, []


def _archived(value: str | None) -> bool:
    if value in (None, "", "false", "0"):
        return False
    if value in ("true", "1"):
        return True
    raise ValidationFailed.field("archived", tr("archived must be true or false."))


def _urgent(value: Any) -> bool:
    """The `urgent` flag of a new ticket, from JSON (a boolean) or a form (a word)."""
    if value in (None, False, "", "false", "0", "no", "off"):
        return False
    if value in (True, "true", "1", "yes", "on"):
        return True
    raise ValidationFailed.field("urgent", tr("urgent must be true or false."))


def _department_filter(value: str | None) -> int | None:
    return parse_id("department", value, what="department id")


async def _search_own_tickets(
    user: CurrentUser, q: str, *, status: str | None, department_id: int | None,
    archived: bool, limit: int, cursor: str | None,
) -> ListOf:
    offset = search.parse_offset_cursor(cursor)
    found = await tickets.search_customer_tickets(
        user.id, q, status=status, department_id=department_id, archived=archived,
        limit=limit, offset=offset,
    )
    charges = await tickets.charges_by_ticket([row["id"] for row in found.rows])
    items = []
    for row in found.rows:
        summary = _summary(row, _charge_out(charges.get(row["id"])))
        snippet = found.snippets.get(row["id"])
        items.append(TicketFound(
            **msgspec.structs.asdict(summary),
            snippet=SnippetOut(html=str(snippet.html)) if snippet else None,
        ))
    next_cursor = search.offset_cursor(offset + limit) if found.has_more else None
    return ListOf(items=items, next_cursor=next_cursor)


# ------------------------------------------------------------------ controllers


class CustomerApiController(Controller):
    path = API
    tags = ["customers"]
    guards = [requires_customer]

    @get("/departments")
    async def departments(self, request: Request) -> ListOf:
        """Departments open to customers, with the caller's quota and the price of their next ticket."""
        rows = await tickets.customer_departments(_user(request).id)
        kinds = await requests.kinds_by_department([row["id"] for row in rows])
        items = []
        for row in rows:
            quota, next_ticket = _quota_out(row["quota"])
            items.append(
                DepartmentOut(
                    id=row["id"], slug=row["slug"], name=row["name"],
                    description=row["description"], quota=quota, next_ticket=next_ticket,
                    request_kinds=[
                        RequestKindOut(
                            id=kind["id"], name=kind["name"], description=kind["description"],
                            requires_service=kind["requires_service"],
                        )
                        for kind in kinds.get(row["id"], [])
                    ],
                )
            )
        return ListOf(items=items, next_cursor=None)

    @get("/services")
    async def services(
        self, request: Request, limit: LimitQuery = None, cursor: CursorQuery = None
    ) -> ListOf:
        """The caller's services."""
        rows, next_cursor = await keyset_page(
            Service.select(
                Service.id, Service.external_id, Service.name, Service.kind, Service.status
            ).where(Service.customer == _user(request).id),
            sort=None, id_column=Service.id, limit=parse_limit(limit), cursor=cursor,
            descending=False,
        )
        return ListOf(items=[ServiceOut(**row) for row in rows], next_cursor=next_cursor)

    @get("/tickets")
    async def list_tickets(
        self,
        request: Request,
        status: FromQuery[str | None] = None,
        department: FromQuery[str | None] = None,
        archived: FromQuery[str | None] = None,
        limit: LimitQuery = None,
        cursor: CursorQuery = None,
        q: FromQuery[str | None] = None,
    ) -> ListOf:
        """The caller's tickets, newest activity first; with `q`, the ones matching the
        search, best first, each with its matching `snippet`."""
        if q and q.strip():
            return await _search_own_tickets(
                _user(request), q, status=tickets.check_status_filter(status),
                department_id=_department_filter(department), archived=_archived(archived),
                limit=parse_limit(limit), cursor=cursor,
            )
        status = tickets.check_status_filter(status)
        department_id = _department_filter(department)
        shown_archived = _archived(archived)
        limit = parse_limit(limit)
        rows, next_cursor = cut_page(
            await customer_ticket_page(
                _user(request).id, status=status, department_id=department_id,
                archived=shown_archived, after=time_cursor(cursor), limit=limit + 1,
            ),
            limit=limit, sort_key="last_message_at",
        )
        return ListOf(
            items=[_summary(row, _joined_charge(row)) for row in rows], next_cursor=next_cursor
        )

    @post(
        "/tickets",
        status_code=HTTP_201_CREATED,
        responses={
            200: ResponseSpec(
                data_container=TicketFull,
                description="A repeated client_token: the ticket the first request opened.",
            )
        },
    )
    async def open_ticket(self, request: Request) -> Response[TicketFull]:
        """Open a ticket: `{department_id, service_id?, message, accept_price?, urgent?}` as JSON
        or multipart; `urgent: true` is "my service is down"; with `request_kind_id`, a service
        request of that kind (never charged, no quota used)."""
        user = _user(request)
        data, files = await _read_body(request, "message")
        client_token = data.get("client_token")
        opened = await tickets.open_ticket(
            customer=user,
            department_id=_optional_int(data, "department_id"),
            service_id=_optional_int(data, "service_id"),
            message=data.get("message") if isinstance(data.get("message"), str) else None,
            files=files,
            accept_price=_accept_price(data.get("accept_price")),
            client_token=str(client_token)[:60] if client_token else None,
            channel=Message.Channel.api,
            urgent=_urgent(data.get("urgent")),
            request_kind_id=_optional_int(data, "request_kind_id"),
        )
        return Response(
            await full_ticket(opened.ticket_id),
            status_code=HTTP_201_CREATED if opened.created else 200,
        )

    @get("/tickets/{ticket_id:int}")
    async def ticket(self, request: Request, ticket_id: FromPath[int]) -> TicketFull:
        """The ticket with its messages; staff replies count as read from now."""
        await tickets.customer_ticket(ticket_id, _user(request).id)
        await tickets.mark_read_by_customer(ticket_id)
        return await full_ticket(ticket_id)

    @post("/tickets/{ticket_id:int}/messages", status_code=HTTP_201_CREATED)
    async def reply(self, request: Request, ticket_id: FromPath[int]) -> MessageOut:
        """Reply `{body}` (JSON, or multipart with attachments)."""
        user = _user(request)
        await tickets.customer_ticket(ticket_id, user.id)
        data, files = await _read_body(request, "body")
        body = data.get("body") if isinstance(data.get("body"), str) else None
        message_id = await tickets.reply_as_customer(
            ticket_id=ticket_id, customer=user, body=body, files=files,
            channel=Message.Channel.api,
        )
        messages = await tickets.thread(ticket_id, include_internal=False)
        return _message_out(next(m for m in messages if m["id"] == message_id))

    @delete("/tickets/{ticket_id:int}/messages/{message_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def delete_message(
        self, request: Request, ticket_id: FromPath[int], message_id: FromPath[int]
    ) -> None:
        """Delete one's own reply (not the opening message)."""
        await tickets.delete_own_reply(ticket_id=ticket_id, message_id=message_id, customer=_user(request))

    @post("/tickets/{ticket_id:int}/close", status_code=200)
    async def close(self, request: Request, ticket_id: FromPath[int]) -> TicketFull:
        """Solve the ticket; closing a solved ticket changes nothing."""
        user = _user(request)
        ticket = await tickets.customer_ticket(ticket_id, user.id)
        await tickets.close_ticket(ticket, user)
        return await full_ticket(ticket_id)

    @post("/tickets/{ticket_id:int}/rating", status_code=200)
    async def rate(
        self, request: Request, ticket_id: FromPath[int], data: JSONBody[RatingIn]
    ) -> RatingOut:
        """Rate a solved ticket 1-5, with an optional comment; changeable for 7 days."""
        rating = await satisfaction.rate_ticket(
            ticket_id=ticket_id, customer=_user(request), score=data.score, comment=data.comment
        )
        return _rating_struct(rating)  # type: ignore[return-value]

    @post("/tickets/{ticket_id:int}/archive", status_code=200)
    async def archive(self, request: Request, ticket_id: FromPath[int]) -> TicketFull:
        """Archive a solved ticket."""
        user = _user(request)
        ticket = await tickets.customer_ticket(ticket_id, user.id)
        await tickets.archive_ticket(ticket, user)
        return await full_ticket(ticket_id)


class PersonalApiController(Controller):
    """What every API user has: attachments of the tickets they may see, and notifications."""

    path = API
    tags = ["customers"]
    guards = [requires_login]

    @get("/attachments/{attachment_id:int}")
    async def attachment(self, request: Request, attachment_id: FromPath[int]) -> File:
        """The file, as a download."""
        return download_response(await attachments.download_for(attachment_id, _user(request)))

    @get("/notifications")
    async def list_notifications(
        self, request: Request, limit: LimitQuery = None, cursor: CursorQuery = None
    ) -> ListOf:
        """The caller's notifications, newest first."""
        rows, next_cursor = await keyset_page(
            notifications.notifications_query(_user(request).id),
            sort=None, id_column=Notification.id, limit=parse_limit(limit), cursor=cursor,
        )
        items = [
            NotificationOut(
                id=row["id"], kind=row["kind"], ticket_id=row["ticket"],
                text=translate(notifications.shown(row), current_language()),
                read=row["read"], created_at=rfc3339(row["created_at"]) or "",
            )
            for row in rows
        ]
        return ListOf(items=items, next_cursor=next_cursor)

    @post("/notifications/read", status_code=200)
    async def read_notifications(self, request: Request) -> MarkedRead:
        """Mark the caller's notifications read: all of them, or `{"ids": [...]}`."""
        ids = None
        raw = await request.body()
        if raw.strip():
            try:
                data = msgspec.json.decode(raw)
            except msgspec.DecodeError as exc:
                raise ValidationFailed.field("ids", tr("Send {\"ids\": [1, 2]} or nothing.")) from exc
            if isinstance(data, dict) and "ids" in data:
                ids = data["ids"]
                if not isinstance(ids, list) or not all(
                    isinstance(i, int) and not isinstance(i, bool) for i in ids
                ):
                    raise ValidationFailed.field("ids", tr("ids must be a list of notification ids."))
                if len(ids) > MAX_READ_IDS:
                    raise ValidationFailed.field(
                        "ids",
                        tr(
                            "Mark at most %(num)s notifications at once (or send no ids: all).",
                            num=MAX_READ_IDS,
                        ),
                    )
                ids = [parse_id("ids", i, what="notification id") for i in ids]
        return MarkedRead(updated=await notifications.mark_read(_user(request).id, ids))

