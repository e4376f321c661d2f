"""Stripe's webhook events: verified, each handled once, moving charges and refunds.

The event id is stored in the same transaction as the changes the event makes,
so a failure while handling rolls both back and Stripe's retry handles it again,
while a replay of an event already handled changes nothing.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import stripe

from billdesk import clock
from billdesk.payments import stripe_api
from billdesk.payments.cards import apply_setup_session
from billdesk.payments.charges import (
    DECLINED,
    Status,
    apply_checkout_session,
    atomic,
    settle_paid,
    settle_unpaid,
)
from billdesk.payments.refunds import record_stripe_refund
from billdesk.settings import get_settings
from billdesk.tables import Charge, StripeEvent

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
    metadata = stripe_api.metadata_of(intent)
    value = metadata.get("charge_id")
    if value and str(value).isdigit():
        row = await Charge.select(Charge.id).where(Charge.id == int(value)).first()
        if row is not None:
            return row["id"]
    row = await Charge.select(Charge.id).where(Charge.stripe_payment_intent_id == intent.id).first()
    return row["id"] if row else None


async def _dispatch(event: stripe.Event) -> None:
    kind = event.type
    obj: Any = event.data.object
    if kind == "payment_intent.succeeded":
        charge_id = await _charge_id_for(obj)
        if charge_id is None:
            log.info("webhook %s: no charge for PaymentIntent %s", event.id, obj.id)
            return
        await settle_paid(charge_id, payment_intent_id=obj.id)
    elif kind == "payment_intent.payment_failed":
        charge_id = await _charge_id_for(obj)
        if charge_id is None:
            log.info("webhook %s: no charge for PaymentIntent %s", event.id, obj.id)
            return
        error = getattr(obj, "last_payment_error", None)
        reason = (getattr(error, "message", None) if error is not None else None) or DECLINED
        await settle_unpaid(
            charge_id, status=Status.requires_payment, reason=str(reason), payment_intent_id=obj.id
        )
    elif kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        if getattr(obj, "mode", None) == "payment" and not await apply_checkout_session(obj):
            log.info("webhook %s: checkout session %s settled nothing", event.id, obj.id)
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
    return await StripeEvent.exists().where(StripeEvent.event_id == event_id)


async def handle_event(event: stripe.Event) -> bool:
    """Handle a verified event once; False when it was already handled."""
    if await _seen(event.id):
        return False
    obj: Any = event.data.object
    if event.type == "checkout.session.completed" and getattr(obj, "mode", None) == "setup":
        # Only Stripe changes here, and setting the default card twice is harmless.
        await stripe_api.call(lambda client: apply_setup_session(client, obj))
    try:
        async with atomic():
            if await _seen(event.id):
                return False
            await StripeEvent.insert(StripeEvent(event_id=event.id, type=event.type[:100]))
            await _dispatch(event)
    except Exception as error:
        if _is_duplicate(error) and await _seen(event.id):
            return False
        raise
    return True
