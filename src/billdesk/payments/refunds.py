"""Refunds: in full or in part, with a reason, each a Stripe Refund with its own key.

The amount is reserved on the charge (a conditional `refunded_amount` update)
and the refund row written before Stripe is called, so two finance people
refunding at once can never refund more than was paid.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import stripe

from billdesk.errors import InvalidTransition, NotFound, ValidationFailed
from billdesk.payments import stripe_api
from billdesk.payments.charges import Status, atomic, notify, now
from billdesk.tables import Charge, Notification, Refund, TicketEvent
from billdesk.tickets import record_event

log = logging.getLogger("billdesk.payments")

REFUNDABLE = (Status.succeeded.value, Status.partially_refunded.value)
REASON_MAX = 500


def _status_after(refunded: int, amount: int) -> Status:
    if refunded <= 0:
        return Status.succeeded
    return Status.refunded if refunded >= amount else Status.partially_refunded


async def refund_charge(
    *, charge_id: int, amount: int | None, reason: str, actor_id: int | None
) -> int:
    """Refund `amount` (None: what is left) of a paid charge; returns the refund id.

    More than what is left, a non-positive amount or no reason → 422 naming the field.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed.field("reason", "Give the reason for the refund.")
    if len(reason) > REASON_MAX:
        raise ValidationFailed.field("reason", f"Keep the reason under {REASON_MAX} characters.")
    if amount is not None and amount <= 0:
        raise ValidationFailed.field("amount", "The amount must be more than zero.")
    stripe_api.stripe_client()
    async with atomic():
        charge = (
            await Charge.select(
                Charge.id,
                Charge.ticket,
                Charge.customer,
                Charge.amount,
                Charge.currency,
                Charge.status,
                Charge.refunded_amount,
                Charge.stripe_payment_intent_id,
            )
            .where(Charge.id == charge_id)
            .first()
        )
        if charge is None:
            raise NotFound("There is no such charge.")
        if charge["status"] not in REFUNDABLE or not charge["stripe_payment_intent_id"]:
            raise InvalidTransition(
                "Only a paid charge can be refunded.",
                errors={"amount": "This charge has nothing paid to refund."},
            )
        left = charge["amount"] - charge["refunded_amount"]
        wanted = left if amount is None else amount
        if wanted <= 0 or wanted > left:
            raise ValidationFailed.field(
                "amount",
                f"At most {left / 100:.2f} {charge['currency'].upper()} is left to refund.",
            )
        reserved = (
            await Charge.update(
                {
                    Charge.refunded_amount: Charge.refunded_amount + wanted,
                    Charge.updated_at: now(),
                }
            )
            .where((Charge.id == charge_id) & (Charge.refunded_amount == charge["refunded_amount"]))
            .returning(Charge.id)
        )
        if not reserved:
            raise ValidationFailed.field(
                "amount", "Another refund was just made. Check the charge again."
            )
        key = f"billdesk-refund-{charge_id}-{secrets.token_hex(8)}"
        rows = await Refund.insert(
            Refund(
                charge=charge_id,
                amount=wanted,
                reason=reason,
                created_by=actor_id,
                idempotency_key=key,
                status=Refund.Status.pending,
            )
        ).returning(Refund.id)
        refund_id = rows[0]["id"]

    try:
        refund = await stripe_api.call(
            lambda client: client.v1.refunds.create(
                params={
                    "payment_intent": charge["stripe_payment_intent_id"],
                    "amount": wanted,
                    # Stripe's own `reason` is a short list of codes: the words go in metadata.
                    "metadata": {
                        "charge_id": str(charge_id),
                        "refund_id": str(refund_id),
                        "reason": reason[:500],
                    },
                },
                options={"idempotency_key": key},
            )
        )
    except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError):
        # Unknown outcome: the refund stays pending and its amount reserved; the
        # refund webhook (or a retry with the same key) settles it.
        log.warning("refund %s of charge %s: Stripe did not answer", refund_id, charge_id)
        return refund_id
    except stripe.StripeError as error:
        await settle_refund(refund_id, status=Refund.Status.failed, stripe_refund_id=None)
        message = error.user_message or str(error)
        raise ValidationFailed.field("amount", f"Stripe refused the refund: {message}") from None
    await settle_refund(
        refund_id,
        status=Refund.Status(_refund_status(refund.status)),
        stripe_refund_id=refund.id,
        actor_id=actor_id,
    )
    return refund_id


def _refund_status(stripe_status: str | None) -> str:
    if stripe_status in ("succeeded", "failed", "canceled"):
        return str(stripe_status)
    return Refund.Status.pending.value


