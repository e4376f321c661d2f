"""One guard for the shape of every request, before any handler reads it.

Whatever the route, a request is refused with a 4xx naming the field at fault
when it carries:

- a path id outside the database's integer range (404: no such row can exist);
- a NUL character in the path, a query parameter, a form field (urlencoded or
  the text parts of a multipart form) or a JSON string or key (422);
- a JSON integer outside the database's integer range (422);
- JSON nested deeper than MAX_DEPTH (422);
- a body other than a multipart upload larger than MAX_BODY_BYTES (413).

Multipart uploads keep the app's own limit (attachments). The Stripe webhook is
left alone: its raw bytes are what the signature covers; so is the Telegram
webhook, whose secret header is checked first and whose chat ids do not fit
32 bits. The body read here is
kept by Litestar for the handler, so nothing is read twice.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType, ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from billdesk.errors import NotFound, PayloadTooLarge, ValidationFailed
from billdesk.i18n import tr
from billdesk.validation import MAX_ID, MAX_INT, MIN_INT, has_nul

MAX_BODY_BYTES = 1024 * 1024
MAX_DEPTH = 16
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORMS = (RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART)


def _nul(field: str) -> ValidationFailed:
    return ValidationFailed.field(
        field, tr("%(field)s contains a NUL character, which is not allowed.", field=field)
    )


def check_path_params(params: dict[str, Any]) -> None:
    for name, value in params.items():
        if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= MAX_ID:
            raise NotFound(
                tr("There is nothing with this id."),
                errors={
                    name: tr(
                        "%(field)s must be a whole number from %(low)s to %(high)s.",
                        field=name,
                        low=1,
                        high=MAX_ID,
                    )
                },
            )
        if isinstance(value, str) and has_nul(value):
            raise _nul(name)


def check_query(query_string: bytes) -> None:
    if not query_string:
        return
    text = query_string.decode("latin-1")
    if "\x00" not in text and "%00" not in text:
        return
    for key, value in parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace"):
        if has_nul(key) or has_nul(value):
            raise _nul(key.replace("\x00", "") or "query")


def _join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def check_json(value: Any, field: str = "", depth: int = 0) -> None:
    """Walk a decoded JSON document; the first NUL, out-of-range integer or excess depth is refused."""
    if depth > MAX_DEPTH:
        raise ValidationFailed.field(
            field or "body", tr("The JSON is nested more than %(num)s levels deep.", num=MAX_DEPTH)
        )
    if isinstance(value, str):
        if has_nul(value):
            raise _nul(field or "body")
    elif isinstance(value, bool) or value is None or isinstance(value, float):
        return
    elif isinstance(value, int):
        if not MIN_INT <= value <= MAX_INT:
            name = field or "body"
            raise ValidationFailed.field(
                name,
                tr(
                    "%(field)s is outside the range of whole numbers billdesk stores "
                    "(%(low)s to %(high)s).",
                    field=name,
                    low=MIN_INT,
                    high=MAX_INT,
                ),
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            if has_nul(key):
                raise _nul(_join(field, key.replace("\x00", "")) or "body")
            check_json(item, _join(field, key), depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_json(item, field, depth + 1)


def _too_large() -> PayloadTooLarge:
    limit = f"{MAX_BODY_BYTES // 1024} KiB"
    return PayloadTooLarge(
        tr("The request body is larger than %(limit)s.", limit=limit),
        errors={"body": tr("Send at most %(limit)s (files go in a multipart upload).", limit=limit)},
    )


async def check_body(scope: Scope, receive: Receive) -> None:
    request = scope["litestar_app"].request_class(scope=scope, receive=receive)
    content_type, _ = request.content_type
    if content_type == RequestEncodingType.MULTI_PART:
        form = await request.form()
        for key, value in form.multi_items():
            if has_nul(key):
                raise _nul(key.replace("\x00", "") or "body")
            if not isinstance(value, UploadFile) and has_nul(str(value)):
                raise _nul(key)
        return
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise _too_large()
    if content_type == RequestEncodingType.URL_ENCODED:
        for key, value in (await request.form()).multi_items():
            if has_nul(key):
                raise _nul(key.replace("\x00", "") or "body")
            if has_nul(str(value)):
                raise _nul(key)
        return
    if not body.strip():
        return
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return  # not JSON: the handler answers with its own message
    except RecursionError:
        raise ValidationFailed.field(
            "body", tr("The JSON is nested more than %(num)s levels deep.", num=MAX_DEPTH)
        ) from None
    check_json(document)


class InputGuard(ASGIMiddleware):
    """Refuse, naming the field, what no handler could use (see the module's docstring)."""

    scopes = (ScopeType.HTTP,)
    should_bypass_for_scope = staticmethod(
        lambda scope: scope["path"].startswith(("/stripe/webhook", "/telegram/webhook", "/static/"))
    )

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        check_path_params(scope.get("path_params") or {})
        check_query(scope.get("query_string", b""))
        if scope.get("method") in BODY_METHODS:
            await check_body(scope, receive)
        await next_app(scope, receive, send)
