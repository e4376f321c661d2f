"""Stripe's webhook events: verified, each handled once, written on the attempt they name.

The event id is stored in the same transaction as the changes the event makes,
so a failure while handling rolls both back and Stripe's retry handles it again,
while a replay of an event already handled changes nothing.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from typing import Any

import stripe

from billdesk import clock
from billdesk.payments import stripe_api
from billdesk.payments.attempts import DECLINED, find_attempt, record_decline, record_success
from billdesk.payments.cards import apply_setup_session
from billdesk.payments.checkout import apply_checkout_session, expire_checkout_session
from billdesk.payments.refunds import record_stripe_refund
from billdesk.payments.states import Locked, locked_charge
from billdesk.settings import get_settings
from billdesk.sql import Statement
from billdesk.tables import Charge, PaymentAttempt
from billdesk.tickets.lifecycle import write_transaction

log = logging.getLogger("billdesk.payments")


class BadSignature(Exception):
    """The payload is not signed with our webhook secret, or the signature is too old."""


SIGNATURE_TOLERANCE = 300  # seconds either way, Stripe's own default


def verify(payload: bytes, signature: str | None) -> stripe.Event:
    """The event, if signed with our secret at most five minutes from now, before or after."""
    secret = get_settings().stripe_webhook_secret
    if not secret:
        raise BadSignature("no webhook secret is configured")
    try:
        # The SDK refuses only old timestamps: both directions are checked below.
        event = stripe.Webhook.construct_event(payload, signature or "", secret, tolerance=None)  # type: ignore[arg-type]
    except stripe.SignatureVerificationError as error:
        raise BadSignature(str(error)) from None
    except ValueError as error:
        raise BadSignature(f"the payload is not an event: {error}") from None
    fields = dict(part.partition("=")[::2] for part in (signature or "").split(","))
    if abs(clock.now().timestamp() - int(fields["t"])) > SIGNATURE_TOLERANCE:
        raise BadSignature("the signature's timestamp is too far from now")
    return event


async def _charge_id_for(intent: Any) -> int | None:
    """The charge of a PaymentIntent that no attempt names (`_ATTEMPT_OF_INTENT` found
    none): the charge its metadata names, else the charge that names it."""
    value = stripe_api.metadata_of(intent).get("charge_id")
    if value and str(value).isdigit():
        found = await Charge.select(Charge.id).where(Charge.id == int(value)).first()
        if found is not None:
            return int(found["id"])
    found = await Charge.select(Charge.id).where(
        Charge.stripe_payment_intent_id == intent.id
    ).first()
    return int(found["id"]) if found else None


def _attempt_of(locked: Locked, intent: Any) -> dict[str, Any] | None:
    """The attempt a PaymentIntent belongs to (by its id, else the attempt its metadata names).

    A PaymentIntent of a charge written before attempts carried a number in their
    metadata is matched to the charge's current attempt while that has no
    PaymentIntent of its own.
    """
    found = find_attempt(locked, payment_intent_id=intent.id)
    if found is not None:
        return found
    number = stripe_api.metadata_of(intent).get("attempt")
    if number and number.isdigit():
        candidate = locked.attempt(int(number))
    elif number is None:
        candidate = locked.attempt()
    else:
        candidate = None
    if candidate is None or candidate["stripe_payment_intent_id"] not in (None, intent.id):
        return None
    return candidate


async def _intent_news(event: stripe.Event, intent: Any) -> None:
    """A PaymentIntent succeeded or failed: written on its attempt."""
    known = await _ATTEMPT_OF_INTENT.first(intent=intent.id)
    if (
        known is not None
        and event.type == "payment_intent.succeeded"
        and known["status"] == PaymentAttempt.Status.succeeded.value
    ):
        # The charge path wrote this success already: a succeeded attempt never moves
        # again (payments.states.ATTEMPT_MOVES), so there is nothing to lock or write.
        return
    charge_id = int(known["charge"]) if known is not None else await _charge_id_for(intent)
    if charge_id is None:
        log.info("webhook %s: no charge for PaymentIntent %s", event.id, intent.id)
        return
    async with locked_charge(charge_id) as locked:
        attempt = _attempt_of(locked, intent)
        if attempt is None:
            # Not an attempt billdesk made: the ledger check reports it to finance.
            log.warning("webhook %s: PaymentIntent %s is not an attempt of charge %s",
                        event.id, intent.id, charge_id)
            return
        if event.type == "payment_intent.succeeded":
            await record_success(locked, attempt, payment_intent_id=intent.id)
            return
        error = getattr(intent, "last_payment_error", None)
        reason = (getattr(error, "message", None) if error is not None else None) or DECLINED
        await record_decline(locked, attempt, reason=str(reason), payment_intent_id=intent.id)
    return


async def _dispatch(event: stripe.Event) -> None:
    """Apply one event."""
    kind = event.type
    obj: Any = event.data.object
    if kind in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        await _intent_news(event, obj)
        return
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        if getattr(obj, "mode", None) == "payment" and not await apply_checkout_session(obj):
            log.info("webhook %s: checkout session %s settled nothing", event.id, obj.id)
    elif kind == "checkout.session.expired":
        await expire_checkout_session(obj)
    elif kind == "charge.refunded":
        refunds = getattr(obj, "refunds", None)
        for refund in getattr(refunds, "data", None) or []:
            await record_stripe_refund(
                payment_intent_id=stripe_api.object_id(obj.payment_intent),
                refund=refund,
            )
    elif kind in ("refund.created", "refund.updated", "refund.failed", "charge.refund.updated"):
        await record_stripe_refund(
            payment_intent_id=stripe_api.object_id(getattr(obj, "payment_intent", None)),
            refund=obj,
        )
    else:
        log.info("webhook %s: %s acknowledged, not handled", event.id, kind)


def _is_duplicate(error: Exception) -> bool:
    if isinstance(error, sqlite3.IntegrityError):
        return True
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg comes with piccolo[postgres]
        return False
    return isinstance(error, asyncpg.UniqueViolationError)


async def _seen(event_id: str) -> bool:
    return await _SEEN.first(event=event_id) is not None


# Every paid ticket brings its webhook: its reads and the event's row are written once.
_SEEN = Statement("SELECT 1 AS seen FROM stripe_events WHERE event_id = :event")
_RECORD = Statement(
    "INSERT INTO stripe_events (event_id, type, received_at) VALUES (:event, :type, :at)"
)
_ATTEMPT_OF_INTENT = Statement(
    "SELECT charge, status FROM payment_attempts WHERE stripe_payment_intent_id = :intent"
)


async def handle_event(event: stripe.Event) -> bool:
    """Handle a verified event once; False when it was already handled."""
    if await _seen(event.id):
        return False
    obj: Any = event.data.object
    if event.type == "checkout.session.completed" and getattr(obj, "mode", None) == "setup":
        # Only Stripe changes here, and setting the default card twice is harmless.
        await stripe_api.call(lambda client: apply_setup_session(client, obj))
    try:
        async with write_transaction():
            if await _seen(event.id):
                return False
            await _RECORD.run(event=event.id, type=event.type[:100], at=datetime.now(UTC))
            await _dispatch(event)
    except Exception as error:
        if _is_duplicate(error) and await _seen(event.id):
            return False
        raise
    return True
