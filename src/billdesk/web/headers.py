"""Security headers on every response, pages, API, files and errors alike.

The Content-Security-Policy allows scripts and styles from billdesk itself only
(the templates have no inline script or handler: behaviour lives in
static/js), and no page may be framed, so the Pay and Refund buttons cannot be
clicked through someone else's site. The API documentation page runs Swagger UI
(served from static/vendor) and gets a policy of its own: the viewer sets inline
styles as it renders.
"""

from __future__ import annotations

from functools import cache

from litestar.types import Message, Scope

from billdesk.settings import get_settings

DOCS_PATH = "/api/docs"

PAGE_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
    )
)
# Swagger UI sets inline styles as it renders; its start-up script is a file of ours.
DOCS_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
    )
)
HSTS = "max-age=31536000"


def security_headers(path: str, *, https: bool) -> dict[str, str]:
    """The headers every answer to `path` carries."""
    headers = {
        "Content-Security-Policy": DOCS_POLICY if path.startswith(DOCS_PATH) else PAGE_POLICY,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
    }
    if https:
        headers["Strict-Transport-Security"] = HSTS
    return headers


@cache
def _raw_headers(docs: bool, https: bool) -> tuple[frozenset[bytes], tuple[tuple[bytes, bytes], ...]]:
    """The headers of `security_headers` as the ASGI message carries them, and their names."""
    headers = security_headers(DOCS_PATH if docs else "/", https=https)
    raw = tuple(
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    )
    return frozenset(name for name, _ in raw), raw


async def add_security_headers(message: Message, scope: Scope) -> None:
    """The app's `before_send` hook: runs for every response, including routing errors.

    A header of the same name the handler set is replaced. The encoded headers are
    built once; only the choice between them is made per response."""
    if message["type"] != "http.response.start":
        return
    names, raw = _raw_headers(
        scope.get("path", "").startswith(DOCS_PATH),
        get_settings().base_url.startswith("https://"),
    )
    message["headers"] = [
        *(header for header in message.get("headers", ()) if header[0].lower() not in names),
        *raw,
    ]
