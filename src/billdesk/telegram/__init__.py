"""The Telegram bot: customers open, follow and answer their tickets from Telegram.

An adapter over the same domain calls the pages use (`open_ticket`,
`reply_as_customer`, the quota functions, the payments seam), built with aiogram 3
on the Bot API. The full guide is docs/telegram.md.

- client: the aiogram Bot for TELEGRAM_BOT_TOKEN and TELEGRAM_API_BASE;
- links: linking a chat to its customer (single-use deep links), unlinking;
- updates: the dispatcher, each update handled once (webhook or long polling);
- gate: private chats only, the chat's customer, refusals as the bot's answers;
- storage: the conversation's state in the database, one update per chat at a time;
- new_ticket, follow, linking, collecting: the conversations;
- notify, deliveries, sending: notifications to linked chats, as durable jobs;
- dev_server, dev_page: a local Bot API stand-in for the offline demo and the tests.
"""

from typing import Any

from billdesk.telegram.client import TelegramUnavailable, bot, bot_username, close_bots, warm_up
from billdesk.telegram.links import (
    LINK_VALID_FOR,
    DeepLink,
    account_view,
    create_link,
    customer_of_chat,
    unlink_customer,
)


# The ways updates come in load the dispatcher (and aiogram) on first use.
async def handle_update(raw: dict[str, Any]) -> bool:
    """Handle one Update from the webhook; False when it was handled before."""
    from billdesk.telegram.updates import handle_update as handle

    return await handle(raw)


async def poll(stop: Any, *, wait_seconds: int = 30) -> None:
    """Take updates by long polling until `stop` (an asyncio.Event) is set."""
    from billdesk.telegram.updates import poll as run

    await run(stop, wait_seconds=wait_seconds)


async def set_webhook(url: str, secret: str) -> None:
    """Ask the Bot API to send the bot's updates to `url`, with `secret` in their header."""
    from billdesk.telegram.updates import set_webhook as register

    await register(url, secret)


__all__ = [
    "LINK_VALID_FOR",
    "DeepLink",
    "TelegramUnavailable",
    "account_view",
    "bot",
    "bot_username",
    "close_bots",
    "create_link",
    "customer_of_chat",
    "handle_update",
    "poll",
    "set_webhook",
    "unlink_customer",
    "warm_up",
]
