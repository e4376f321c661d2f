"""Reading tickets: the customer's list, a thread, departments with quotas, services."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from billdesk import quotas, search
from billdesk.errors import NotFound, ValidationFailed
from billdesk.i18n import tr
from billdesk.sql import Statement
from billdesk.tables import Department, Service, Ticket
from billdesk.tickets.lifecycle import Status

# What a ticket's `request` object reads (billdesk.requests.request_out); a copy here,
# because billdesk.requests builds on the ticket modules.
REQUEST_COLUMNS = (
    Ticket.type,
    Ticket.request_kind.id,
    Ticket.request_kind.name,
    Ticket.request_state,
    Ticket.request_reason,
    Ticket.decided_by.id,
    Ticket.decided_by.name,
    Ticket.decided_at,
)


def customer_tickets_query(
    customer_id: int, *, status: str | None = None, department_id: int | None = None,
    archived: bool = False, columns: bool = True,
):
    """The customer's tickets (not in the trash) with the filters of the list, joined for summaries."""
    condition = (
        (Ticket.customer == customer_id) & Ticket.removed_at.is_null() & (Ticket.archived == archived)
    )
    if status:
        condition = condition & (Ticket.status == status)
    if department_id is not None:
        condition = condition & (Ticket.department == department_id)
    if not columns:
        return Ticket.count().where(condition)
    return Ticket.select(
        Ticket.id, Ticket.subject, Ticket.status, Ticket.archived, Ticket.created_at,
        Ticket.last_message_at, Ticket.answers, Ticket.unread_by_customer,
        Ticket.department.id.as_alias("department_id"),
        Ticket.department.name.as_alias("department_name"),
        Ticket.service.id.as_alias("service_id"),
        Ticket.service.name.as_alias("service_name"),
        *REQUEST_COLUMNS,
    ).where(condition)


_CUSTOMER_PAGE = """
SELECT t.id, t.subject, t.status, t.archived, t.created_at, t.last_message_at, t.answers,
       t.unread_by_customer,
       t.department AS department_id,
       (SELECT d.name FROM departments d WHERE d.id = t.department) AS department_name,
       t.service AS service_id,
       (SELECT s.name FROM services s WHERE s.id = t.service) AS service_name,
       t.type, t.request_kind AS "request_kind.id",
       (SELECT k.name FROM request_kinds k WHERE k.id = t.request_kind) AS "request_kind.name",
       t.request_state, t.request_reason,
       t.decided_by AS "decided_by.id",
       (SELECT u.name FROM users u WHERE u.id = t.decided_by) AS "decided_by.name",
       t.decided_at,
       c.id AS "charge.id", c.amount AS "charge.amount", c.currency AS "charge.currency",
       c.status AS "charge.status"
FROM (
    SELECT t.id, t.subject, t.status, t.archived, t.created_at, t.last_message_at, t.answers,
           t.unread_by_customer, t.department, t.service, t.type, t.request_kind,
           t.request_state, t.request_reason, t.decided_by, t.decided_at
    FROM tickets t
    WHERE t.customer = :customer AND t.removed_at IS NULL AND t.archived = :archived{filters}
    ORDER BY t.last_message_at DESC, t.id DESC
    LIMIT {limit}
) t
{charge}
ORDER BY t.last_message_at DESC, t.id DESC
"""
_CHARGE_JOIN = "LEFT JOIN charges c ON c.ticket = t.id"
_CHARGE_LATERAL = """LEFT JOIN LATERAL (
    SELECT c.id, c.amount, c.currency, c.status FROM charges c WHERE c.ticket = t.id LIMIT 1
) c ON TRUE"""
# The page of tickets is a subquery of its own, planned alone: joined in one level, the
# planner weighs every index of `tickets` (about 35) for each join, which took 2-3 ms
# of planning on PostgreSQL, every time for a customer with many tickets (the statement
# is planned anew while a plan for the customer's own count looks cheaper than a
# generic one), against 0.2 ms to run it. A ticket has at most one charge: on PostgreSQL
# the lateral read (with its LIMIT, never turned into a join) finds each through
# `charges_ticket`, where a join of 51 rows was planned as a hash join over every charge
# (2.5 ms for 10,000 of them). SQLite has no LATERAL and joins by the index anyway.
# The names of the department, service, request kind and decider are sub-selects by
# primary key, not joins: four more joins made the planner weigh their orders, and a
# customer far above the average has the statement planned anew on every request
# (PostgreSQL keeps custom plans while one for that customer looks cheaper than the
# generic plan, and a generic plan cannot be trusted with such a customer: it expects
# the average customer's few tickets and may sort them all).


