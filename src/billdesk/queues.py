"""The desk's side of tickets: who may see which, the queues, and the staff actions.

A staff member sees the tickets of the departments they belong to, an admin sees
every department; anything else answers `NotFound`, exactly as if it did not
exist. Tickets awaiting payment and tickets in the trash are never in a queue.
Every change here is one transaction and leaves a line in the ticket's history.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import lru_cache
from typing import Any

from piccolo.columns.combination import WhereRaw

from billdesk import audit, clock, search, tags
from billdesk.auth import CurrentUser, Role
from billdesk.db import DB
from billdesk.errors import NotFound, TicketClosed, ValidationFailed
from billdesk.i18n import tr
from billdesk.sla import satisfaction
from billdesk.sql import Statement
from billdesk.tables import (
    Attachment,
    Department,
    DepartmentMember,
    Message,
    Service,
    Tag,
    Ticket,
    TicketEvent,
    TicketTag,
    User,
)
from billdesk.tickets import record_event, write_transaction
from billdesk.tickets.reading import REQUEST_COLUMNS
from billdesk.validation import parse_id
from billdesk.web.paging import cut_page, decode_cursor

Status = Ticket.Status
OPEN_STATUSES = (Status.in_progress.value, Status.waiting_for_reply.value)
QUEUE_STATUSES = (*OPEN_STATUSES, Status.solved.value)
SORTS = ("due_at", "last_message_at", "created_at", "priority")
PRIORITIES = tuple(priority.value for priority in Ticket.Priority)
OPEN_SQL = "tickets.status IN ('in_progress', 'waiting_for_reply')"
PRIORITY_RANKS = {priority: rank for rank, priority in enumerate(PRIORITIES)}
SLA_FILTERS = ("breached", "at_risk")
BULK_ACTIONS = ("close", "assign", "remove", "approve", "reject", "add_tag", "remove_tag")
TYPES = tuple(kind.value for kind in Ticket.Type)
REQUEST_STATES = tuple(state.value for state in Ticket.RequestState)
MAX_BULK = 100


def _now() -> datetime:
    return clock.now()


# ------------------------------------------------------------------ who sees what


_MEMBER_OF = Statement('SELECT department FROM department_members WHERE "user" = :user')
_DEPARTMENTS = Statement(
    "SELECT id, name, active, (SELECT SUM(open_tickets) FROM department_open_counts "
    'WHERE department = departments.id) AS "open" FROM departments ORDER BY name'
)
_MEMBER_DEPARTMENTS = Statement(
    "SELECT id, name, active, (SELECT SUM(open_tickets) FROM department_open_counts "
    'WHERE department = departments.id) AS "open" FROM departments '
    'WHERE id IN (SELECT department FROM department_members WHERE "user" = :user) ORDER BY name'
)
"""The user's departments and their open tickets (the counters of billdesk.open_counts)
in one read: the queue's filter and total, and the navigation's badges, all come from it."""

_PAGE_READS: ContextVar[dict[Any, Any] | None] = ContextVar("desk_page_reads", default=None)


@contextmanager
def reads_once_per_page() -> Iterator[None]:
    """Within it, what several parts of one page ask for (the user's departments and their
    open counts) is read once: the queue and the navigation then share one read.

    Only around a page that changes nothing: a read is not read again after a write."""
    token = _PAGE_READS.set({})
    try:
        yield
    finally:
        _PAGE_READS.reset(token)


async def user_departments(user: CurrentUser) -> list[dict[str, Any]]:
    """The departments the user works (every department for an admin), active or not,
    by name: `id`, `name`, `active` and `open`, its open tickets."""
    remembered = _PAGE_READS.get()
    key = ("departments", user.id)
    if remembered is not None and key in remembered:
        return remembered[key]
    if user.is_admin:
        rows = await _DEPARTMENTS.rows()
    else:
        rows = await _MEMBER_DEPARTMENTS.rows(user=user.id)
    for row in rows:
        row["open"] = int(row["open"] or 0)
    if remembered is not None:
        remembered[key] = rows
    return rows


async def member_department_ids(user: CurrentUser) -> list[int] | None:
    """The departments whose tickets the user works; None means every department (admin)."""
    if user.is_admin:
        return None
    if _PAGE_READS.get() is not None:  # a page reads the departments once, with their counts
        return [row["id"] for row in await user_departments(user)]
    rows = await _MEMBER_OF.rows(user=user.id)
    return [row["department"] for row in rows]


async def open_counts_of(user: CurrentUser) -> dict[int, int]:
    """Open tickets per department the user works (billdesk.open_counts)."""
    return {row["id"]: row["open"] for row in await user_departments(user)}


def _visible(departments: list[int] | None, department_id: int) -> bool:
    return departments is None or department_id in departments


async def visible_ticket(
    user: CurrentUser, ticket_id: int, *, include_removed: bool = False
) -> dict[str, Any]:
    """The ticket row if the user may work it at the desk, else NotFound.

    Tickets awaiting payment are not the desk's yet; tickets in the trash are
    only visible to admins, and only when `include_removed` is asked for.
    """
    row = await Ticket.select().where(Ticket.id == ticket_id).first()
    departments = await member_department_ids(user)
    if row is None or not may_work(
        departments, row, include_removed=include_removed and user.is_admin
    ):
        raise NotFound(tr("There is no such ticket in your departments."))
    return row


def may_work(
    departments: list[int] | None, row: dict[str, Any], *, include_removed: bool = False
) -> bool:
    """Whether a ticket row is one the desk shows someone working these departments
    (`member_department_ids`): not awaiting payment, not in the trash, in their departments."""
    return (
        row["status"] != Status.awaiting_payment.value
        and (row["removed_at"] is None or include_removed)
        and _visible(departments, row["department"])
    )


# ------------------------------------------------------------------------ queue


@dataclass
class QueueFilters:
    """What the person asked the queue for; `check()` refuses nonsense by field."""

    id: int | None = None
    department: int | None = None
    statuses: list[str] = field(default_factory=lambda: list(OPEN_STATUSES))
    customer: int | None = None
    assignee: str | None = None  # "me", "none" or a user id
    service: int | None = None
    q: str = ""
    sort: str = "last_message_at"
    sla: str = ""  # breached, at_risk
    priorities: list[str] = field(default_factory=list)
    type: str | None = None  # "ticket" or "request"
    request_state: str | None = None  # pending, approved, rejected (requests only)
    tag: int | None = None  # a tag's id

    def check(self) -> None:
        errors: dict[str, str] = {}
        if self.type not in (None, "", *TYPES):
            errors["type"] = tr("The type must be ticket or request.")
        if self.request_state not in (None, "", *REQUEST_STATES):
            errors["request_state"] = tr("The request state must be pending, approved or rejected.")
        for status in self.statuses:
            if status not in QUEUE_STATUSES:
                errors["status"] = tr(
                    "The status must be one of: %(choices)s.", choices=", ".join(QUEUE_STATUSES)
                )
        if self.assignee not in (None, "", "me", "none"):
            try:
                self.assignee = str(parse_id("assignee", self.assignee, what="user id"))
            except ValidationFailed:
                errors["assignee"] = tr("The assignee must be 'me', 'none' or a user id.")
        if self.sort not in SORTS:
            errors["sort"] = tr("Sort by due_at, last_message_at, created_at or priority.")
        if self.sla not in ("", *SLA_FILTERS):
            errors["sla"] = tr("The sla filter is breached or at_risk.")
        for priority in self.priorities:
            if priority not in PRIORITIES:
                errors["priority"] = tr(
                    "The priority must be one of: %(priorities)s.", priorities=", ".join(PRIORITIES)
                )
        try:
            search.parse_query(self.q)
        except ValidationFailed as exc:
            errors.update(exc.errors)
        if errors:
            raise ValidationFailed(next(iter(errors.values())), errors=errors)


SLA_COLUMNS = (
    Ticket.first_response_due_at,
    Ticket.first_response_at,
    Ticket.next_response_due_at,
    Ticket.resolution_due_at,
    Ticket.due_at,
    Ticket.due_kind,
    Ticket.risk_at,
)

QUEUE_COLUMNS = (
    Ticket.id,
    Ticket.subject,
    Ticket.status,
    Ticket.priority,
    Ticket.priority_rank,
    Ticket.archived,
    Ticket.created_at,
    Ticket.last_message_at,
    Ticket.last_author_role,
    Ticket.answers,
    Ticket.unread_by_staff,
    Ticket.unread_by_customer,
    Ticket.department.id,
    Ticket.department.name,
    Ticket.customer.id,
    Ticket.customer.name,
    Ticket.customer.email,
    Ticket.assignee.id,
    Ticket.assignee.name,
    Ticket.service.id,
    Ticket.service.name,
    *SLA_COLUMNS,
    *REQUEST_COLUMNS,
)


def _queue_where(user: CurrentUser, departments: list[int] | None, filters: QueueFilters):
    statuses = set(filters.statuses or OPEN_STATUSES)
    conditions: list[Any] = [
        # check() keeps the statuses to those of the desk, never awaiting_payment.
        Ticket.removed_at.is_null(),
        # The open queue names its statuses as literals, not parameters, so that
        # PostgreSQL's prepared (generic) plans still match the partial indexes
        # on open tickets (docs/performance.md).
        WhereRaw(OPEN_SQL)
        if statuses == set(OPEN_STATUSES)
        else Ticket.status.is_in(sorted(statuses)),
    ]
    if departments is not None:
        conditions.append(Ticket.department.is_in(departments))
    if filters.id is not None:
        conditions.append(Ticket.id == filters.id)
    if filters.department is not None:
        conditions.append(Ticket.department == filters.department)
    if filters.customer is not None:
        conditions.append(Ticket.customer == filters.customer)
    if filters.service is not None:
        conditions.append(Ticket.service == filters.service)
    if filters.assignee == "me":
        conditions.append(Ticket.assignee == user.id)
    elif filters.assignee == "none":
        conditions.append(Ticket.assignee.is_null())
    elif filters.assignee:
        conditions.append(Ticket.assignee == int(filters.assignee))
    if filters.priorities:
        conditions.append(Ticket.priority.is_in(filters.priorities))
    if filters.sla:
        now = _now()
        if filters.sla == "breached":
            conditions.append(Ticket.due_at <= now)
        else:
            conditions.append((Ticket.risk_at <= now) & (Ticket.due_at > now))
    if filters.type:
        conditions.append(Ticket.type == filters.type)
    if filters.request_state:
        conditions.append(Ticket.request_state == filters.request_state)
    if filters.tag is not None:
        # Read from the (tag, ticket) index of ticket_tags.
        conditions.append(
            Ticket.id.is_in(TicketTag.select(TicketTag.ticket).where(TicketTag.tag == filters.tag))
        )
    where: Any = conditions[0]
    for condition in conditions[1:]:
        where = where & condition
    return where


TOTAL_CAP = 1000
"""Beyond this many matching tickets a queue says "1,000+" instead of counting them all."""


@dataclass
class QueuePage:
    items: list[dict[str, Any]]
    next_cursor: str | None = None
    total: int | None = None
    """None for search results, which are ranked and not counted."""
    total_capped: bool = False
    """True when there are at least `total` (= TOTAL_CAP) tickets, and maybe many more."""
    has_more: bool = False
    snippets: dict[int, search.Snippet] = field(default_factory=dict)
    ranked: bool = False


async def queue_query(user: CurrentUser, filters: QueueFilters):
    """The queue's select (one query, joins included) and its condition, or None when the
    user works in no department. Callers order and page it with `keyset_page`."""
    filters.check()
    departments = await member_department_ids(user)
    if departments is not None and not departments:
        return None
    where = _queue_where(user, departments, filters)
    return Ticket.select(*QUEUE_COLUMNS).where(where), where


def sort_column(filters: QueueFilters):
    """The column the queue is ordered by (then by id, the same way)."""
    return {
        "created_at": Ticket.created_at,
        "due_at": Ticket.due_at,
        "priority": Ticket.priority_rank,
    }.get(filters.sort, Ticket.last_message_at)


def sort_descending(filters: QueueFilters) -> bool:
    """Soonest due first; newest, or most urgent, first otherwise."""
    return filters.sort != "due_at"


def _is_default_queue(filters: QueueFilters) -> bool:
    """The open tickets of the user's departments (or one of them), nothing else asked:
    exactly what the open counters count. Any filter added to QueueFilters later makes
    a queue counted (up to TOTAL_CAP) until the counters learn it."""
    default = QueueFilters()
    others = [item.name for item in fields(QueueFilters)
              if item.name not in ("department", "sort", "statuses")]
    return set(filters.statuses or OPEN_STATUSES) == set(OPEN_STATUSES) and all(
        (getattr(filters, name) or None) == (getattr(default, name) or None) for name in others
    )


async def _total(
    user: CurrentUser, filters: QueueFilters, where: str, parameters: dict[str, Any],
) -> tuple[int, bool]:
    """How many tickets the queue holds: exact from the counters for the default queue,
    otherwise counted up to TOTAL_CAP and no further."""
    if _is_default_queue(filters):
        # The user's departments only: a department filter outside them counts nothing.
        counts = await open_counts_of(user)
        if filters.department is not None:
            return counts.get(filters.department, 0), False
        return sum(counts.values()), False
    row = await _statement(COUNT_SQL.format(where=where)).first(**parameters)
    found = int(row["n"]) if row else 0
    return min(found, TOTAL_CAP), found > TOTAL_CAP


async def queue(
    user: CurrentUser, filters: QueueFilters, *, limit: int = 50, cursor: str | None = None,
    offset: int = 0,
) -> QueuePage:
    """One keyset page of the user's queue (after `cursor`) and its total: a fixed few
    queries, each bounded by the page size or TOTAL_CAP, whatever the number of tickets.

    With search words in `filters.q` the page is ranked by how well each ticket
    matches (paged by `offset`), carries each one's matching passage, and has no total."""
    filters.check()
    await tags.check_filter(filters.tag)
    departments = await member_department_ids(user)
    if departments is not None and not departments:
        return QueuePage(items=[], total=0)
    query = search.parse_query(filters.q)
    if query.terms:
        select = Ticket.select(*QUEUE_COLUMNS).where(_queue_where(user, departments, filters))
        found = await search.search_tickets(
            select, query, public_only=False,
            sort=Ticket.created_at if filters.sort == "created_at" else Ticket.last_message_at,
            limit=limit,
            offset=offset,
        )
        await tags.attach_tags(found.rows)
        return QueuePage(
            items=found.rows, has_more=found.has_more, snippets=found.snippets,
            ranked=found.ranked,
        )
    where, parameters = _queue_conditions(user, departments, filters, _now())
    rows, next_cursor = await _queue_rows(where, parameters, filters, limit=limit, cursor=cursor)
    await tags.attach_tags(rows)
    total, capped = await _total(user, filters, where, parameters)
    return QueuePage(
        items=rows, next_cursor=next_cursor, total=total, total_capped=capped,
        has_more=next_cursor is not None,
    )