async def settle_refund(
    refund_id: int,
    *,
    status: Refund.Status,
    stripe_refund_id: str | None,
    actor_id: int | None = None,
) -> bool:
    """Move a refund to its final state and keep the charge's refunded amount in step."""
    async with atomic():
        row = (
            await Refund.select(
                Refund.status,
                Refund.amount,
                Refund.charge,
                Refund.stripe_refund_id,
                Refund.charge.ticket,
                Refund.charge.customer,
                Refund.charge.amount,
                Refund.charge.currency,
            )
            .where(Refund.id == refund_id)
            .first()
        )
        if row is None:
            return False
        values: dict[Any, Any] = {Refund.status: status}
        if stripe_refund_id:
            values[Refund.stripe_refund_id] = stripe_refund_id
        if row["status"] == status.value:
            if stripe_refund_id and not row["stripe_refund_id"]:
                await Refund.update(values).where(Refund.id == refund_id)
            return False
        # Only a pending refund moves; a final one is final (except a late failure).
        if row["status"] not in (Refund.Status.pending.value, Refund.Status.succeeded.value):
            return False
        await Refund.update(values).where(Refund.id == refund_id)
        failed = status in (Refund.Status.failed, Refund.Status.canceled)
        if failed:
            # Give back the reserved amount.
            await Charge.update(
                {
                    Charge.refunded_amount: Charge.refunded_amount - row["amount"],
                }
            ).where(Charge.id == row["charge"])
        await _restatus_charge(row["charge"])
        amount_text = f"{row['amount'] / 100:.2f} {row['charge.currency'].upper()}"
        if status == Refund.Status.succeeded:
            await record_event(
                ticket_id=row["charge.ticket"],
                kind=TicketEvent.Kind.refund,
                actor_id=actor_id,
                old_value="",
                new_value=f"refunded {amount_text}",
            )
            await notify(
                row["charge.customer"],
                Notification.Kind.refund_issued,
                row["charge.ticket"],
                f"{amount_text} refunded for ticket #{row['charge.ticket']}.",
            )
        elif failed:
            await record_event(
                ticket_id=row["charge.ticket"],
                kind=TicketEvent.Kind.refund,
                actor_id=actor_id,
                old_value="",
                new_value=f"refund of {amount_text} {status.value}",
            )
    return True


async def _restatus_charge(charge_id: int) -> None:
    charge = (
        await Charge.select(Charge.amount, Charge.refunded_amount, Charge.status)
        .where(Charge.id == charge_id)
        .first()
    )
    if charge is None or charge["status"] not in (*REFUNDABLE, Status.refunded.value):
        return
    status = _status_after(charge["refunded_amount"], charge["amount"])
    if status.value != charge["status"]:
        await Charge.update({Charge.status: status, Charge.updated_at: now()}).where(
            Charge.id == charge_id
        )


async def record_stripe_refund(*, payment_intent_id: str | None, refund: Any) -> bool:
    """A refund Stripe reports (webhook): settle ours, or record one made in Stripe itself."""
    metadata = stripe_api.metadata_of(refund)
    local = None
    if metadata.get("refund_id") and str(metadata["refund_id"]).isdigit():
        local = (
            await Refund.select(Refund.id).where(Refund.id == int(metadata["refund_id"])).first()
        )
    if local is None:
        local = await Refund.select(Refund.id).where(Refund.stripe_refund_id == refund.id).first()
    status = Refund.Status(_refund_status(getattr(refund, "status", None)))
    if local is not None:
        return await settle_refund(local["id"], status=status, stripe_refund_id=refund.id)
    if not payment_intent_id:
        return False
    charge = (
        await Charge.select(Charge.id, Charge.amount, Charge.refunded_amount)
        .where(Charge.stripe_payment_intent_id == payment_intent_id)
        .first()
    )
    if charge is None or status != Refund.Status.succeeded:
        return False
    async with atomic():
        rows = await Refund.insert(
            Refund(
                charge=charge["id"],
                amount=int(refund.amount),
                reason="Refunded in Stripe",
                created_by=None,
                idempotency_key=f"stripe-{refund.id}",
                stripe_refund_id=refund.id,
                status=Refund.Status.pending,
            )
        ).returning(Refund.id)
        await Charge.update(
            {
                Charge.refunded_amount: Charge.refunded_amount + int(refund.amount),
            }
        ).where(Charge.id == charge["id"])
    return await settle_refund(rows[0]["id"], status=status, stripe_refund_id=refund.id)
