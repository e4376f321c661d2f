"""The bench's yardstick: a bare Litestar + asyncpg app answering billdesk's list pages
with billdesk's SQL (the statements billdesk sends, copied here) and the same answer.

The JSON pages: no ORM, no middleware, no templates: one pooled connection per
request, SQL prepared once per connection by asyncpg, msgspec for the answer.

The staff queue page, `/desk`: the same cookie session, the same eight statements
(the session, the user's departments with their open counts, the queue's change
stamp, 50 + 1 rows, their tags, the colleagues, every tag, the unread
notifications) and the same page: the navigation with the departments' badges,
the filter form with its options, the bulk-action form and a row of ten columns
per ticket, within a few per cent of billdesk's bytes. It is plain Jinja2 (autoescape
on, the template compiled once at import) rendering English text straight from the
template. What it leaves out, so that a reader can judge the comparison:
  - translation: no gettext, no per-person language, no `Accept-Language`;
  - the middleware: no CSRF middleware (the two forms get a signed token made in
    the handler), no security headers, no input guard, no audit context, no
    per-request connection wrapper, no flashes, no support notice;
  - the queue's filters: it answers the default queue (open tickets of the user's
    departments, soonest due first, first page) whatever the query says, and shows
    an admin only the departments they are a member of;
  - error pages: anything but a signed-in staff member or admin gets a bare 403.
What billdesk adds on top of this is its own cost; `bench/run.py` serves both side
by side.

    DATABASE_URL=postgresql://… uvicorn --factory bench.reference_app:create_app --workers 2
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from litestar import Litestar, MediaType, Request, Response, get

QUERIES = {
    "/api/v1/desk/tickets": 4,
    "/api/v1/tickets": 3,
    "/api/v1/finance/charges": 3,
    "/desk": 8,
}
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
# ---------------------------------------------------------------- the staff queue page
# billdesk's statements for GET /desk, in the order it sends them (billdesk.sessions,
# billdesk.queues, billdesk.queue_changes, billdesk.tags, billdesk.web.desk,
# billdesk.navigation).

SESSION = (
    'SELECT s.id, s.stage, s.expires_at, s.last_seen_at, u.id AS "user.id", '
    'u.email AS "user.email", u.name AS "user.name", u.role AS "user.role", '
    'u.language AS "user.language", u.time_zone AS "user.time_zone", u.active AS "user.active" '
    'FROM sessions s JOIN users u ON u.id = s."user" WHERE s.token_hash = $1'
)
TOUCH_SESSION = "UPDATE sessions SET last_seen_at = $1 WHERE id = $2"
MEMBER_DEPARTMENTS = (
    "SELECT id, name, active, (SELECT SUM(open_tickets) FROM department_open_counts "
    'WHERE department = departments.id) AS "open" FROM departments '
    'WHERE id IN (SELECT department FROM department_members WHERE "user" = $1) ORDER BY name'
)
QUEUE_STAMP = (
    "SELECT SUM(changes) AS changes FROM department_queue_changes WHERE department IN ({ids})"
)
DESK_QUEUE = """SELECT tickets.id, tickets.subject, tickets.status, tickets.priority,
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
LEFT JOIN users decided_by ON decided_by.id = tickets.decided_by
WHERE tickets.removed_at IS NULL AND tickets.status IN ('in_progress', 'waiting_for_reply') AND tickets.department IN ({ids})
ORDER BY tickets.due_at ASC, tickets.id ASC LIMIT 51"""
TAGS_OF = (
    "SELECT ticket_tags.ticket, tags.id, tags.name, tags.colour FROM ticket_tags "
    "LEFT JOIN tags ON tags.id = ticket_tags.tag WHERE ticket_tags.ticket IN ({ids}) "
    "ORDER BY tags.name_key"
)
TAGS_OF_SIZES = (1, 10, 25, 51, 101)
"""billdesk pads the IN list of a page's ids to one of these lengths, the last id repeated."""
COLLEAGUES = (
    "SELECT id, name FROM users WHERE role IN ('staff', 'admin') AND active = $1 "
    'AND id IN (SELECT "user" FROM department_members WHERE department IN '
    '(SELECT department FROM department_members WHERE "user" = $2)) ORDER BY name'
)
EVERY_TAG = "SELECT id, name, colour FROM tags ORDER BY name_key LIMIT 500"
UNREAD_NOTIFICATIONS = 'SELECT COUNT(*) AS n FROM notifications WHERE "user" = $1 AND "read" = $2'


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