# ------------------------------------------------------------ the queue's SQL, written once
# The queue's page and its capped total are every desk request's main queries, so their
# SQL is written here once (billdesk.sql) instead of built by Piccolo on each request.
# The conditions are fixed fragments, one per filter given; a statement is made once per
# combination of them (and per length of an IN list) and reused after. The ranked search
# still pages a Piccolo select (`_queue_where`), which reads the same as these fragments.

QUEUE_SQL = """SELECT tickets.id, tickets.subject, tickets.status, tickets.priority,
 tickets.priority_rank, tickets.archived, tickets.created_at, tickets.last_message_at,
 tickets.last_author_role, tickets.answers, tickets.unread_by_staff, tickets.unread_by_customer,
 department.id AS "department.id", department.name AS "department.name",
 customer.id AS "customer.id", customer.name AS "customer.name",
 customer.email AS "customer.email",
 assignee.id AS "assignee.id", assignee.name AS "assignee.name",
 service.id AS "service.id", service.name AS "service.name",
 tickets.first_response_due_at, tickets.first_response_at, tickets.next_response_due_at,
 tickets.resolution_due_at, tickets.due_at, tickets.due_kind, tickets.risk_at,
 tickets.type, request_kind.id AS "request_kind.id", request_kind.name AS "request_kind.name",
 tickets.request_state, tickets.request_reason,
 decided_by.id AS "decided_by.id", decided_by.name AS "decided_by.name", tickets.decided_at
FROM tickets
LEFT JOIN departments department ON department.id = tickets.department
LEFT JOIN users customer ON customer.id = tickets.customer
LEFT JOIN users assignee ON assignee.id = tickets.assignee
LEFT JOIN services service ON service.id = tickets.service
LEFT JOIN request_kinds request_kind ON request_kind.id = tickets.request_kind
LEFT JOIN users decided_by ON decided_by.id = tickets.decided_by"""
"""QUEUE_COLUMNS, under the names Piccolo gives them ("department.name", …)."""

