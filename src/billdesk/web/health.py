"""Liveness and database reachability, for load balancers and monitors."""

from __future__ import annotations

import logging

from litestar import get
from litestar.response import Response

from billdesk.tables import User

log = logging.getLogger("billdesk")


@get("/healthz", tags=["health"])
async def healthz() -> Response[dict[str, str]]:
    try:
        await User.select(User.id).limit(1)
    except Exception:
        log.exception("Health check: the database is unreachable")
        return Response({"status": "error", "database": "unreachable"}, status_code=503)
    return Response({"status": "ok", "database": "ok"})