DESK_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="color-scheme" content="light dark">
  <title>Queue · billdesk</title>
  <link rel="icon" href="/favicon.ico">
  <link rel="stylesheet" href="/static/css/billdesk.css">
  <script src="/static/js/billdesk.js" defer></script>
</head>
<body class="role-{{ user['user.role'] }}">
  <a class="skip-link" href="#main">Skip to content</a>
  <header class="topbar">
    <div class="topbar__inner">
      <a class="brand" href="/desk"><span class="brand__mark" aria-hidden="true"></span>billdesk</a>
      <div class="topbar__user">
        <span class="user-chip">
          <span class="user-chip__name">{{ user['user.name'] }}</span>
          <span class="user-chip__role">{{ user['user.role'] }}</span>
        </span>
        <form class="logout-form" method="post" action="/logout">
          <input type="hidden" name="_csrf_token" value="{{ csrf }}" />
          <button type="submit" class="btn btn--topbar">Log out<span class="visually-hidden"> {{ user['user.name'] }}</span></button>
        </form>
      </div>
    </div>
  </header>
  <div class="shell">
    <nav class="sidebar" aria-label="Main">
      <ul class="nav">
        <li class="nav__item">
          <a class="nav__link" href="/desk" aria-current="page">
            <span class="nav__label">Queue</span>
          </a>
          <ul class="nav__sub" aria-label="Departments" data-live-counts="/desk/live" data-live-seconds="10.0" data-open-label="open">
          {%- for d in departments if d["active"] %}
            <li class="nav__item" data-department-id="{{ d['id'] }}">
              <a class="nav__link nav__link--sub" href="/desk?department={{ d['id'] }}" title="{{ d['name'] }}">
                <span class="nav__label">{{ d['name'] }}</span>
                {%- if d['open'] %}
                <span class="badge badge--alert">{{ d['open'] }}<span class="visually-hidden"> open</span></span>
                {%- endif %}
              </a>
            </li>
          {%- endfor %}
          </ul>
        </li>
        <li class="nav__item"><a class="nav__link" href="/desk/reports"><span class="nav__label">Reports</span></a></li>
        <li class="nav__item"><a class="nav__link" href="/desk/templates"><span class="nav__label">Templates</span></a></li>
        <li class="nav__item">
          <a class="nav__link" href="/notifications">
            <span class="nav__label">Notifications</span>
            {%- if unread %}
            <span class="badge badge--alert">{{ unread }}<span class="visually-hidden"> unread</span></span>
            {%- endif %}
          </a>
        </li>
        <li class="nav__item"><a class="nav__link" href="/account"><span class="nav__label">Account</span></a></li>
      </ul>
    </nav>
    <main id="main" class="main" tabindex="-1">
