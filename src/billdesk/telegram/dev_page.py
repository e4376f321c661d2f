"""The stand-in's page: the chat as the person sees it, with forms to type and press.

A developer's tool, so it simply follows the browser's `Accept-Language`."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from billdesk.i18n import tr, translate

if TYPE_CHECKING:
    from billdesk.telegram.dev_server import BotApiStandIn


def _entry_html(chat_id: int, entry: dict[str, Any], language: str) -> str:
    e = html.escape
    if entry["from"] == "person":
        body = e(entry.get("text") or "")
        if entry.get("file"):
            shown = translate(tr("[file %(name)s]", name=entry["file"]), language)
            body += " <em>" + e(shown) + "</em>"
        return f'<div class="m me">{body}</div>'
    if "document" in entry:
        doc = entry["document"]
        label = e(translate(tr("File:"), language))
        return (
            f'<div class="m bot">{label} <a href="/download/{e(doc["file_id"])}">'
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


def render_page(stand_in: BotApiStandIn, chat_id: int, language: str = "en") -> str:
    e = html.escape

    def t(text: str) -> str:
        return e(translate(text, language))

    entries = "".join(
        _entry_html(chat_id, entry, language) for entry in stand_in.transcripts.get(chat_id, [])
    )
    bot = "<strong>@" + e(stand_in.username) + "</strong>"
    refresh_word = t(tr("refresh"))
    refresh = f'<a href="/?chat={chat_id}">{refresh_word}</a>'
    other = f'<a href="/?chat={chat_id + 1}">{chat_id + 1}</a>'
    intro = translate(
        tr(
            "You are chatting with %(bot)s as the Telegram user %(chat)s (%(refresh)s to see "
            "messages the bot sent later; another chat: %(other)s).",
            bot=bot,
            chat=chat_id,
            refresh=refresh,
            other=other,
        ),
        language,
    )
    webhook = (
        e(stand_in.webhook_url)
        if stand_in.webhook_url
        else t(tr("none, updates wait for getUpdates"))
    )
    title = t(tr("Telegram stand-in \u00b7 chat %(chat)s", chat=chat_id))
    heading = t(tr("Telegram stand-in"))
    webhook_label = t(tr("Webhook:"))
    delivery = t(stand_in.last_delivery)
    paste = t(tr("Paste the https://t.me/\u2026 link from \u201cConnect Telegram\u201d"))
    open_link = t(tr("Open link"))
    empty = t(tr("No messages yet. Open your link, or send /start."))
    placeholder = t(tr("Message (/createticket, /start, /stop \u2026)"))
    send = t(tr("Send"))
    return f"""<!doctype html><html lang="{e(language)}"><head><meta charset="utf-8">
<title>{title}</title>
<style>
body{{font:15px system-ui,sans-serif;max-width:720px;margin:1rem auto;padding:0 1rem}}
.m{{margin:.5rem 0;padding:.5rem .75rem;border-radius:.5rem;max-width:85%;overflow-wrap:anywhere}}
.row{{display:flex;gap:.25rem;flex-wrap:wrap;margin-top:.25rem}}
.bot{{background:#eef2f7}} .me{{background:#d9f2d9;margin-left:auto}}
pre{{white-space:pre-wrap;font:inherit;margin:0}}
form.send{{display:flex;gap:.5rem;flex-wrap:wrap;margin-top:1rem}} input[name=text]{{flex:1}}
</style></head><body>
<h1>{heading}</h1>
<p>{intro} {webhook_label} {webhook}.
{delivery}</p>
<form method="post" action="/chat/{chat_id}/open" class="send">
<input name="link" placeholder="{paste}" size="50">
<button>{open_link}</button></form>
<div>{entries or f"<p><em>{empty}</em></p>"}</div>
<form method="post" action="/chat/{chat_id}/send" enctype="multipart/form-data" class="send">
<input name="text" placeholder="{placeholder}" autofocus>
<input type="file" name="file"><button>{send}</button></form>
</body></html>"""
