"""The bench's yardstick: a bare Litestar + asyncpg app answering billdesk's list pages
with billdesk's SQL (the statements billdesk sends, copied here) and the same JSON.

No ORM, no middleware, no templates: one pooled connection per request, SQL
prepared once per connection by asyncpg, msgspec for the answer. What billdesk adds
on top of this is its own cost; `bench/run.py` serves both side by side.

    DATABASE_URL=postgresql://… uvicorn --factory bench.reference_app:create_app --workers 2
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec
from litestar import Litestar, Request, Response, get

QUERIES = {"/api/v1/desk/tickets": 4, "/api/v1/tickets": 3, "/api/v1/finance/charges": 3}
"""Statements per request, as billdesk sends them for the same page."""

TOKEN = (
    'SELECT ALL "api_tokens$user"."id" AS "user.id", "api_tokens$user"."email" AS "user.email", '
    '"api_tokens$user"."name" AS "user.name", "api_tokens$user"."role" AS "user.role", '
    '"api_tokens$user"."active" AS "user.active", "api_tokens"."revoked_at" AS "revoked_at" '
    'FROM "api_tokens" LEFT JOIN "users" "api_tokens$user" '
    'ON ("api_tokens"."user" = "api_tokens$user"."id") '
    'WHERE "api_tokens"."token_hash" = $1 LIMIT 1'
)
MEMBER_OF = (
    'SELECT ALL "department_members"."department" AS "department" FROM "department_members" '
    'WHERE "department_members"."user" = $1'
)
QUEUE = (
    'SELECT ALL "tickets"."id" AS "id", "tickets"."subject" AS "subject", '
    '"tickets"."status" AS "status", "tickets"."priority" AS "priority", '
    '"tickets"."archived" AS "archived", "tickets"."created_at" AS "created_at", '
    '"tickets"."last_message_at" AS "last_message_at", '
    '"tickets"."last_author_role" AS "last_author_role", "tickets"."answers" AS "answers", '
    '"tickets"."unread_by_staff" AS "unread_by_staff", '
    '"tickets"."unread_by_customer" AS "unread_by_customer", '
    '"tickets$department"."id" AS "department.id", "tickets$department"."name" AS "department.name", '
    '"tickets$customer"."id" AS "customer.id", "tickets$customer"."name" AS "customer.name", '
    '"tickets$customer"."email" AS "customer.email", "tickets$assignee"."id" AS "assignee.id", '
    '"tickets$assignee"."name" AS "assignee.name", "tickets$service"."id" AS "service.id", '
    '"tickets$service"."name" AS "service.name", '
    '"tickets"."first_response_due_at" AS "first_response_due_at", '
    '"tickets"."first_response_at" AS "first_response_at", '
    '"tickets"."next_response_due_at" AS "next_response_due_at", '
    '"tickets"."resolution_due_at" AS "resolution_due_at", "tickets"."due_at" AS "due_at", '
    '"tickets"."due_kind" AS "due_kind", "tickets"."risk_at" AS "risk_at" FROM "tickets" '
    'LEFT JOIN "departments" "tickets$department" ON ("tickets"."department" = "tickets$department"."id") '
    'LEFT JOIN "users" "tickets$customer" ON ("tickets"."customer" = "tickets$customer"."id") '
    'LEFT JOIN "users" "tickets$assignee" ON ("tickets"."assignee" = "tickets$assignee"."id") '
    'LEFT JOIN "services" "tickets$service" ON ("tickets"."service" = "tickets$service"."id") '
    "WHERE ((\"tickets\".\"removed_at\" IS NULL AND tickets.status IN ('in_progress', 'waiting_for_reply')) "
    'AND "tickets"."department" IN ({ids})) '
    'ORDER BY "tickets"."last_message_at" DESC, "tickets"."id" DESC LIMIT 51'
)
OPEN_COUNTS = (
    'SELECT ALL "department_open_counts"."department" AS "department", '
    'SUM("department_open_counts"."open_tickets") AS "open" FROM "department_open_counts" '
    'WHERE "department_open_counts"."department" IN ({ids}) '
    'GROUP BY "department_open_counts"."department"'
)
CUSTOMER_TICKETS = (
    'SELECT ALL "tickets"."id" AS "id", "tickets"."subject" AS "subject", '
    '"tickets"."status" AS "status", "tickets"."archived" AS "archived", '
    '"tickets"."created_at" AS "created_at", "tickets"."last_message_at" AS "last_message_at", '
    '"tickets"."answers" AS "answers", "tickets"."unread_by_customer" AS "unread_by_customer", '
    '"tickets$department"."id" AS "department_id", "tickets$department"."name" AS "department_name", '
    '"tickets$service"."id" AS "service_id", "tickets$service"."name" AS "service_name" '
    'FROM "tickets" LEFT JOIN "departments" "tickets$department" '
    'ON ("tickets"."department" = "tickets$department"."id") '
    'LEFT JOIN "services" "tickets$service" ON ("tickets"."service" = "tickets$service"."id") '
    'WHERE (("tickets"."customer" = $1 AND "tickets"."removed_at" IS NULL) '
    'AND "tickets"."archived" = $2) '
    'ORDER BY "tickets"."last_message_at" DESC, "tickets"."id" DESC LIMIT 51'
)
CHARGES_OF = (
    'SELECT ALL "charges"."id" AS "id", "charges"."ticket" AS "ticket", '
    '"charges"."amount" AS "amount", "charges"."currency" AS "currency", '
    '"charges"."status" AS "status" FROM "charges" WHERE "charges"."ticket" IN ({ids})'
)
FINANCE = (
    'SELECT ALL "charges"."id" AS "id", "charges"."ticket" AS "ticket", '
    '"charges$customer"."id" AS "customer.id", "charges$customer"."name" AS "customer.name", '
    '"charges$customer"."email" AS "customer.email", "charges$department"."id" AS "department.id", '
    '"charges$department"."name" AS "department.name", "charges"."amount" AS "amount", '
    '"charges"."currency" AS "currency", "charges"."status" AS "status", '
    '"charges"."refunded_amount" AS "refunded_amount", '
    '"charges"."stripe_payment_intent_id" AS "stripe_payment_intent_id", '
    '"charges"."created_at" AS "created_at", "charges"."paid_at" AS "paid_at" FROM "charges" '
    'LEFT JOIN "users" "charges$customer" ON ("charges"."customer" = "charges$customer"."id") '
    'LEFT JOIN "departments" "charges$department" ON ("charges"."department" = "charges$department"."id") '
    'ORDER BY "charges"."created_at" DESC, "charges"."id" DESC LIMIT 51'
)
FINANCE_TOTALS = (
    # billdesk's totals without a date filter: the month totals its triggers keep.
    'SELECT ALL "charge_month_totals"."currency" AS "currency", '
    'SUM("charge_month_totals"."charged") AS "charged", '
    'SUM("charge_month_totals"."refunded") AS "refunded", '
    'SUM("charge_month_totals"."charges") AS "charges" FROM "charge_month_totals" '
    "WHERE \"charge_month_totals\".\"status\" IN ('succeeded', 'partially_refunded', 'refunded') "
    'GROUP BY "charge_month_totals"."currency"'
)


def _in(sql: str, count: int) -> str:
    """The statement with an IN list of `count` parameters, as Piccolo writes it."""
    return sql.replace("{ids}", ", ".join(f"${n}" for n in range(1, count + 1)))


def _time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _sla(row: Any) -> dict[str, Any]:
    """Where the nearest service-level deadline stands, as billdesk.sla.timers says it."""
    due, risk, now = row["due_at"], row["risk_at"], datetime.now(UTC)
    if due is None or due.year >= 9999:
        state, due = "ok", None
    elif due <= now:
        state = "breached"
    else:
        state = "at_risk" if risk is not None and risk <= now else "ok"
    return {"state": state, "due_at": _time(due), "target": row["due_kind"] or None}


def _ref(row: Any, prefix: str, *names: str) -> dict[str, Any] | None:
    if row[f"{prefix}.id"] is None:
        return None
    return {"id": row[f"{prefix}.id"], **{name: row[f"{prefix}.{name}"] for name in names}}


def _json(value: Any, status_code: int = 200) -> Response:
    return Response(
        content=msgspec.json.encode(value), status_code=status_code, media_type="application/json"
    )


async def _caller(request: Request, connection: Any) -> Any:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    row = await connection.fetchrow(TOKEN, hashlib.sha256(secret.strip().encode()).hexdigest())
    if row is None or row["revoked_at"] is not None or not row["user.active"]:
        return None
    return row


@get("/api/v1/desk/tickets")
async def desk_tickets(request: Request) -> Response:
    async with request.app.state.pool.acquire() as connection:
        user = await _caller(request, connection)
        if user is None or user["user.role"] not in ("staff", "admin"):
            return _json({"status": 403}, 403)
        departments = [
            row["department"] for row in await connection.fetch(MEMBER_OF, user["user.id"])
        ]
        rows = await connection.fetch(_in(QUEUE, len(departments)), *departments)
        counts = await connection.fetch(_in(OPEN_COUNTS, len(departments)), *departments)
    items = [
        {
            "id": row["id"],
            "subject": row["subject"],
            "status": row["status"],
            "priority": row["priority"],
            "archived": row["archived"],
            "department": _ref(row, "department", "name"),
            "customer": _ref(row, "customer", "name", "email"),
            "assignee": _ref(row, "assignee", "name"),
            "service": _ref(row, "service", "name"),
            "created_at": _time(row["created_at"]),
            "last_message_at": _time(row["last_message_at"]),
            "last_author_role": row["last_author_role"],
            "answers": row["answers"],
            "unread": row["unread_by_staff"],
            "first_response_due_at": _time(row["first_response_due_at"]),
            "first_response_at": _time(row["first_response_at"]),
            "next_response_due_at": _time(row["next_response_due_at"]),
            "resolution_due_at": _time(row["resolution_due_at"]),
            "sla": _sla(row),
        }
        for row in rows[:50]
    ]
    more = len(rows) > 50
    return _json(
        {
            "items": items,
            "next_cursor": "next" if more else None,
            "total": sum(int(row["open"]) for row in counts),
            "total_capped": False,
        }
    )


@get("/api/v1/tickets")
async def customer_tickets(request: Request) -> Response:
    async with request.app.state.pool.acquire() as connection:
        user = await _caller(request, connection)
        if user is None or user["user.role"] != "customer":
            return _json({"status": 403}, 403)
        rows = await connection.fetch(CUSTOMER_TICKETS, user["user.id"], False)
        page = rows[:50]
        ids = [row["id"] for row in page]
        charges = (
            {row["ticket"]: row for row in await connection.fetch(_in(CHARGES_OF, len(ids)), *ids)}
            if ids
            else {}
        )
    items = []
    for row in page:
        charge = charges.get(row["id"])
        items.append(
            {
                "id": row["id"],
                "subject": row["subject"],
                "status": row["status"],
                "archived": row["archived"],
                "department": {"id": row["department_id"], "name": row["department_name"]},
                "service": {"id": row["service_id"], "name": row["service_name"]}
                if row["service_id"]
                else None,
                "created_at": _time(row["created_at"]),
                "last_message_at": _time(row["last_message_at"]),
                "answers": row["answers"],
                "unread": row["unread_by_customer"],
                "charge": {key: charge[key] for key in ("id", "amount", "currency", "status")}
                if charge
                else None,
            }
        )
    return _json({"items": items, "next_cursor": "next" if len(rows) > 50 else None})


@get("/api/v1/finance/charges")
async def finance_charges(request: Request) -> Response:
    async with request.app.state.pool.acquire() as connection:
        user = await _caller(request, connection)
        if user is None or user["user.role"] not in ("finance", "admin"):
            return _json({"status": 403}, 403)
        rows = await connection.fetch(FINANCE)
        totals = await connection.fetch(FINANCE_TOTALS)
    items = [
        {
            "id": row["id"],
            "ticket_id": row["ticket"],
            "customer": _ref(row, "customer", "name", "email"),
            "department": _ref(row, "department", "name"),
            "amount": row["amount"],
            "currency": row["currency"],
            "status": row["status"],
            "refunded_amount": row["refunded_amount"],
            "stripe_payment_intent_id": row["stripe_payment_intent_id"],
            "created_at": _time(row["created_at"]),
            "paid_at": _time(row["paid_at"]),
        }
        for row in rows[:50]
    ]
    return _json(
        {
            "items": items,
            "next_cursor": "next" if len(rows) > 50 else None,
            "totals": [
                {
                    "currency": row["currency"],
                    "charged": int(row["charged"]),
                    "refunded": int(row["refunded"]),
                    "net": int(row["charged"]) - int(row["refunded"]),
                }
                for row in totals
            ],
        }
    )


async def _open(app: Litestar) -> None:
    app.state.pool = await asyncpg.create_pool(
        dsn=os.environ["DATABASE_URL"],
        min_size=1,
        max_size=int(os.environ.get("BILLDESK_DB_POOL_SIZE", "10")),
    )


async def _close(app: Litestar) -> None:
    await app.state.pool.close()


def create_app() -> Litestar:
    return Litestar(
        route_handlers=[desk_tickets, customer_tickets, finance_charges],
        on_startup=[_open],
        on_shutdown=[_close],
        logging_config=None,
    )