<header class="page-header"><h1>Queue</h1> <a class="btn btn--secondary btn--small" href="/desk/tickets/new">New ticket for a customer</a></header>
{%- macro text_field(name, label, type="text", attrs="") %}
  <div class="field">
    <label class="field__label" for="f-{{ name }}">{{ label }}</label>
    <input class="input" type="{{ type }}" id="f-{{ name }}" name="{{ name }}"
      {%- if chosen[name] %} value="{{ chosen[name] }}"{% endif %} {{ attrs | safe }}>
  </div>
{%- endmacro %}
{%- macro choice(name, label, options, placeholder=none) %}
  <div class="field">
    <label class="field__label" for="f-{{ name }}">{{ label }}</label>
    <select class="input input--select" id="f-{{ name }}" name="{{ name }}">
      {%- if placeholder is not none %}
      <option value="">{{ placeholder }}</option>
      {%- endif %}
      {%- for value, text in options %}
      <option value="{{ value }}"{% if value | string == chosen[name] %} selected{% endif %}>{{ text }}</option>
      {%- endfor %}
    </select>
  </div>
{%- endmacro %}
<details class="filters" open data-fold-on-phone>
<summary class="filters__summary">Filters</summary>
<form class="toolbar card" method="get" action="/desk" aria-label="Filter the queue">
  {{- text_field("id", "Ticket #", attrs='inputmode="numeric" size="6"') }}
  {{- choice("status", "Status", status_choices) }}
  {{- choice("department", "Department", department_options, "All my departments") }}
  {{- choice("assignee", "Assignee", assignee_options, "Anyone") }}
  {{- text_field("customer", "Customer", "search", 'placeholder="name or e-mail" list="customer-options" autocomplete="off" data-customer-picker="/desk/customers"') }}
  <datalist id="customer-options"></datalist>
  {{- text_field("service", "Service id", attrs='inputmode="numeric" size="6"') }}
  {{- text_field("q", "Search", "search", 'placeholder="words, &quot;a phrase&quot;, pref*, #1042" data-search-box=""') }}
  {{- choice("priority", "Priority", priority_choices, "Any") }}
  {{- choice("sla", "Service level", sla_choices, "Any") }}
  {%- if tag_options %}{{ choice("tag", "Tag", tag_options, "Any") }}{% endif %}
  {{- choice("type", "Type", type_choices, "Tickets and requests") }}
  {{- choice("request_state", "Request", request_state_choices, "Any state") }}
  {{- choice("sort", "Sort by", sort_choices) }}
  <button type="submit" class="btn btn--secondary">Filter</button>
