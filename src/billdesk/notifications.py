"""In-app notifications: "support replied", "ticket solved", payment news, with unread counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from piccolo.utils.encoding import dump_json

from billdesk.i18n import Text, catalog_text, from_json, to_json, translate
from billdesk.sql import Statement
from billdesk.tables import Notification

Kind = Notification.Kind


async def notify(
    *, user_id: int, kind: Kind, ticket_id: int | None, text: str, language: str | None = None
) -> None:
    """Tell a user something happened (call inside the action's transaction).

    `text` is a tr() text. Its message id and values are kept (`message`), so it reads in
    the language of whoever opens it, when they open it: their chosen language, else
    their browser's. `text` keeps it written once, in their chosen language or English
    (`language`, their `users.language` when the caller has read it already)."""
    from billdesk.accounts import language_of, written_language

    chosen = written_language(language) if language is not None else await language_of(user_id)
    await _NOTIFY.write(
        user=user_id, kind=Kind(kind).value, ticket=ticket_id,
        text=translate(text, chosen)[:300],
        message=dump_json(to_json(text) if isinstance(text, Text) else {}),
        at=datetime.now(UTC),
    )


# Every payment step and reply tells somebody: the insert is written once (billdesk.sql).
_NOTIFY = Statement(
    'INSERT INTO notifications ("user", kind, ticket, text, message, read, created_at) '
    "VALUES (:user, :kind, :ticket, :text, :message, FALSE, :at)"
)


def shown(row: dict[str, Any]) -> Text:
    """A notification's text, to be read in the reader's language (`{{ }}` or translate())."""
    message = row.get("message")
    if isinstance(message, str):
        try:
            message = json.loads(message)
        except ValueError:
            message = None
    restored = from_json(message) if message else None
    return restored if isinstance(restored, Text) else catalog_text(row["text"])


def notifications_query(user_id: int):
    """The user's notifications, for a keyset page newest first."""
    return Notification.select(
        Notification.id, Notification.kind, Notification.ticket, Notification.text,
        Notification.message, Notification.read, Notification.created_at,
    ).where(Notification.user == user_id)


async def unread_count(user_id: int) -> int:
    return await Notification.count().where(
        (Notification.user == user_id) & (Notification.read == False)  # noqa: E712
    )


async def mark_read(user_id: int, ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (only `ids` when given); how many changed."""
    condition = (Notification.user == user_id) & (Notification.read == False)  # noqa: E712
    if ids is not None:
        if not ids:
            return 0
        condition = condition & Notification.id.is_in(ids)
    rows: list[dict[str, Any]] = await (
        Notification.update({Notification.read: True}).where(condition).returning(Notification.id)
    )
    return len(rows)
