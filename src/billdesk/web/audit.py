"""The audit log, read only: `/admin/audit` and `GET /api/v1/admin/audit`.

Admins see every entry; finance sees the money entries (refunds, reconcile, price
and quota changes). There is no route that changes or deletes an entry.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import QueryParameter
from litestar.response import Template

from billdesk import audit
from billdesk.auth import CurrentUser, requires_finance
from billdesk.tables import AuditEntry
from billdesk.web.api.desk import rfc3339
from billdesk.web.layout import render
from billdesk.web.paging import keyset_page, page, parse_limit
from billdesk.web.params import CursorQuery, LimitQuery

Text = Annotated[str | None, QueryParameter(required=False, max_length=254)]
PersonQuery = Annotated[
    str | None,
    QueryParameter(required=False, max_length=254, description="An email or a user id."),
]
FromDate = Annotated[
    str | None,
    QueryParameter(name="from", required=False, max_length=40, description="A date, 2026-11-27."),
]
ToDate = Annotated[
    str | None,
    QueryParameter(name="to", required=False, max_length=40, description="A date, inclusive."),
]


async def _search(
    user: CurrentUser,
    *,
    person: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
    limit: int | None,
    cursor: str | None,
) -> tuple[audit.AuditFilters, list[dict[str, Any]], str | None]:
    filters = audit.parse_filters(
        person=person, action=action, since=since, until=until, money_only=not user.is_admin
    )
    rows, next_cursor = await keyset_page(
        await audit.entries_query(filters),
        sort=AuditEntry.created_at,
        id_column=AuditEntry.id,
        limit=parse_limit(limit),
        cursor=cursor,
    )
    return filters, [audit.entry_out(row) for row in rows], next_cursor


class AuditController(Controller):
    path = "/admin/audit"
    tags = ["admin"]
    include_in_schema = False
    guards = [requires_finance]

    @get("/")
    async def audit_page(
        self,
        request: Request,
        person: PersonQuery = None,
        action: Text = None,
        since: FromDate = None,
        to: ToDate = None,
        cursor: CursorQuery = None,
    ) -> Template:
        user: CurrentUser = request.scope["user"]
        typed = {
            "person": person or "",
            "action": action or "",
            "from": since or "",
            "to": to or "",
        }
        filters, items, next_cursor = await _search(
            user, person=person, action=action, since=since, until=to, limit=50, cursor=cursor
        )
        actions = [
            (name, label)
            for name, label in audit.ACTIONS.items()
            if user.is_admin or name in audit.MONEY_ACTIONS
        ]
        return await render(
            request,
            "admin/audit.html",
            {
                "entries": items,
                "next_cursor": next_cursor,
                "typed": typed,
                "action_options": actions,
                "money_only": filters.money_only,
            },
            active="admin_audit",
        )


class AuditApiController(Controller):
    path = "/api/v1/admin/audit"
    tags = ["admin"]
    guards = [requires_finance]

    @get("/")
    async def list_entries(
        self,
        request: Request,
        person: PersonQuery = None,
        action: Text = None,
        since: FromDate = None,
        to: ToDate = None,
        limit: LimitQuery = None,
        cursor: CursorQuery = None,
    ) -> dict[str, Any]:
        """The audit log, newest first; filters `person` (email or id), `action` (e.g.
        `login.failed`, or `login` for the family), `from` and `to` (dates, inclusive).
        Finance sees the money entries only."""
        user: CurrentUser = request.scope["user"]
        _, items, next_cursor = await _search(
            user,
            person=person,
            action=action,
            since=since,
            until=to,
            limit=limit,
            cursor=cursor,
        )
        for item in items:
            item["at"] = rfc3339(item["at"])
        return page(items, next_cursor)