</form>
</details>
<p class="live-note" data-live-note role="status" aria-live="polite"></p>
<div class="queue-results" data-queue-results data-live-rows="{{ live_rows_url }}" data-live-version="{{ live_version }}">
<div data-live-fragment data-note="">
{%- if tickets %}
<form method="post" action="/desk/bulk" id="bulk-form">
  <input type="hidden" name="_csrf_token" value="{{ csrf }}" />
  {%- for key, value in chosen.items() %}
  <input type="hidden" name="filter_{{ key }}" value="{{ value }}">
  {%- endfor %}
  <div class="bulk-bar" role="group" aria-label="Bulk actions">
    <span class="bulk-bar__count" data-selected-count="ids" data-selected-text="{n} selected">0 selected</span>
    <label class="visually-hidden" for="f-action">Action</label>
    <select class="input input--select" id="f-action" name="action">
      <option value="close">Close</option>
      <option value="assign">Assign to…</option>
      <option value="remove" data-confirm="Move the selected tickets to the trash? An administrator can restore them.">Move to trash</option>
      <option value="approve">Approve requests</option>
      <option value="reject">Reject requests</option>
      {%- if tag_options %}
      <option value="add_tag">Add tag</option>
      <option value="remove_tag">Remove tag</option>
      {%- endif %}
    </select>
    <label class="visually-hidden" for="f-bulk-assignee">Assign to</label>
    <select class="input input--select" id="f-bulk-assignee" name="assignee_id">
      <option value="">(for Assign) choose…</option>
      <option value="{{ user['user.id'] }}">Me</option>
      {%- for c in colleagues if c['id'] != user['user.id'] %}
      <option value="{{ c['id'] }}">{{ c['name'] }}</option>
      {%- endfor %}
    </select>
    <label class="visually-hidden" for="f-bulk-reason">Reason shown to the customer</label>
    {%- if tag_options %}
    <label class="visually-hidden" for="f-bulk-tag">Tag</label>
    <select class="input input--select" id="f-bulk-tag" name="tag_id">
      <option value="">(for a tag) choose…</option>
      {%- for value, text in tag_options %}
      <option value="{{ value }}">{{ text }}</option>
      {%- endfor %}
    </select>
    {%- endif %}
    <input class="input" id="f-bulk-reason" name="reason" maxlength="2000" placeholder="(for Approve/Reject) reason, optional">
    <button type="submit" class="btn btn--secondary btn--small">Apply to selected</button>
  </div>
  <div class="table-wrap"><table class="queue">
    <thead><tr>
      <th class="check"><input type="checkbox" data-select-all="ids" aria-label="Select all tickets on this page"></th>
      <th>#</th><th>Subject</th><th>Status</th><th>Priority</th><th>Department</th><th>Customer</th><th>Assignee</th><th>Due</th><th>Last activity</th>
    </tr></thead>
    <tbody>
    {%- for t in tickets %}
      {%- set sla = t["sla"] %}
      <tr data-ticket-id="{{ t['id'] }}"{% if t['unread_by_staff'] %} class="unread"{% endif %} data-sla="{{ sla[0] }}">
        <td class="check"><input type="checkbox" name="ids" value="{{ t['id'] }}" aria-label="Select ticket #{{ t['id'] }}"></td>
        <td>#{{ t['id'] }}</td>
        <td>{% if t['type'] == "request" %}<span class="badge">Request · {{ t['request_state'] }}</span> {% endif %}<a href="/desk/tickets/{{ t['id'] }}">{{ t['subject'] }}</a>
          {%- if t['tags'] %} <span class="tags" aria-label="Tags">{% for tag in t['tags'] %}<span class="tag tag--{{ tag['colour'][1:] }}">{{ tag['name'] }}</span>{% endfor %}</span>{% endif %}
          {%- if t['unread_by_staff'] %} <span class="badge badge--alert">new<span class="visually-hidden"> customer message</span></span>{% endif %}</td>
        {%- set status = "new" if t['status'] == "in_progress" and t['unread_by_staff'] and not t['answers'] else t['status'] %}
        <td><span class="status status--{{ status }}">{{ status_labels.get(status, status) }}</span></td>
        <td><span class="priority priority--{{ t['priority'] }}">{{ priority_labels.get(t['priority'], t['priority']) }}</span></td>
        <td>{{ t["department.name"] }}</td>
        <td>{{ t["customer.name"] }}</td>
        <td>{{ t["assignee.name"] or "—" }}</td>
        <td class="due">{% if sla[1] %}<time datetime="{{ sla[1].isoformat() }}">{{ sla[1] | when }}</time>
          {%- if sla[0] == "breached" %} <span class="badge badge--alert">overdue</span>
          {%- elif sla[0] == "at_risk" %} <span class="badge badge--warning">at risk</span>{% endif %}
          {%- else %}—{% endif %}</td>
        <td><time datetime="{{ t['last_message_at'].isoformat() }}">{{ t['last_message_at'] | when }}</time></td>
      </tr>
    {%- endfor %}
    </tbody>
  </table></div>
