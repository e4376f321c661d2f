"""What happened to tickets and charges, told to every channel after the change commits.

The domain publishes a happening inside the transaction of the change that causes
it (`publish()`): a durable job `outbox.fan_out` carrying the happening. Once the
change has committed, a worker runs that job, which hands the happening to every
channel that subscribed (mail, Telegram, outgoing webhooks, …); each subscriber
enqueues its own jobs (a mail to send, a delivery to make), so one channel failing
never repeats another's work. A rolled-back change publishes nothing.

Most happenings come from the two places every ticket change passes through:
`tickets.lifecycle.record_event` (opened, status changed, assigned) and
`tickets.lifecycle.add_message` (a message added after the opening one); the
payments publish what happens to money.

A channel subscribes in a module listed in `jobs.registry.HANDLER_MODULES`:

    @outbox.subscriber("mail")
    async def mail_on(happening: dict) -> None:
        if happening["type"] == outbox.MESSAGE_ADDED and not happening["internal"]: ...

A happening is a JSON object: `id` (stable, `hap_…`), `type`, `ticket_id`,
`actor_id` (None for the system or Stripe), `occurred_at` (RFC 3339), and the
fields of its type listed below. Happenings reach subscribers in no set order,
and, like every job, possibly more than once: subscribers dedupe by `id` where it
matters. Keep subscribers quick: they run inside the
fan-out job's transaction and should only enqueue.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from billdesk import clock, jobs

log = logging.getLogger("billdesk.outbox")

# type: fields beside the common ones
TICKET_OPENED = "ticket.opened"  # status (in_progress, or awaiting_payment for a paid one)
MESSAGE_ADDED = "ticket.message_added"  # message_id, internal, author_role
STATUS_CHANGED = "ticket.status_changed"  # old, new
ASSIGNED = "ticket.assigned"  # old, new (user ids as text, "" for nobody)
MERGED = "ticket.merged"  # into_id, moved_messages (told on the merged ticket, now solved)
CHARGE_SUCCEEDED = "charge.succeeded"  # charge_id, amount, currency
CHARGE_PAYMENT_FAILED = "charge.payment_failed"  # charge_id, reason (the customer must act)
CHARGE_REFUNDED = "charge.refunded"  # charge_id, refund_id, amount, currency, automatic
REQUEST_DECIDED = "request.decided"  # decision (approved, rejected), reason, kind_id

FAN_OUT = "outbox.fan_out"

Subscriber = Callable[[dict[str, Any]], Awaitable[None]]
_subscribers: dict[str, Subscriber] = {}


def subscriber(name: str) -> Callable[[Subscriber], Subscriber]:
    """Register a channel's subscriber (one per name; registering again replaces it)."""

    def register(function: Subscriber) -> Subscriber:
        _subscribers[name] = function
        return function

    return register


def subscribers() -> dict[str, Subscriber]:
    return dict(_subscribers)


async def publish(kind: str, *, ticket_id: int, actor_id: int | None = None, **data: Any) -> str:
    """Record a happening in the caller's transaction; returns its id."""
    happening = {
        "id": f"hap_{secrets.token_hex(12)}",
        "type": kind,
        "ticket_id": ticket_id,
        "actor_id": actor_id,
        "occurred_at": clock.now().isoformat(),
        **data,
    }
    await jobs.enqueue_later(FAN_OUT, happening)
    return str(happening["id"])


@jobs.handler(FAN_OUT, max_attempts=20)
async def fan_out(happening: dict[str, Any]) -> None:
    """Hand a committed happening to every subscribed channel, in one transaction."""
    from billdesk.tickets.lifecycle import write_transaction

    async with write_transaction():
        for name, function in _subscribers.items():
            try:
                await function(happening)
            except Exception:
                log.exception("subscriber %s failed on %s", name, happening["type"])
                raise
