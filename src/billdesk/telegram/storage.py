"""Conversation state in the database, so any app process can take a chat's next update.

aiogram keeps a conversation's step and the data it collected in an FSM storage;
`DatabaseStorage` keeps them in `telegram_chats`, so they survive a restart and are
shared by every app process. `DatabaseIsolation` makes the updates of one chat
run one at a time across processes: a short lease on the chat's row, taken with a
conditional UPDATE (the database decides who holds it), released when the update
is handled, and free again once it runs out if a process died holding it.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, StateType, StorageKey

from billdesk import clock
from billdesk.tables import TelegramChat

LEASE = timedelta(minutes=2)
WAIT_SECONDS = 20.0
POLL_SECONDS = 0.05


class ChatBusy(Exception):
    """Another process held the chat for longer than an update may wait."""


def storage_key(key: StorageKey) -> str:
    parts = [str(key.bot_id), str(key.chat_id), str(key.user_id)]
    if key.thread_id:
        parts.append(f"t{key.thread_id}")
    if key.business_connection_id:
        parts.append(f"b{key.business_connection_id}")
    if key.destiny != "default":
        parts.append(key.destiny)
    return ":".join(parts)


async def _ensure_row(key: StorageKey) -> None:
    await TelegramChat.insert(
        TelegramChat(key=storage_key(key), chat_id=key.chat_id, data={}, updated_at=clock.now())
    ).on_conflict(target=TelegramChat.key, action="DO NOTHING")


async def _write(key: StorageKey, values: dict[Any, Any]) -> None:
    """Update the chat's row; create it first only when there is none (rare: the lease
    creates it before any handler runs)."""
    name = storage_key(key)
    values = {**values, TelegramChat.updated_at: clock.now()}
    query = TelegramChat.update(values).where(TelegramChat.key == name)
    if not await query.returning(TelegramChat.id):
        await _ensure_row(key)
        await TelegramChat.update(values).where(TelegramChat.key == name)


def _loaded(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value or "{}")
    return dict(value or {})


class DatabaseStorage(BaseStorage):
    """aiogram's FSM storage on the `telegram_chats` table."""

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        await _write(key, {TelegramChat.state: value})

    async def get_state(self, key: StorageKey) -> str | None:
        row = (
            await TelegramChat.select(TelegramChat.state)
            .where(TelegramChat.key == storage_key(key))
            .first()
        )
        return row["state"] if row else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await _write(key, {TelegramChat.data: dict(data)})

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        row = (
            await TelegramChat.select(TelegramChat.data)
            .where(TelegramChat.key == storage_key(key))
            .first()
        )
        return _loaded(row["data"]) if row else {}

    async def close(self) -> None:
        return None


class DatabaseIsolation(BaseEventIsolation):
    """One update of a chat at a time, across every app process."""

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        name = storage_key(key)
        token = secrets.token_hex(12)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_SECONDS
        created = False
        while True:
            now = clock.now()
            taken = (
                await TelegramChat.update(
                    {TelegramChat.locked_until: now + LEASE, TelegramChat.lock_token: token}
                )
                .where(
                    (TelegramChat.key == name)
                    & (TelegramChat.locked_until.is_null() | (TelegramChat.locked_until < now))
                )
                .returning(TelegramChat.id)
            )
            if taken:
                break
            if not created:  # the chat's first update: make its row, then take the lease
                await _ensure_row(key)
                created = True
                continue
            if loop.time() > deadline:
                raise ChatBusy(f"the chat {key.chat_id} is busy with another update")
            await asyncio.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            await TelegramChat.update(
                {TelegramChat.locked_until: None, TelegramChat.lock_token: None}
            ).where((TelegramChat.key == name) & (TelegramChat.lock_token == token))

    async def close(self) -> None:
        return None