</form>
  <nav class="pagination" aria-label="Pagination">
    <div class="pagination__info">{{ total }} ticket{% if total != 1 %}s{% endif %}</div>
    <div class="pagination__links">
      <span class="btn btn--secondary btn--small is-disabled" aria-disabled="true">&lsaquo; Previous</span>
      {%- if next_url %}
      <a class="btn btn--secondary btn--small" href="{{ next_url }}" rel="next">Next &rsaquo;</a>
      {%- else %}
      <span class="btn btn--secondary btn--small is-disabled" aria-disabled="true">Next &rsaquo;</span>
      {%- endif %}
    </div>
  </nav>
{%- elif departments %}
<p class="empty">No tickets match these filters.</p>
{%- else %}
<p class="empty">You are not a member of any department yet. Ask an administrator to add you.</p>
{%- endif %}
</div>
</div>
    </main>
  </div>
  <footer class="footer">
    <div class="footer__inner">
      <span>billdesk</span>
      <span class="footer__zone">Times are shown in {{ zone }} · <a href="/account#time-zone">change</a></span>
    </div>
  </footer>
  <dialog class="keys-help" data-keys-help aria-label="Keyboard shortcuts">
  <h2>Keyboard shortcuts</h2>
  <dl class="kv">
    <dt><kbd>j</kbd> / <kbd>k</kbd></dt><dd>next / previous ticket in the queue</dd>
    <dt><kbd>Enter</kbd></dt><dd>open the chosen ticket</dd>
    <dt><kbd>r</kbd></dt><dd>reply (on a ticket)</dd>
    <dt><kbd>/</kbd></dt><dd>search</dd>
    <dt><kbd>?</kbd></dt><dd>show or hide this list</dd>
  </dl>
  <form method="dialog"><button class="btn btn--secondary" type="submit">Close</button></form>
</dialog><script src="/static/js/desk.js" defer></script>
</body>
</html>
"""
"""billdesk's base.html, desk/queue.html and desk/_queue_results.html as they render for
a staff member in English, written out as one template."""

STATUS_LABELS = {
    "new": "New",
    "in_progress": "In progress",
    "waiting_for_reply": "Waiting for customer",
    "solved": "Solved",
}
PRIORITY_LABELS = {"low": "Low", "normal": "Normal", "high": "High", "urgent": "Urgent"}
FILTER_CHOICES = {
    "status_choices": [
        ("open", "Open (in progress and waiting)"),
        ("in_progress", "In progress"),
        ("waiting_for_reply", "Waiting for customer"),
        ("solved", "Solved"),
    ],
    "sort_choices": [
        ("due_at", "Due soonest"),
        ("priority", "Priority"),
        ("last_message_at", "Last activity"),
        ("created_at", "Created"),
    ],
    "sla_choices": [("breached", "Overdue"), ("at_risk", "At risk")],
    "priority_choices": list(PRIORITY_LABELS.items()),
    "type_choices": [("ticket", "Tickets"), ("request", "Requests")],
    "request_state_choices": [
        ("pending", "Pending"),
        ("approved", "Approved"),
        ("rejected", "Rejected"),
    ],
}
DEFAULT_QUEUE = {
    "id": "",
    "department": "",
    "status": "open",
    "customer": "",
    "assignee": "",
    "service": "",
    "q": "",
    "sort": "due_at",
    "sla": "",
    "priority": "",
    "type": "",
    "request_state": "",
    "tag": "",
}
"""The filters of the default queue, as the page echoes them."""
SECRET = os.environ.get("BILLDESK_SECRET_KEY", "bench-secret-key-not-for-production")
NEVER = datetime(9999, 1, 1, tzinfo=UTC)
IDLE = timedelta(minutes=480)
TOUCH_EVERY = timedelta(minutes=1)


@pass_context
def _when(context: Context, moment: datetime) -> str:
    """A moment on the clocks of the page's time zone: '2026-11-27 10:15'."""
    return moment.astimezone(context["time_zone"]).strftime("%Y-%m-%d %H:%M")


_templates = Environment(autoescape=True)
_templates.filters["when"] = _when
_desk_page = _templates.from_string(DESK_PAGE)


def _sla_state(row: Any, now: datetime) -> tuple[str, datetime | None]:
    due, risk = row["due_at"], row["risk_at"]
    if due is None or due >= NEVER:
        return "ok", None
    if due <= now:
        return "breached", due
    return ("at_risk" if risk is not None and risk <= now else "ok"), due