COUNT_SQL = (
    "SELECT COUNT(*) AS n FROM (SELECT tickets.id FROM tickets WHERE {where} "  # noqa: S608
    f"LIMIT {TOTAL_CAP + 1}) AS capped"
)
# Limits are written into the SQL, not passed: PostgreSQL then keeps one plan for a
# statement, where a parameter limit makes it plan the statement again on every run.

SORT_SQL = {
    "created_at": "tickets.created_at",
    "due_at": "tickets.due_at",
    "priority": "tickets.priority_rank",
    "last_message_at": "tickets.last_message_at",
}
SORT_KEYS = {"priority": "priority_rank"}
"""The row key of a sort whose column is not named like it."""

@lru_cache(maxsize=512)
def _statement(text: str) -> Statement:
    """The statement for this text, made once: its SQL is compiled once per engine."""
    return Statement(text)


def in_list(name: str, values: list[Any], parameters: dict[str, Any]) -> str:
    """`:name0, :name1, …` for an IN list, its values put in `parameters`."""
    marks = []
    for number, value in enumerate(values):
        parameters[f"{name}{number}"] = value
        marks.append(f":{name}{number}")
    return ", ".join(marks)


def _queue_conditions(
    user: CurrentUser, departments: list[int] | None, filters: QueueFilters, now: datetime,
) -> tuple[str, dict[str, Any]]:
    """The queue's WHERE text (fixed fragments, one per filter given) and its parameters:
    the same conditions as `_queue_where`."""
    parameters: dict[str, Any] = {}
    statuses = set(filters.statuses or OPEN_STATUSES)
    conditions = [
        "tickets.removed_at IS NULL",
        # Literals for the open queue: see _queue_where.
        OPEN_SQL if statuses == set(OPEN_STATUSES)
        else f"tickets.status IN ({in_list('status', sorted(statuses), parameters)})",
    ]
    if departments is not None:
        conditions.append(f"tickets.department IN ({in_list('member_of', departments, parameters)})")
    equal = {
        "id": filters.id, "department": filters.department, "customer": filters.customer,
        "service": filters.service, "type": filters.type or None,
        "request_state": filters.request_state or None,
    }
    for name, value in equal.items():
        if value is not None:
            conditions.append(f"tickets.{name} = :{name}")
            parameters[name] = value
    if filters.assignee == "none":
        conditions.append("tickets.assignee IS NULL")
    elif filters.assignee:
        conditions.append("tickets.assignee = :assignee")
        parameters["assignee"] = user.id if filters.assignee == "me" else int(filters.assignee)
    if filters.priorities:
        priorities = in_list("priority", filters.priorities, parameters)
        conditions.append(f"tickets.priority IN ({priorities})")
    if filters.sla == "breached":
        conditions.append("tickets.due_at <= :now")
        parameters["now"] = now
    elif filters.sla:
        conditions.append("tickets.risk_at <= :now AND tickets.due_at > :now")
        parameters["now"] = now
    if filters.tag is not None:
        # Read from the (tag, ticket) index of ticket_tags.
        conditions.append("tickets.id IN (SELECT ticket FROM ticket_tags WHERE tag = :tag)")
        parameters["tag"] = filters.tag
    return " AND ".join(conditions), parameters


