"""Liveness and database reachability, for load balancers and monitors."""

from __future__ import annotations

import logging

from litestar import get
from litestar.response import File, Response

from billdesk.settings import resource_dir
from billdesk.tables import User

log = logging.getLogger("billdesk")


@get("/healthz", tags=["health"])
async def healthz() -> Response[dict[str, str]]:
    """Whether the app and its database answer: 200 `{"status": "ok"}`, 503 when the database is unreachable."""
    try:
        await User.select(User.id).limit(1)
    except Exception:
        log.exception("Health check: the database is unreachable")
        return Response({"status": "error", "database": "unreachable"}, status_code=503)
    return Response({"status": "ok", "database": "ok"})


@get("/favicon.ico", include_in_schema=False)
async def favicon() -> File:
    """The tab icon browsers ask for on their own, so their request does not end in a 404."""
    return File(
        path=resource_dir("static") / "favicon.ico",
        media_type="image/x-icon",
        content_disposition_type="inline",
        headers={"Cache-Control": "public, max-age=86400"},
    )
