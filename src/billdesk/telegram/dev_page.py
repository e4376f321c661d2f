"""The stand-in's page: the chat as the person sees it, with forms to type and press."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from billdesk.telegram.dev_server import BotApiStandIn


def _entry_html(chat_id: int, entry: dict[str, Any]) -> str:
    e = html.escape
    if entry["from"] == "person":
        body = e(entry.get("text") or "")
        if entry.get("file"):
            body += f" <em>[file {e(entry['file'])}]</em>"
        return f'<div class="m me">{body}</div>'
    if "document" in entry:
        doc = entry["document"]
        return (
            f'<div class="m bot">File: <a href="/download/{e(doc["file_id"])}">'
            f"{e(doc['file_name'])}</a></div>"
        )
    rows = []
    for row in (entry.get("reply_markup") or {}).get("inline_keyboard", []):
        buttons = []
        for b in row:
            if "url" in b:
                buttons.append(f'<a class="b" href="{e(b["url"])}">{e(b["text"])}</a>')
            else:
                buttons.append(
                    f'<form method="post" action="/chat/{chat_id}/press">'
                    f'<input type="hidden" name="data" value="{e(b["callback_data"])}">'
                    f'<input type="hidden" name="message_id" value="{entry["message_id"]}">'
                    f'<button class="b">{e(b["text"])}</button></form>'
                )
        rows.append(f'<div class="row">{"".join(buttons)}</div>')
    return f'<div class="m bot"><pre>{e(entry.get("text", ""))}</pre>{"".join(rows)}</div>'


def render_page(stand_in: BotApiStandIn, chat_id: int) -> str:
    e = html.escape
    entries = "".join(
        _entry_html(chat_id, entry) for entry in stand_in.transcripts.get(chat_id, [])
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Telegram stand-in · chat {chat_id}</title>
<style>
body{{font:15px system-ui,sans-serif;max-width:720px;margin:1rem auto;padding:0 1rem}}
.m{{margin:.5rem 0;padding:.5rem .75rem;border-radius:.5rem;max-width:85%;overflow-wrap:anywhere}}
.row{{display:flex;gap:.25rem;flex-wrap:wrap;margin-top:.25rem}}
.bot{{background:#eef2f7}} .me{{background:#d9f2d9;margin-left:auto}}
pre{{white-space:pre-wrap;font:inherit;margin:0}}
form.send{{display:flex;gap:.5rem;flex-wrap:wrap;margin-top:1rem}} input[name=text]{{flex:1}}
</style></head><body>
<h1>Telegram stand-in</h1>
<p>You are chatting with <strong>@{e(stand_in.username)}</strong> as the Telegram user {chat_id}
(<a href="/?chat={chat_id}">refresh</a> to see messages the bot sent later; another chat:
<a href="/?chat={chat_id + 1}">{chat_id + 1}</a>). Webhook: {e(stand_in.webhook_url or "none, updates wait for getUpdates")}.
{e(stand_in.last_delivery)}</p>
<form method="post" action="/chat/{chat_id}/open" class="send">
<input name="link" placeholder="Paste the https://t.me/… link from “Connect Telegram”" size="50">
<button>Open link</button></form>
<div>{entries or "<p><em>No messages yet. Open your link, or send /start.</em></p>"}</div>
<form method="post" action="/chat/{chat_id}/send" enctype="multipart/form-data" class="send">
<input name="text" placeholder="Message (/createticket, /start, /stop …)" autofocus>
<input type="file" name="file"><button>Send</button></form>
</body></html>"""