@cache
def _customer_page(*, status: bool, department: bool, after: bool, limit: int) -> Statement:
    """The page's statement for one combination of filters and page size, written once.

    The limit is part of the text, as the ORM writes it: the generic plan of a statement
    prepared with `LIMIT $n` expects a tenth of the table and may choose a sort over the
    index that returns the rows in order."""
    filters = "".join(
        fragment
        for wanted, fragment in (
            (status, " AND t.status = :status"),
            (department, " AND t.department = :department"),
            # A row comparison: the page starts where the last one ended, as a range of
            # the index on (customer, archived, last_message_at, id).
            (after, " AND (t.last_message_at, t.id) < (:after_time, :after_id)"),
        )
        if wanted
    )
    return Statement(
        _CUSTOMER_PAGE.format(filters=filters, limit=int(limit), charge=_CHARGE_JOIN),
        postgres=_CUSTOMER_PAGE.format(filters=filters, limit=int(limit), charge=_CHARGE_LATERAL),
    )


async def customer_ticket_page(
    customer_id: int, *, status: str | None = None, department_id: int | None = None,
    archived: bool = False, after: tuple[datetime, int] | None = None, limit: int = 50,
) -> list[dict[str, Any]]:
    """Up to `limit` of the customer's tickets (the rows of `customer_tickets_query`), newest
    activity first, starting after the (last_message_at, id) of `after`; each with its
    charge's `charge.id`, `charge.amount`, `charge.currency` and `charge.status` (None when free).

    One statement, its SQL built once per combination of filters."""
    statement = _customer_page(
        status=bool(status), department=department_id is not None, after=after is not None,
        limit=limit,
    )
    after_time, after_id = after if after is not None else (None, None)
    return await statement.rows(
        customer=customer_id, archived=archived, status=status, department=department_id,
        after_time=after_time, after_id=after_id,
    )


async def search_customer_tickets(
    customer_id: int, q: str, *, status: str | None = None, department_id: int | None = None,
    archived: bool = False, limit: int = 50, offset: int = 0,
) -> search.Results:
    """The customer's own tickets matching the search, best first, with the matching passage.

    Only public text is searched: a customer never finds a ticket by an internal note,
    and never anyone else's ticket."""
    select = customer_tickets_query(
        customer_id, status=status, department_id=department_id, archived=archived
    )
    return await search.search_tickets(
        select, search.parse_query(q), public_only=True, sort=Ticket.last_message_at,
        limit=limit, offset=offset,
    )


async def customer_jump_target(customer_id: int, q: str) -> int | None:
    """The customer's own ticket that a search for `#1042` or `1042` names, else None."""
    number = search.parse_query(q).ticket_number
    if number is None or number > 2**31 - 1:
        return None
    exists = await Ticket.exists().where(
        (Ticket.id == number) & (Ticket.customer == customer_id) & Ticket.removed_at.is_null()
    )
    return number if exists else None


def check_status_filter(value: str | None) -> str | None:
    """A status filter from a query string, or a validation error naming it."""
    if not value:
        return None
    try:
        return Status(value).value
    except ValueError:
        raise ValidationFailed.field(
            "status",
            tr("status must be one of %(choices)s.", choices=", ".join(s.value for s in Status)),
        ) from None


