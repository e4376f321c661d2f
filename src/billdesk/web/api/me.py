"""The JSON API under /api/v1: the caller's identity (the areas add their own controllers)."""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, get

from billdesk.auth import CurrentUser, requires_login


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