async def _queue_rows(
    where: str, parameters: dict[str, Any], filters: QueueFilters, *, limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One keyset page of the queue, as `keyset_page` pages the Piccolo select: ordered by
    (sort, id), starting strictly after the cursor's row; the next page's cursor."""
    sort = SORT_SQL.get(filters.sort, SORT_SQL["last_message_at"])
    order = "DESC" if sort_descending(filters) else "ASC"
    if cursor:
        sort_value, last_id = decode_cursor(cursor)
        if (filters.sort != "priority") != isinstance(sort_value, datetime):
            raise ValidationFailed.field("cursor", tr("cursor is not valid for this list."))
        before_or_after = "<" if order == "DESC" else ">"
        where = f"{where} AND ({sort}, tickets.id) {before_or_after} (:after_value, :after_id)"
        parameters = {**parameters, "after_value": sort_value, "after_id": last_id}
    text = (
        f"{QUEUE_SQL}\nWHERE {where}\n"
        f"ORDER BY {sort} {order}, tickets.id {order} LIMIT {int(limit) + 1}"
    )
    rows = await _statement(text).rows(**parameters)
    return cut_page(rows, limit=limit, sort_key=SORT_KEYS.get(filters.sort, filters.sort))


PICKER_LIMIT = 10
EMAIL_IN_BRACKETS = re.compile(r"<([^<>@\s]+@[^<>\s]+)>\s*$")


def _works_with(departments: list[int] | None) -> Any:
    """Customers with a ticket in these departments (any customer when None)."""
    condition: Any = User.role == Role.CUSTOMER
    if departments is not None:
        marks = ", ".join("{}" for _ in departments)
        # Only "{}" placeholders are joined in; the ids themselves are bound parameters.
        sql = (
            'EXISTS (SELECT 1 FROM tickets WHERE tickets.customer = "users"."id" '  # noqa: S608
            "AND tickets.department IN (" + marks + "))"
        )
        condition = condition & WhereRaw(sql, *departments)
    return condition


async def find_customers(user: CurrentUser, text: str) -> list[dict[str, Any]]:
    """Up to ten customers whose e-mail starts with, or whose name contains, `text`,
    among those with a ticket in the user's departments (every customer for an admin)."""
    typed = " ".join(text.split())[:200]
    if not typed:
        return []
    departments = await member_department_ids(user)
    if departments is not None and not departments:
        return []
    pattern = typed.lower().replace("\\", "").replace("%", "").replace("_", " ")
    like = User.email.ilike if DB.engine_type == "postgres" else User.email.like
    name_like = User.name.ilike if DB.engine_type == "postgres" else User.name.like
    return await (
        User.select(User.id, User.name, User.email)
        .where(_works_with(departments) & (like(f"{pattern}%") | name_like(f"%{pattern}%")))
        .order_by(User.name)
        .order_by(User.id)
        .limit(PICKER_LIMIT)
    )


async def resolve_customer(user: CurrentUser, text: str) -> int | None:
    """The customer a queue filter names: an id, an e-mail, "Name <e-mail>" as the picker
    fills it, or a name or part of one that fits exactly one customer. None when blank;
    otherwise a validation error naming `customer`."""
    typed = " ".join((text or "").split())
    if not typed:
        return None
    if typed.lstrip("#").isdigit():
        return parse_id("customer", typed.lstrip("#"), what="customer id")
    bracketed = EMAIL_IN_BRACKETS.search(typed)
    email = (bracketed.group(1) if bracketed else typed).lower()
    departments = await member_department_ids(user)
    if "@" in email and departments != []:
        row = await User.select(User.id).where(
            _works_with(departments) & (User.email == email)
        ).first()
        if row is not None:
            return row["id"]
    found = await find_customers(user, typed)
    if len(found) == 1:
        return found[0]["id"]
    if not found:
        raise ValidationFailed.field(
            "customer", tr("No customer of your departments matches “%(typed)s”.", typed=typed)
        )
    raise ValidationFailed.field(
        "customer",
        tr(
            "Several customers match “%(typed)s”: pick one from the list or type their e-mail.",
            typed=typed,
        ),
    )


async def jump_target(user: CurrentUser, q: str) -> int | None:
    """The ticket a search for `#1042` or `1042` names, if the user may work it; else None."""
    number = search.parse_query(q).ticket_number
    if number is None or number > 2**31 - 1:
        return None
    try:
        await visible_ticket(user, number)
    except NotFound:
        return None
    return number


# ---------------------------------------------------------------- the ticket page


async def desk_ticket(user: CurrentUser, ticket_id: int, *, check: bool = True) -> dict[str, Any]:
    """Everything the desk shows about one ticket: thread with internal notes, the
    customer with their services and other recent tickets, and the history.

    `check=False` only right after an action that checked access itself (a
    transfer may move the ticket out of the actor's departments).
    """
    if check:
        await visible_ticket(user, ticket_id, include_removed=True)
    ticket = await (
        Ticket.select(
            *QUEUE_COLUMNS, Ticket.removed_at, Ticket.customer.external_id, Ticket.service.status,
            Ticket.merged_into,
        )
        .where(Ticket.id == ticket_id)
        .first()
    )
    if ticket is None:
        raise NotFound(tr("There is no such ticket in your departments."))
    await tags.attach_tags([ticket])
    messages = await (
        Message.select(
            Message.id, Message.body, Message.internal, Message.opening, Message.deleted,
            Message.created_at, Message.author.id, Message.author.name, Message.author.role,
            Message.channel,
        )
        .where(Message.ticket == ticket_id)
        .order_by(Message.created_at)
        .order_by(Message.id)
    )
    files = await Attachment.select(
        Attachment.id, Attachment.message, Attachment.filename, Attachment.content_type,
        Attachment.size,
    ).where(Attachment.ticket == ticket_id)
    by_message: dict[int, list[dict[str, Any]]] = {}
    for item in files:
        item["url"] = f"/attachments/{item['id']}"
        by_message.setdefault(item["message"], []).append(item)
    for message in messages:
        message["attachments"] = by_message.get(message["id"], [])
    customer_id = ticket["customer.id"]
    services = await Service.select(
        Service.id, Service.external_id, Service.name, Service.kind, Service.status
    ).where(Service.customer == customer_id).order_by(Service.name)
    departments = await member_department_ids(user)
    others = Ticket.select(
        Ticket.id, Ticket.subject, Ticket.status, Ticket.last_message_at, Ticket.department.name
    ).where(
        (Ticket.customer == customer_id)
        & (Ticket.id != ticket_id)
        & Ticket.removed_at.is_null()
    )
    if departments is not None:
        others = others.where(Ticket.department.is_in(departments or [0]))
    recent = await others.order_by(Ticket.last_message_at, ascending=False).limit(10)
    events = await (
        TicketEvent.select(
            TicketEvent.id, TicketEvent.kind, TicketEvent.old_value, TicketEvent.new_value,
            TicketEvent.params, TicketEvent.created_at, TicketEvent.actor.id, TicketEvent.actor.name,
        )
        .where(TicketEvent.ticket == ticket_id)
        .order_by(TicketEvent.created_at)
        .order_by(TicketEvent.id)
    )
    merged_from = await (
        Ticket.select(Ticket.id).where(Ticket.merged_into == ticket_id).order_by(Ticket.id)
        .output(as_list=True)
    )
    return {
        "ticket": ticket,
        "merged_from": merged_from,
        "messages": messages,
        "services": services,
        "recent_tickets": recent,
        "events": events,
        "rating": await satisfaction.rating_of(ticket_id),
    }


async def department_staff(department_id: int) -> list[dict[str, Any]]:
    """The active staff and admins who are members of the department, by name."""
    return await (
        DepartmentMember.select(DepartmentMember.user.id, DepartmentMember.user.name)
        .where(
            (DepartmentMember.department == department_id)
            & (DepartmentMember.user.active == True)  # noqa: E712
            & DepartmentMember.user.role.is_in([Role.STAFF, Role.ADMIN])
        )
        .order_by(DepartmentMember.user.name)
    )


# ----------------------------------------------------------------- staff actions


async def _check_assignee(
    actor: CurrentUser, department_id: int, assignee_id: int | None
) -> str:
    """The assignee's name, if they may take tickets of the department; else ValidationFailed."""
    if assignee_id is None:
        return ""
    user = await User.select(User.id, User.name, User.role, User.active).where(
        User.id == assignee_id
    ).first()
    is_member = await DepartmentMember.exists().where(
        (DepartmentMember.department == department_id) & (DepartmentMember.user == assignee_id)
    )
    may_take = (
        user is not None
        and user["active"]
        and user["role"] in (Role.STAFF, Role.ADMIN)
        and (is_member or (assignee_id == actor.id and actor.is_admin))
    )
    if not may_take:
        raise ValidationFailed.field(
            "assignee_id", tr("The assignee must be a staff member of the ticket's department.")
        )
    return user["name"]  # type: ignore[index]


def _refuse_solved(row: dict[str, Any]) -> None:
    if row["status"] == Status.solved.value:
        raise TicketClosed(
            tr("This ticket is solved and read-only."),
            errors={"status": tr("This ticket is solved and read-only.")},
        )


async def _name_of(user_id: int | None) -> str:
    if user_id is None:
        return ""
    row = await User.select(User.name).where(User.id == user_id).first()
    return row["name"] if row else ""


async def assign_ticket(*, actor: CurrentUser, ticket_id: int, assignee_id: int | None) -> None:
    """Give the ticket to a staff member of its department (or the acting admin), or nobody."""
    async with write_transaction():
        row = await visible_ticket(actor, ticket_id)
        _refuse_solved(row)
        new_name = await _check_assignee(actor, row["department"], assignee_id)
        if row["assignee"] == assignee_id:
            return
        old_name = await _name_of(row["assignee"])
        await Ticket.update({Ticket.assignee: assignee_id}).where(Ticket.id == ticket_id)
        await record_event(
            ticket_id=ticket_id, kind=TicketEvent.Kind.assignee, actor_id=actor.id,
            old_value=old_name, new_value=new_name,
        )


async def transfer_ticket(*, actor: CurrentUser, ticket_id: int, department_id: int) -> None:
    """Move the ticket to another active department.

    An assignee who is not a member there is dropped.
    """
    async with write_transaction():
        row = await visible_ticket(actor, ticket_id)
        _refuse_solved(row)
        target = await Department.select(Department.id, Department.name, Department.active).where(
            Department.id == department_id
        ).first()
        if target is None or not target["active"]:
            raise ValidationFailed.field(
                "department_id", tr("Transfer the ticket to an active department.")
            )
        if row["department"] == department_id:
            return
        old = await Department.select(Department.name).where(
            Department.id == row["department"]
        ).first()
        changes: dict[Any, Any] = {Ticket.department: department_id}
        if row["assignee"] is not None and not await DepartmentMember.exists().where(
            (DepartmentMember.department == department_id)
            & (DepartmentMember.user == row["assignee"])
        ):
            changes[Ticket.assignee] = None
            await record_event(
                ticket_id=ticket_id, kind=TicketEvent.Kind.assignee, actor_id=actor.id,
                old_value=await _name_of(row["assignee"]), new_value="",
            )
        await Ticket.update(changes).where(Ticket.id == ticket_id)
        await record_event(
            ticket_id=ticket_id, kind=TicketEvent.Kind.department, actor_id=actor.id,
            old_value=old["name"] if old else "", new_value=target["name"],
        )


async def set_priority(*, actor: CurrentUser, ticket_id: int, priority: str) -> None:
    """Set the ticket's priority: low, normal, high or urgent."""
    if priority not in PRIORITIES:
        raise ValidationFailed.field(
            "priority", tr("The priority must be one of: %(choices)s.", choices=", ".join(PRIORITIES))
        )
    async with write_transaction():
        row = await visible_ticket(actor, ticket_id)
        _refuse_solved(row)
        if row["priority"] == priority:
            return
        await Ticket.update(
            {Ticket.priority: priority, Ticket.priority_rank: PRIORITY_RANKS[priority]}
        ).where(Ticket.id == ticket_id)
        await record_event(
            ticket_id=ticket_id, kind=TicketEvent.Kind.priority, actor_id=actor.id,
            old_value=row["priority"], new_value=priority,
        )


async def update_ticket(
    *, actor: CurrentUser, ticket_id: int, changes: dict[str, Any]
) -> None:
    """Apply the fields of a PATCH (assignee_id, department_id, priority) in one transaction.

    The department moves first, so an assignee is checked against where the ticket lands.
    """
    async with write_transaction():
        if "department_id" in changes:
            await transfer_ticket(
                actor=actor, ticket_id=ticket_id, department_id=changes["department_id"]
            )
        if "assignee_id" in changes:
            await assign_ticket(
                actor=actor, ticket_id=ticket_id, assignee_id=changes["assignee_id"]
            )
        if "priority" in changes:
            await set_priority(actor=actor, ticket_id=ticket_id, priority=changes["priority"])


# ------------------------------------------------------------------ bulk actions


@dataclass
class BulkResult:
    updated: list[int]
    skipped: list[dict[str, Any]]


async def bulk_action(
    *, actor: CurrentUser, action: str, ticket_ids: list[int], assignee_id: int | None = None,
    reason: str | None = None, tag_id: int | None = None,
) -> BulkResult:
    """Close, assign, remove (to the trash), approve or reject (requests), add or remove a
    tag (`tag_id`) on many tickets at once.

    Ids that do not exist or are not in the caller's departments refuse the whole
    request, naming `ticket_ids`; tickets that cannot take the action (already
    solved, already in the trash, an assignee from another department) are skipped
    with the reason.
    """
    from billdesk import requests, tickets

    if action not in BULK_ACTIONS:
        raise ValidationFailed.field(
            "action",
            tr("The action must be close, assign, remove, approve, reject, add_tag or remove_tag."),
        )
    decision = {"approve": "approved", "reject": "rejected"}.get(action)
    if decision:
        decision, reason = requests.check_decision(decision, reason)
    ids = list(dict.fromkeys(int(ticket_id) for ticket_id in ticket_ids))
    if not ids:
        raise ValidationFailed.field("ticket_ids", tr("Select at least one ticket."))
    if len(ids) > MAX_BULK:
        raise ValidationFailed.field("ticket_ids", tr("Select at most %(num)s tickets at once.", num=MAX_BULK))
    if action == "assign" and assignee_id is None:
        raise ValidationFailed.field("assignee_id", tr("Choose whom to assign the tickets to."))
    tagging = action in ("add_tag", "remove_tag")
    if tagging and (tag_id is None or not await Tag.exists().where(Tag.id == tag_id)):
        raise ValidationFailed.field("tag_id", tr("Choose a tag."))
    result = BulkResult(updated=[], skipped=[])
    async with write_transaction():
        departments = await member_department_ids(actor)
        rows = await Ticket.select().where(Ticket.id.is_in(ids))
        by_id = {row["id"]: row for row in rows}
        missing = [
            ticket_id for ticket_id in ids
            if ticket_id not in by_id
            or by_id[ticket_id]["status"] == Status.awaiting_payment.value
            or not _visible(departments, by_id[ticket_id]["department"])
        ]
        if missing:
            listed = ", ".join(f"#{ticket_id}" for ticket_id in missing)
            raise ValidationFailed.field(
                "ticket_ids",
                tr("No such ticket in your departments: %(tickets)s. Nothing was changed.", tickets=listed),
            )
        if tagging:
            return await _bulk_tag(actor, [by_id[ticket_id] for ticket_id in ids], tag_id, action)
        assignee_name = await _name_of(assignee_id) if action == "assign" else ""
        for ticket_id in ids:
            row = by_id[ticket_id]
            if row["removed_at"] is not None:
                result.skipped.append({"id": ticket_id, "reason": "already in the trash"})
                continue
            if decision and row["type"] != Ticket.Type.request.value:
                result.skipped.append({"id": ticket_id, "reason": "not a request"})
                continue
            if decision and row["request_state"] != Ticket.RequestState.pending.value:
                result.skipped.append({"id": ticket_id, "reason": f"already {row['request_state']}"})
                continue
            if action in ("close", "assign") and row["status"] == Status.solved.value:
                result.skipped.append({"id": ticket_id, "reason": "already solved"})
                continue
            if decision:
                await requests.decide_request(
                    actor=actor, ticket_id=ticket_id, decision=decision, reason=reason
                )
            elif action == "close":
                await tickets.close_ticket(ticket_id, actor=actor)
            elif action == "assign":
                try:
                    await _check_assignee(actor, row["department"], assignee_id)
                except ValidationFailed:
                    result.skipped.append(
                        {"id": ticket_id, "reason": "not allowed: assignee not in its department"}
                    )
                    continue
                if row["assignee"] != assignee_id:
                    await Ticket.update({Ticket.assignee: assignee_id}).where(
                        Ticket.id == ticket_id
                    )
                    await record_event(
                        ticket_id=ticket_id, kind=TicketEvent.Kind.assignee, actor_id=actor.id,
                        old_value=await _name_of(row["assignee"]), new_value=assignee_name,
                    )
            else:
                await Ticket.update({Ticket.removed_at: _now()}).where(Ticket.id == ticket_id)
                await record_event(
                    ticket_id=ticket_id, kind=TicketEvent.Kind.removed, actor_id=actor.id
                )
                await audit.record(
                    "ticket.trashed", target_type="ticket", target_id=ticket_id,
                    target=f"#{ticket_id} {row['subject']}",
                    before={"in_trash": False}, after={"in_trash": True},
                )
            result.updated.append(ticket_id)
    return result


async def _bulk_tag(
    actor: CurrentUser, rows: list[dict[str, Any]], tag_id: int | None, action: str
) -> BulkResult:
    """Add or remove one tag on checked tickets at once (a fixed few queries); solved
    tickets may be tagged, tickets in the trash are skipped."""
    adding = action == "add_tag"
    result = BulkResult(updated=[], skipped=[])
    live = [row["id"] for row in rows if row["removed_at"] is None]
    done = await tags.tag_tickets(actor=actor, ticket_ids=live, tag_id=tag_id, add=adding)
    result.updated = done.changed
    for row in rows:
        if row["removed_at"] is not None:
            reason = "already in the trash"
        elif row["id"] in done.already:
            reason = "already tagged" if adding else "not tagged"
        elif row["id"] in done.full:
            reason = f"it has {tags.MAX_PER_TICKET} tags already"
        else:
            continue
        result.skipped.append({"id": row["id"], "reason": reason})
    return result


# ------------------------------------------------------------------------ trash


async def trash() -> list[dict[str, Any]]:
    """The removed tickets, most recently removed first (admin only, checked by the caller)."""
    return await (
        Ticket.select(
            Ticket.id, Ticket.subject, Ticket.status, Ticket.removed_at,
            Ticket.department.name, Ticket.customer.name,
        )
        .where(Ticket.removed_at.is_not_null())
        .order_by(Ticket.removed_at, ascending=False)
        .limit(500)
    )


async def restore_ticket(*, actor: CurrentUser, ticket_id: int) -> None:
    """Take a ticket out of the trash, back into its queue; only admins may."""
    if not actor.is_admin:
        raise NotFound(tr("There is no such ticket in the trash."))
    async with write_transaction():
        row = await Ticket.select(Ticket.id, Ticket.subject, Ticket.removed_at).where(
            Ticket.id == ticket_id
        ).first()
        if row is None or row["removed_at"] is None:
            raise NotFound(tr("There is no such ticket in the trash."))
        await Ticket.update({Ticket.removed_at: None}).where(Ticket.id == ticket_id)
        await record_event(ticket_id=ticket_id, kind=TicketEvent.Kind.restored, actor_id=actor.id)
        await audit.record(
            "ticket.restored", target_type="ticket", target_id=ticket_id,
            target=f"#{ticket_id} {row['subject']}",
            before={"in_trash": True}, after={"in_trash": False},
        )
