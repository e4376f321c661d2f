"""The JSON API under /api/v1: the caller's identity, sessions, tokens and second factor
(the areas add their own controllers)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get
from litestar.params import FromPath
from litestar.status_codes import HTTP_204_NO_CONTENT

from billdesk import sessions, two_factor
from billdesk.auth import CurrentUser, requires_login
from billdesk.errors import NotFound
from billdesk.i18n import tr
from billdesk.tables import ApiToken
from billdesk.web.api.desk import rfc3339


class Me(msgspec.Struct):
    id: int
    email: str
    name: str
    role: str


class MeController(Controller):
    path = "/api/v1"
    tags = ["account"]
    guards = [requires_login]

    @get("/me")
    async def me(self, request: Request) -> Me:
        """The user the token belongs to."""
        user: CurrentUser = request.scope["user"]
        return Me(id=user.id, email=user.email, name=user.name, role=user.role)

    @get("/me/sessions")
    async def my_sessions(self, request: Request) -> dict[str, Any]:
        """The caller's signed-in browser sessions, most recently seen first."""
        user: CurrentUser = request.scope["user"]
        rows = await sessions.active_sessions(user.id)
        items = [
            {
                "id": row["id"],
                "device": row["device"],
                "ip": row["ip"],
                "created_at": rfc3339(row["created_at"]),
                "last_seen_at": rfc3339(row["last_seen_at"]),
            }
            for row in rows
        ]
        return {"items": items, "next_cursor": None}

    @delete("/me/sessions/{session_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def end_session(self, request: Request, session_id: FromPath[int]) -> None:
        """Sign one of the caller's browsers out (it is signed out on its next request)."""
        if not await sessions.revoke_session(request.scope["user"], session_id):
            raise NotFound(tr("There is no such session."))

    @get("/me/tokens")
    async def my_tokens(self, request: Request) -> dict[str, Any]:
        """The caller's API tokens (never their secrets), newest first."""
        user: CurrentUser = request.scope["user"]
        rows = await (
            ApiToken.select(
                ApiToken.id,
                ApiToken.name,
                ApiToken.prefix,
                ApiToken.read_only,
                ApiToken.created_at,
                ApiToken.last_used_at,
                ApiToken.revoked_at,
            )
            .where(ApiToken.user == user.id)
            .order_by(ApiToken.id, ascending=False)
            .limit(200)
        )
        for row in rows:
            for key in ("created_at", "last_used_at", "revoked_at"):
                row[key] = rfc3339(row[key])
        return {"items": rows, "next_cursor": None}

    @get("/me/two-factor")
    async def my_two_factor(self, request: Request) -> dict[str, Any]:
        """Whether the caller's second factor is on, and how many recovery codes are left."""
        user: CurrentUser = request.scope["user"]
        return await two_factor.status(user.id)
