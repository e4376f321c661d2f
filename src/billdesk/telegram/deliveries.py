"""What was already sent to a chat, so a retried job (or a second path) never sends it twice.

Each part of a notification has a key (`<happening id>:text`, `<happening id>:file:<id>`,
`charge:<id>:<reason>`); a part is sent only while its key is not recorded, and the
key is recorded as soon as Telegram took the part.
"""

from __future__ import annotations

import hashlib

from billdesk import clock
from billdesk.tables import TelegramDelivery


def payment_key(charge_id: int, reason: str) -> str:
    """One payment problem of a charge, told once whichever path tells it first."""
    return f"charge:{charge_id}:{hashlib.sha256(reason.encode()).hexdigest()[:16]}"


async def was_sent(key: str) -> bool:
    return await TelegramDelivery.exists().where(TelegramDelivery.key == key)


async def mark_sent(key: str) -> None:
    await TelegramDelivery.insert(TelegramDelivery(key=key[:200], sent_at=clock.now())).on_conflict(
        target=TelegramDelivery.key, action="DO NOTHING"
    )
