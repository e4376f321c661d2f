"""Linking a Telegram chat to a customer: single-use deep links, /start <token>, unlinking.

A customer asks for a link (account page or API): `https://t.me/<bot>?start=<token>`,
valid 15 minutes, usable once; only the token's sha256 is stored. Opening it in
Telegram sends `/start <token>` from the customer's private chat, which links that
chat to the customer. A customer has at most one chat and a chat acts as exactly
one customer: a new link replaces the old one on either side.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from billdesk import clock
from billdesk.auth import CurrentUser
from billdesk.errors import Forbidden
from billdesk.i18n import tr
from billdesk.tables import TelegramChat, TelegramLink, TelegramLinkToken, User
from billdesk.telegram.client import TelegramUnavailable, bot_username
from billdesk.tickets import write_transaction

LINK_VALID_FOR = timedelta(minutes=15)


@dataclass(frozen=True)
class DeepLink:
    url: str
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_link(user: CurrentUser) -> DeepLink:
    """A fresh single-use deep link for the customer, valid 15 minutes."""
    if not user.is_customer:
        raise Forbidden(
            tr("Only customers can connect Telegram."),
            errors={"user": tr("Only customers can connect.")},
        )
    username = await bot_username()
    if not username:
        raise TelegramUnavailable(tr("The bot has no username, so there is no link to open."))
    token = secrets.token_urlsafe(24)  # 32 characters of [A-Za-z0-9_-], as Telegram allows
    expires_at = clock.now() + LINK_VALID_FOR
    await TelegramLinkToken.insert(
        TelegramLinkToken(
            token_hash=_digest(token), user=user.id, created_at=clock.now(), expires_at=expires_at
        )
    )
    return DeepLink(url=f"https://t.me/{username}?start={token}", expires_at=expires_at)


async def redeem(token: str, *, chat_id: int, username: str) -> CurrentUser | None:
    """Link the chat to the token's customer; None when the token is unknown, used or expired."""
    now = clock.now()
    async with write_transaction():
        used = (
            await TelegramLinkToken.update({TelegramLinkToken.used_at: now})
            .where(
                (TelegramLinkToken.token_hash == _digest(token))
                & TelegramLinkToken.used_at.is_null()
                & (TelegramLinkToken.expires_at > now)
            )
            .returning(TelegramLinkToken.user)
        )
        if not used:
            return None
        user = (
            await User.select(User.id, User.email, User.name, User.role, User.language)
            .where(
                (User.id == used[0]["user"]) & (User.active == True)  # noqa: E712
            )
            .first()
        )
        if user is None or user["role"] != User.Role.customer.value:
            return None
        await TelegramLink.delete().where(
            (TelegramLink.user == user["id"]) | (TelegramLink.chat_id == chat_id)
        )
        await TelegramLink.insert(
            TelegramLink(user=user["id"], chat_id=chat_id, username=username[:64], linked_at=now)
        )
    return CurrentUser(
        id=user["id"],
        email=user["email"],
        name=user["name"],
        role=user["role"],
        language=user["language"] or "",
    )


async def customer_of_chat(chat_id: int) -> CurrentUser | None:
    """The active customer this chat is linked to, or None."""
    row = (
        await TelegramLink.select(
            TelegramLink.user.id,
            TelegramLink.user.email,
            TelegramLink.user.name,
            TelegramLink.user.role,
            TelegramLink.user.active,
            TelegramLink.user.language,
        )
        .where(TelegramLink.chat_id == chat_id)
        .first()
    )
    if row is None or not row["user.active"] or row["user.role"] != User.Role.customer.value:
        return None
    return CurrentUser(
        id=row["user.id"],
        email=row["user.email"],
        name=row["user.name"],
        role=row["user.role"],
        language=row["user.language"] or "",
    )


async def chat_of_customer(user_id: int) -> int | None:
    row = (
        await TelegramLink.select(TelegramLink.chat_id).where(TelegramLink.user == user_id).first()
    )
    return row["chat_id"] if row else None


async def unlink_customer(user_id: int) -> bool:
    """Disconnect the customer's chat (account page, API); True when one was linked."""
    async with write_transaction():
        removed = (
            await TelegramLink.delete()
            .where(TelegramLink.user == user_id)
            .returning(TelegramLink.chat_id)
        )
        for row in removed:
            await forget_conversation(row["chat_id"])
    return bool(removed)


async def unlink_chat(chat_id: int) -> bool:
    """Disconnect the chat (/stop); True when it was linked."""
    async with write_transaction():
        removed = (
            await TelegramLink.delete()
            .where(TelegramLink.chat_id == chat_id)
            .returning(TelegramLink.id)
        )
        await forget_conversation(chat_id)
    return bool(removed)


async def forget_conversation(chat_id: int) -> None:
    """Drop what an unfinished conversation of the chat collected."""
    await TelegramChat.update(
        {TelegramChat.state: None, TelegramChat.data: {}, TelegramChat.updated_at: clock.now()}
    ).where(TelegramChat.chat_id == chat_id)


async def account_view(user: CurrentUser) -> dict[str, Any]:
    """What the account page shows: whether the bot is on and the chat linked."""
    from billdesk.settings import get_settings

    if not user.is_customer or not get_settings().telegram_configured:
        return {"available": False, "linked": False}
    row = (
        await TelegramLink.select(TelegramLink.username, TelegramLink.linked_at)
        .where(TelegramLink.user == user.id)
        .first()
    )
    return {
        "available": True,
        "linked": row is not None,
        "username": row["username"] if row else "",
        "linked_at": row["linked_at"] if row else None,
    }