async def charges_by_ticket(ticket_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The charge of each paid ticket among these, by ticket id."""
    from billdesk.tables import Charge

    if not ticket_ids:
        return {}
    rows = await Charge.select(
        Charge.id, Charge.ticket, Charge.amount, Charge.currency, Charge.status
    ).where(Charge.ticket.is_in(ticket_ids))
    return {row["ticket"]: row for row in rows}


async def ticket_charge(ticket_id: int) -> dict[str, Any] | None:
    """The charge of this ticket, as `charges_by_ticket` gives it, or None for a free one."""
    return await _TICKET_CHARGE.first(ticket=ticket_id)


_TICKET_CHARGE = Statement(
    "SELECT id, ticket, amount, currency, status FROM charges WHERE ticket = :ticket"
)


async def ticket_payment(ticket_id: int) -> dict[str, Any] | None:
    """What the customer paid for this ticket: the charge with its refunds (two queries), or
    None for a free ticket."""
    from billdesk.tables import Charge, Refund

    charge = await Charge.select(
        Charge.id, Charge.amount, Charge.currency, Charge.status, Charge.refunded_amount,
        Charge.failure_reason, Charge.created_at, Charge.paid_at,
        Charge.card_brand, Charge.card_last4, Charge.receipt_url,
    ).where(Charge.ticket == ticket_id).first()
    if charge is None:
        return None
    charge["refunds"] = await Refund.select(
        Refund.id, Refund.amount, Refund.status, Refund.created_at
    ).where(
        (Refund.charge == charge["id"])
        & Refund.status.is_in([Refund.Status.pending.value, Refund.Status.succeeded.value])
    ).order_by(Refund.created_at)
    return charge


def shown_status(status: str, charge: dict[str, Any] | None) -> str:
    """The status a person reads: a ticket given up before it was paid is "cancelled",
    though it is stored (and answered by the API) as solved."""
    if status == Status.solved.value and charge and charge["status"] == "canceled":
        return "cancelled"
    return status


async def thread(ticket_id: int, *, include_internal: bool) -> list[dict[str, Any]]:
    """The ticket's messages, oldest first, with their authors and attachments."""
    messages = await (_THREAD if include_internal else _PUBLIC_THREAD).rows(ticket=ticket_id)
    files: dict[int, list[dict[str, Any]]] = {}
    if messages:
        for row in await _THREAD_FILES.rows(ticket=ticket_id):
            files.setdefault(row["message"], []).append(row)
    for message in messages:
        # A deleted message keeps its row for audit, but neither its text nor its
        # files are shown to anyone reading the thread.
        message["attachments"] = [] if message["deleted"] else files.get(message["id"], [])
        if message["deleted"]:
            message["body"] = ""
    return messages


async def ticket_detail(ticket_id: int) -> dict[str, Any]:
    """One ticket with its department and service names, and what its `request` reads."""
    row = await _TICKET_DETAIL.first(ticket=ticket_id)
    if row is None:
        raise NotFound(tr("There is no such ticket."))
    return row


# A ticket's page and its API answer (after every opening and reply too) read these:
# their SQL is written once (billdesk.sql). Attachments are read by the ticket; those
# of messages not shown (internal notes to a customer) are left out when grouped.
_THREAD_TEXT = (
    "SELECT m.id, m.body, m.internal, m.opening, m.deleted, m.created_at, "
    "u.id AS author_id, u.name AS author_name, u.role AS author_role "
    "FROM messages m LEFT JOIN users u ON u.id = m.author WHERE m.ticket = :ticket{internal} "
    "ORDER BY m.created_at, m.id"
)
_THREAD = Statement(_THREAD_TEXT.format(internal=""))
_PUBLIC_THREAD = Statement(_THREAD_TEXT.format(internal=" AND NOT m.internal"))
_THREAD_FILES = Statement(
    "SELECT a.id, a.message, a.filename, a.content_type, a.size FROM attachments a "
    "JOIN messages m ON m.id = a.message WHERE m.ticket = :ticket ORDER BY a.id"
)
_TICKET_DETAIL = Statement(
    "SELECT t.*, d.name AS department_name, s.name AS service_name, "
    's.status AS service_status, k.id AS "request_kind.id", k.name AS "request_kind.name", '
    'b.id AS "decided_by.id", b.name AS "decided_by.name" '
    "FROM tickets t LEFT JOIN departments d ON d.id = t.department "
    "LEFT JOIN services s ON s.id = t.service "
    "LEFT JOIN request_kinds k ON k.id = t.request_kind "
    "LEFT JOIN users b ON b.id = t.decided_by WHERE t.id = :ticket"
)


async def customer_departments(customer_id: int) -> list[dict[str, Any]]:
    """Departments open to customers, each with the customer's quota status under "quota"."""
    rows = await Department.select(
        Department.id, Department.slug, Department.name, Department.description,
        Department.free_tickets, Department.quota_period, Department.ticket_price,
        Department.currency,
    ).where(
        (Department.public == True) & (Department.active == True)  # noqa: E712
    ).order_by(Department.name)
    statuses = await quotas.quota_statuses(customer_id, rows)
    for row in rows:
        row["quota"] = statuses[row["id"]]
    return rows


async def customer_services(customer_id: int) -> list[dict[str, Any]]:
    """All the customer's services, whatever their status, by name; each with its `label`."""
    rows = await Service.select(
        Service.id, Service.external_id, Service.name, Service.kind, Service.status
    ).where(Service.customer == customer_id).order_by(Service.name).order_by(Service.id)
    for row in rows:
        row["label"] = service_label(row)
    return rows


SERVICE_STATUSES = {
    "active": tr("active"),
    "suspended": tr("suspended"),
    "cancelled": tr("cancelled"),
}


def service_label(service: dict[str, Any]) -> str:
    """A service as a person picks it: its name and its status ("VPS-1 · suspended")."""
    status = SERVICE_STATUSES.get(service["status"], service["status"])
    return tr("%(name)s · %(status)s", name=service["name"], status=status)
