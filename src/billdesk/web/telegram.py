"""Telegram over HTTP: the bot's webhook, and connecting a customer's chat (page and API)."""

from __future__ import annotations

import hmac
import json
import logging

import msgspec
from litestar import Controller, Request, Response, delete, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from billdesk import telegram
from billdesk.auth import CurrentUser, requires_customer
from billdesk.i18n import tr
from billdesk.settings import get_settings
from billdesk.web import flashes
from billdesk.web.layout import render

log = logging.getLogger("billdesk.telegram")

SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 (a header name)


def _secret_matches(given: str | None) -> bool:
    settings = get_settings()
    secret = settings.telegram_webhook_secret
    if not settings.telegram_configured or not secret or given is None:
        return False
    return hmac.compare_digest(given.encode(), secret.encode())


def _answer(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=dict[str, str], description=description)


@post(
    "/telegram/webhook",
    tags=["telegram"],
    status_code=200,
    security=[],
    responses={
        400: _answer("The body is not a Telegram Update."),
        403: _answer("The secret header is missing or wrong, or the bot is off: nothing was done."),
        500: _answer("Handling failed; Telegram delivers the update again."),
        503: _answer("The chat is busy with another update; Telegram delivers it again."),
    },
    summary="Telegram's updates for the bot",
    description=(
        "Called by the Bot API with one Update. The header X-Telegram-Bot-Api-Secret-Token "
        "must carry TELEGRAM_WEBHOOK_SECRET, else 403 and nothing is done. The same "
        "update_id delivered twice is handled once."
    ),
)
async def telegram_webhook(request: Request) -> Response[dict[str, str]]:
    if not _secret_matches(request.headers.get(SECRET_HEADER)):
        return Response({"error": "forbidden"}, status_code=403)
    try:
        raw = json.loads(await request.body())
    except ValueError:
        return Response({"error": "the body is not JSON"}, status_code=400)
    if not isinstance(raw, dict):
        return Response({"error": "the body is not an Update"}, status_code=400)
    from pydantic import ValidationError

    from billdesk.telegram.storage import ChatBusy

    try:
        handled = await telegram.handle_update(raw)
    except ValidationError:
        return Response({"error": "the body is not an Update"}, status_code=400)
    except ChatBusy:
        return Response({"error": "the chat is busy; retry"}, status_code=503)
    except Exception:
        log.exception("update %s failed; Telegram will deliver it again", raw.get("update_id"))
        return Response({"error": "not handled, retry later"}, status_code=500)
    return Response({"result": "handled" if handled else "duplicate"})


class TelegramLinkOut(msgspec.Struct):
    url: str
    expires_at: str


class TelegramApiController(Controller):
    path = "/api/v1/me/telegram-link"
    tags = ["account"]
    guards = [requires_customer]

    @post("/", status_code=HTTP_201_CREATED)
    async def create_link(self, request: Request) -> TelegramLinkOut:
        """A single-use deep link to the bot, valid 15 minutes: opened in Telegram, it links
        that chat to the caller. 503 `telegram_unavailable` when the bot is off or unreachable."""
        user: CurrentUser = request.scope["user"]
        link = await telegram.create_link(user)
        return TelegramLinkOut(
            url=link.url, expires_at=link.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        )

    @delete("/", status_code=HTTP_204_NO_CONTENT)
    async def disconnect(self, request: Request) -> None:
        """Disconnect the caller's linked chat (nothing to do when none is linked)."""
        user: CurrentUser = request.scope["user"]
        await telegram.unlink_customer(user.id)


class TelegramPagesController(Controller):
    path = "/account/telegram"
    include_in_schema = False
    guards = [requires_customer]

    @post("/link")
    async def connect(self, request: Request) -> Template:
        user: CurrentUser = request.scope["user"]
        try:
            link = await telegram.create_link(user)
        except telegram.TelegramUnavailable as unavailable:
            return await render(
                request,
                "telegram/connect.html",
                {"link": None, "error": unavailable.detail},
                active="account",
                status_code=unavailable.status,
            )
        return await render(
            request, "telegram/connect.html", {"link": link, "error": None}, active="account"
        )

    @post("/disconnect")
    async def disconnect(self, request: Request) -> Redirect:
        user: CurrentUser = request.scope["user"]
        await telegram.unlink_customer(user.id)
        return flashes.saved(request, "/account", tr("Telegram disconnected."))
