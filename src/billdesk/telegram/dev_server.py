"""A local Bot API stand-in: the offline demo's Telegram, and the tests' fake one.

`billdesk telegram dev-server` serves it on 127.0.0.1. It answers the Bot API
methods billdesk uses (getMe, sendMessage, sendDocument, editMessageText,
answerCallbackQuery, getFile and file downloads, setWebhook, deleteWebhook,
getUpdates) the way Telegram does, records everything the bot sends, and has a
simple page where a person types as a customer: their messages, files and button
presses become Updates, delivered to the webhook billdesk registered (or handed
out by getUpdates when billdesk polls).

Tests use the same class on a free port: `sent()` is what the bot sent,
`add_file()` serves a file for getFile, `fail_next()` answers 429.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import ClientSession, ClientTimeout, web

from billdesk.i18n import from_accept_language, tr

log = logging.getLogger("billdesk.telegram")

BOT_ID = 777000111
JSON_FIELDS = {
    "reply_markup",
    "allowed_updates",
    "entities",
    "caption_entities",
    "link_preview_options",
}


@dataclass
class Call:
    """One Bot API request the bot made."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value not in (None, "") else None

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def buttons(self) -> list[dict[str, Any]]:
        markup = self.params.get("reply_markup") or {}
        return [b for row in markup.get("inline_keyboard", []) for b in row]

    def button_data(self, label_start: str) -> str:
        """The callback data of the button whose label starts with `label_start`."""
        for b in self.buttons:
            if b["text"].startswith(label_start) and "callback_data" in b:
                return str(b["callback_data"])
        raise LookupError(
            f"no button starting {label_start!r} in {[b['text'] for b in self.buttons]}"
        )


@dataclass
class StoredFile:
    name: str
    data: bytes