def _cursor(sort_value: datetime, row_id: int) -> str:
    raw = json.dumps([{"t": sort_value.isoformat()}, row_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _csrf_token(session_cookie: str) -> str:
    binding = "session:" + hashlib.sha256(session_cookie.encode()).hexdigest()
    nonce = secrets.token_hex(16)
    signature = hmac.new(SECRET.encode(), f"{binding}\n{nonce}".encode(), hashlib.sha256)
    return nonce + signature.hexdigest()


async def _session_user(connection: Any, cookie: str) -> Any:
    """The signed-in user of the session cookie, as billdesk.sessions.session_for finds it."""
    if not cookie or len(cookie) > 100:
        return None
    row = await connection.fetchrow(SESSION, hashlib.sha256(cookie.encode()).hexdigest())
    now = datetime.now(UTC)
    if row is None or not row["user.active"] or row["expires_at"] <= now or row["stage"] != "":
        return None
    if row["last_seen_at"] + IDLE <= now:
        return None
    if row["last_seen_at"] + TOUCH_EVERY <= now:
        await connection.execute(TOUCH_SESSION, now, row["id"])
    return row


@get("/desk", media_type=MediaType.HTML)
async def desk(request: Request) -> Response:
    cookie = request.cookies.get("billdesk_session", "")
    async with request.app.state.pool.acquire() as connection:
        user = await _session_user(connection, cookie)
        if user is None or user["user.role"] not in ("staff", "admin"):
            return Response("", status_code=403)
        departments = await connection.fetch(MEMBER_DEPARTMENTS, user["user.id"])
        ids = [row["id"] for row in departments]
        stamp = await connection.fetchval(_in(QUEUE_STAMP, len(ids)), *ids) if ids else 0
        rows = await connection.fetch(_in(DESK_QUEUE, len(ids)), *ids) if ids else []
        page = [dict(row) for row in rows[:50]]
        if page:
            size = next(size for size in TAGS_OF_SIZES if size >= len(page))
            shown = [row["id"] for row in page]
            shown += shown[-1:] * (size - len(shown))
            tags_of: dict[int, list[Any]] = {}
            for tag in await connection.fetch(_in(TAGS_OF, size), *shown):
                tags_of.setdefault(tag["ticket"], []).append(tag)
        colleagues = await connection.fetch(COLLEAGUES, True, user["user.id"])
        every_tag = await connection.fetch(EVERY_TAG)
        unread = await connection.fetchval(UNREAD_NOTIFICATIONS, user["user.id"], False)
    zone = user["user.time_zone"] or "UTC"
    now = datetime.now(UTC)
    for row in page:
        row["tags"] = tags_of.get(row["id"], [])
        row["sla"] = _sla_state(row, now)
    next_url = None
    if len(rows) > 50:
        cursor = _cursor(page[-1]["due_at"], page[-1]["id"])
        next_url = "/desk?" + urlencode({"status": "open", "sort": "due_at", "cursor": cursor})
    worked = ",".join(str(department) for department in sorted(ids))
    html = _desk_page.render(
        user=user,
        csrf=_csrf_token(cookie),
        departments=departments,
        unread=unread,
        chosen=DEFAULT_QUEUE,
        department_options=[(row["id"], row["name"]) for row in departments],
        assignee_options=[("me", "Me"), ("none", "Nobody")]
        + [(row["id"], row["name"]) for row in colleagues],
        tag_options=[(row["id"], row["name"]) for row in every_tag],
        colleagues=colleagues,
        tickets=page,
        total=sum(int(row["open"] or 0) for row in departments),
        next_url=next_url,
        live_rows_url="/desk/rows?status=open&sort=due_at&page=1",
        live_version=f"{int(stamp or 0)}.{zlib.crc32(worked.encode()):x}",
        status_labels=STATUS_LABELS,
        priority_labels=PRIORITY_LABELS,
        zone=zone,
        time_zone=ZoneInfo(zone),
        **FILTER_CHOICES,
    )
    return Response(html, media_type=MediaType.HTML, headers={"Cache-Control": "no-store"})


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
        route_handlers=[desk_tickets, customer_tickets, finance_charges, desk],
        on_startup=[_open],
        on_shutdown=[_close],
        logging_config=None,
    )