class BotApiStandIn:
    def __init__(
        self,
        *,
        username: str = "billdesk_demo_bot",
        token: str | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        self.username = username
        self.token = token
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.calls: list[Call] = []
        self.files: dict[str, StoredFile] = {}
        self.transcripts: dict[int, list[dict[str, Any]]] = {}
        self.failures: dict[str, list[int]] = {}
        self.pending: list[dict[str, Any]] = []
        self.last_delivery: str = ""
        self.languages: dict[int, str] = {}
        self._new_updates = asyncio.Event()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.base_url = ""

    # ------------------------------------------------------------ for tests

    def reset(self) -> None:
        self.calls.clear()
        self.transcripts.clear()
        self.failures.clear()
        self.pending.clear()

    def sent(self, method: str | None = None, chat_id: int | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if (method is None or c.method == method) and (chat_id is None or c.chat_id == chat_id)
        ]

    def add_file(self, data: bytes, name: str = "file") -> str:
        file_id = f"file-{secrets.token_hex(8)}"
        self.files[file_id] = StoredFile(name=name, data=data)
        return file_id

    def fail_next(self, method: str, retry_after: int, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with 429 and this retry_after."""
        self.failures.setdefault(method.lower(), []).extend([retry_after] * times)

    # ------------------------------------------------------------ serving

    def app(self) -> web.Application:
        application = web.Application(client_max_size=60 * 1024 * 1024)
        application.router.add_route("*", "/bot{token}/{method}", self._api)
        application.router.add_get("/file/bot{token}/{path:.+}", self._download)
        application.router.add_get("/", self._page)
        application.router.add_post("/chat/{chat_id}/send", self._person_sends)
        application.router.add_post("/chat/{chat_id}/press", self._person_presses)
        application.router.add_post("/chat/{chat_id}/open", self._person_opens_link)
        application.router.add_get("/download/{file_id}", self._page_download)
        return application

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on `host` (port 0: any free one) in the running loop; the base URL."""
        self.loop = asyncio.get_running_loop()
        self._new_updates = asyncio.Event()
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------ the Bot API

    def _bot_user(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "billdesk", "username": self.username}

    @staticmethod
    def _error(code: int, description: str, **parameters: Any) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=code)

    async def _params(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
        params: dict[str, Any] = {key: value for key, value in request.query.items()}
        parts: dict[str, tuple[str, bytes]] = {}
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    parts[key] = (value.filename, value.file.read())
                else:
                    params[key] = value
        for key in JSON_FIELDS & params.keys():
            if isinstance(params[key], str):
                params[key] = json.loads(params[key])
        files: dict[str, tuple[str, bytes]] = {}
        attached = set()
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                attached.add(value.removeprefix("attach://"))
                files[key] = parts[value.removeprefix("attach://")]
        for name, part in parts.items():  # a file sent in the field itself
            if name not in attached:
                files[name] = part
        return params, files

    def _message(self, chat_id: int, **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": self._bot_user(),
            **content,
        }

    def _say(self, chat_id: int, entry: dict[str, Any]) -> None:
        self.transcripts.setdefault(chat_id, []).append(entry)

    async def _api(self, request: web.Request) -> web.Response:
        if self.token is not None and request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = request.match_info["method"].lower()
        params, files = await self._params(request)
        self.calls.append(Call(method=request.match_info["method"], params=params, files=files))
        waiting = self.failures.get(method)
        if waiting:
            seconds = waiting.pop(0)
            return self._error(
                429, f"Too Many Requests: retry after {seconds}", retry_after=seconds
            )
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return self._error(404, "Not Found: method not found")
        try:
            result = await handler(params, files)
        except LookupError as missing:
            return self._error(400, f"Bad Request: {missing.args[0]}")
        return web.json_response({"ok": True, "result": result})

    async def _m_getme(self, params: dict, files: dict) -> Any:
        return self._bot_user()

    async def _m_sendmessage(self, params: dict, files: dict) -> Any:
        chat_id = int(params["chat_id"])
        message = self._message(chat_id, text=params.get("text", ""))
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self._say(chat_id, {"from": "bot", **message})
        return message

    async def _m_senddocument(self, params: dict, files: dict) -> Any:
        chat_id = int(params["chat_id"])
        name, data = files["document"]
        file_id = self.add_file(data, name)
        document = {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_name": name,
            "file_size": len(data),
        }
        message = self._message(chat_id, document=document)
        self._say(chat_id, {"from": "bot", **message})
        return message

    async def _m_answercallbackquery(self, params: dict, files: dict) -> Any:
        return True

    async def _m_editmessagetext(self, params: dict, files: dict) -> Any:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        for entry in self.transcripts.get(chat_id, []):
            if entry.get("message_id") == message_id:
                entry["text"] = params.get("text", "")
                entry.pop("reply_markup", None)
                if params.get("reply_markup"):
                    entry["reply_markup"] = params["reply_markup"]
                return {k: v for k, v in entry.items() if k != "from"} | {"from": self._bot_user()}
        raise LookupError("message to edit not found")

    async def _m_getfile(self, params: dict, files: dict) -> Any:
        file_id = str(params.get("file_id", ""))
        if file_id not in self.files:
            raise LookupError("invalid file_id")
        stored = self.files[file_id]
        return {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_size": len(stored.data),
            "file_path": f"documents/{file_id}",
        }

    async def _m_setwebhook(self, params: dict, files: dict) -> Any:
        self.webhook_url = params.get("url") or None
        self.webhook_secret = params.get("secret_token") or None
        return True

    async def _m_deletewebhook(self, params: dict, files: dict) -> Any:
        self.webhook_url = None
        return True

    async def _m_getwebhookinfo(self, params: dict, files: dict) -> Any:
        return {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending),
        }

    async def _m_getupdates(self, params: dict, files: dict) -> Any:
        if self.webhook_url:
            raise LookupError("can't use getUpdates method while webhook is active")
        offset = int(params.get("offset") or 0)
        self.pending = [u for u in self.pending if u["update_id"] >= offset]
        if not self.pending:
            self._new_updates.clear()
            try:
                await asyncio.wait_for(
                    self._new_updates.wait(), timeout=min(float(params.get("timeout") or 0), 50)
                )
            except TimeoutError:
                pass
        return list(self.pending)

    async def _download(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["path"].rsplit("/", 1)[-1]
        stored = self.files.get(file_id)
        if stored is None:
            return self._error(404, "Not Found")
        return web.Response(body=stored.data, content_type="application/octet-stream")

    # ------------------------------------------------------------ the person's side

    def person(self, chat_id: int) -> dict[str, Any]:
        return {
            "id": chat_id,
            "is_bot": False,
            "first_name": f"Customer {chat_id}",
            "username": f"customer{chat_id}",
            **({"language_code": self.languages[chat_id]} if chat_id in self.languages else {}),
        }

    def message_update(
        self, chat_id: int, text: str | None = None, *, file: tuple[str, bytes] | None = None
    ) -> dict[str, Any]:
        """An Update carrying a message from the person in `chat_id` (text and/or a document)."""
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": self.person(chat_id),
        }
        if file is not None:
            name, data = file
            file_id = self.add_file(data, name)
            message["document"] = {
                "file_id": file_id,
                "file_unique_id": file_id,
                "file_name": name,
                "file_size": len(data),
            }
            if text:
                message["caption"] = text
        elif text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split(" ", 1)[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"update_id": next(self._ids), "message": message}

    def callback_update(self, chat_id: int, data: str, message_id: int) -> dict[str, Any]:
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": self._bot_user(),
            "text": "…",
        }
        return {
            "update_id": next(self._ids),
            "callback_query": {
                "id": secrets.token_hex(8),
                "from": self.person(chat_id),
                "chat_instance": str(chat_id),
                "message": message,
                "data": data,
            },
        }

    async def deliver(self, update: dict[str, Any]) -> str:
        """Send the update to the registered webhook, or keep it for getUpdates."""
        if not self.webhook_url:
            self.pending.append(update)
            self._new_updates.set()
            self.last_delivery = tr("kept for getUpdates (no webhook registered)")
            return self.last_delivery
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook_secret or ""}
        try:
            async with ClientSession(timeout=ClientTimeout(total=90)) as session:
                async with session.post(self.webhook_url, json=update, headers=headers) as answer:
                    self.last_delivery = tr("webhook answered %(status)s", status=answer.status)
        except OSError as error:
            self.last_delivery = tr("webhook unreachable: %(error)s", error=str(error))
        return self.last_delivery

    async def _person_sends(self, request: web.Request) -> web.Response:
        chat_id = int(request.match_info["chat_id"])
        form = await request.post()
        text = str(form.get("text") or "")
        upload = form.get("file")
        file = None
        if isinstance(upload, web.FileField) and upload.filename:
            file = (upload.filename, upload.file.read())
        if not text and file is None:
            raise web.HTTPSeeOther(f"/?chat={chat_id}")
        update = self.message_update(chat_id, text or None, file=file)
        self._say(chat_id, {"from": "person", "text": text, "file": file[0] if file else None})
        await self.deliver(update)
        raise web.HTTPSeeOther(f"/?chat={chat_id}")

    async def _person_presses(self, request: web.Request) -> web.Response:
        chat_id = int(request.match_info["chat_id"])
        form = await request.post()
        await self.deliver(
            self.callback_update(chat_id, str(form["data"]), int(str(form["message_id"])))
        )
        raise web.HTTPSeeOther(f"/?chat={chat_id}")

    async def _person_opens_link(self, request: web.Request) -> web.Response:
        """What Telegram does with https://t.me/<bot>?start=<token>: it sends /start <token>."""
        chat_id = int(request.match_info["chat_id"])
        form = await request.post()
        start = parse_qs(urlsplit(str(form.get("link") or "")).query).get("start", [""])[0]
        text = f"/start {start}".strip()
        self._say(chat_id, {"from": "person", "text": text, "file": None})
        await self.deliver(self.message_update(chat_id, text))
        raise web.HTTPSeeOther(f"/?chat={chat_id}")

    async def _page_download(self, request: web.Request) -> web.Response:
        stored = self.files.get(request.match_info["file_id"])
        if stored is None:
            raise web.HTTPNotFound()
        return web.Response(
            body=stored.data,
            content_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{stored.name}"'},
        )

    async def _page(self, request: web.Request) -> web.Response:
        from billdesk.telegram.dev_page import render_page

        chat_id = int(request.query.get("chat", "1001"))
        # The person typing here is a Telegram user of the browser's language: the bot
        # hears it as their `language_code`, as it would from Telegram.
        language = from_accept_language(request.headers.get("Accept-Language"))
        self.languages[chat_id] = language
        return web.Response(
            text=render_page(self, chat_id, language),
            content_type="text/html",
            headers={"Content-Language": language},
        )


def serve(*, host: str, port: int, webhook_url: str | None, webhook_secret: str | None) -> None:
    """Run the stand-in until interrupted."""
    stand_in = BotApiStandIn(webhook_url=webhook_url, webhook_secret=webhook_secret)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    print(f"Telegram stand-in on http://{host}:{port}/ (type as a customer there)", flush=True)
    web.run_app(stand_in.app(), host=host, port=port, print=None, access_log=None)
