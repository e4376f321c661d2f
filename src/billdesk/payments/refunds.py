"""Refunds: in full or in part, with a reason, each a Stripe Refund with its own key.

The amount is reserved on the charge, under the charge's lock, and the refund
row written before Stripe is called, so two finance people refunding at once can
never refund more than was paid. Automatic refunds of surplus payments (money
that arrived for a charge already paid or cancelled) are refunds of their own
attempt's PaymentIntent and leave the charge's figures alone.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import stripe

from billdesk import audit, clock, outbox
from billdesk.errors import InvalidTransition, NotFound, ValidationFailed
from billdesk.formatting import LocalMoney
from billdesk.i18n import Text, tr
from billdesk.payments import stripe_api
from billdesk.payments.attempts import money_text, notify
from billdesk.payments.states import PAID, ChargeStatus, Locked, locked_charge, move_charge
from billdesk.tables import Charge, Notification, PaymentAttempt, Refund, TicketEvent
from billdesk.tickets import record_event

log = logging.getLogger("billdesk.payments")

Status = ChargeStatus
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
        raise ValidationFailed.field("reason", tr("Give the reason for the refund."))
    if len(reason) > REASON_MAX:
        raise ValidationFailed.field("reason", tr("Keep the reason under %(num)s characters.", num=REASON_MAX))
    if amount is not None and amount <= 0:
        raise ValidationFailed.field("amount", tr("The amount must be more than zero."))
    stripe_api.stripe_client()
    if not await Charge.exists().where(Charge.id == charge_id):
        raise NotFound(tr("There is no such charge."))
    async with locked_charge(charge_id) as locked:
        charge = locked.charge
        if charge["status"] not in REFUNDABLE or not charge["stripe_payment_intent_id"]:
            raise InvalidTransition(
                tr("Only a paid charge can be refunded."),
                errors={"amount": tr("This charge has nothing paid to refund.")},
            )
        left = charge["amount"] - charge["refunded_amount"]
        wanted = left if amount is None else amount
        if wanted <= 0 or wanted > left:
            raise ValidationFailed.field(
                "amount",
                tr(
                    "At most %(amount)s is left to refund.",
                    amount=money_text(left, charge["currency"]),
                ),
            )
        # The amount is reserved now, so two refunds at once can never exceed the charge.
        await Charge.update(
            {Charge.refunded_amount: Charge.refunded_amount + wanted, Charge.updated_at: clock.now()}
        ).where(Charge.id == charge_id)
        rows = await Refund.insert(
            Refund(
                charge=charge_id,
                amount=wanted,
                reason=reason,
                created_by=actor_id,
                idempotency_key=f"billdesk-refund-{charge_id}-{secrets.token_hex(8)}",
                status=Refund.Status.pending,
            )
        ).returning(Refund.id)
        refund_id = int(rows[0]["id"])
        await audit.record(
            "refund.created", target_type="charge", target_id=charge_id,
            target=f"charge {charge_id} (ticket #{charge['ticket']})",
            before={"refunded_amount": charge["refunded_amount"], "currency": charge["currency"]},
            after={"refunded_amount": charge["refunded_amount"] + wanted, "refund": wanted,
                   "currency": charge["currency"], "reason": reason, "refund_id": refund_id},
        )
    await send_refund(refund_id, actor_id=actor_id, refusal_is_error=True)
    return refund_id


async def send_refund(
    refund_id: int, *, actor_id: int | None = None, refusal_is_error: bool = False
) -> str:
    """Ask Stripe for a refund written `pending` (its own idempotency key), and settle it.

    Stripe not answering leaves it pending for the webhook or reconcile. A refusal
    fails it (the reserved amount goes back); with `refusal_is_error` it is also
    raised as a 422 naming `amount`, for the person who asked. Returns "settled",
    "pending" (Stripe did not answer, or has not finished) or "refused".
    """
    row = (
        await Refund.select(
            Refund.id,
            Refund.charge,
            Refund.amount,
            Refund.reason,
            Refund.status,
            Refund.idempotency_key,
            Refund.attempt.stripe_payment_intent_id,
            Refund.charge.stripe_payment_intent_id,
        )
        .where(Refund.id == refund_id)
        .first()
    )
    if row is None or row["status"] != Refund.Status.pending.value:
        return "settled"
    intent_id = row["attempt.stripe_payment_intent_id"] or row["charge.stripe_payment_intent_id"]
    try:
        refund = await stripe_api.call(
            lambda client: client.v1.refunds.create(
                params={
                    "payment_intent": intent_id,
                    "amount": row["amount"],
                    # Stripe's own `reason` is a short list of codes: the words go in metadata.
                    "metadata": {
                        "charge_id": str(row["charge"]),
                        "refund_id": str(refund_id),
                        "reason": row["reason"][:500],
                    },
                },
                options={"idempotency_key": row["idempotency_key"]},
            )
        )
    except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError):
        # Unknown outcome: the refund stays pending and its amount reserved; the
        # refund webhook (or reconcile, with the same key) settles it.
        log.warning("refund %s of charge %s: Stripe did not answer", refund_id, row["charge"])
        return "pending"
    except stripe.StripeError as error:
        await settle_refund(refund_id, status=Refund.Status.failed, stripe_refund_id=None)
        message = error.user_message or str(error)
        log.warning("refund %s of charge %s refused by Stripe: %s", refund_id, row["charge"],
                    message)
        if refusal_is_error:
            raise ValidationFailed.field(
                "amount", tr("Stripe refused the refund: %(reason)s", reason=message)
            ) from None
        return "refused"
    await settle_refund(
        refund_id,
        status=Refund.Status(_refund_status(refund.status)),
        stripe_refund_id=refund.id,
        actor_id=actor_id,
    )
    return "pending" if refund.status == "pending" else "settled"


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
    reconciled: bool = False,
) -> bool:
    """Move a refund to its final state and keep the charge's refunded amount in step.

    The automatic refund of a surplus payment belongs to its attempt: it never
    changes the charge's own refunded amount or status. `reconciled`: the move was
    learnt by reconcile, and goes in the audit log.
    """
    head = await Refund.select(Refund.charge).where(Refund.id == refund_id).first()
    if head is None:
        return False
    async with locked_charge(head["charge"]) as locked:
        row = (
            await Refund.select(
                Refund.status, Refund.amount, Refund.stripe_refund_id, Refund.attempt,
                Refund.automatic,
            )
            .where(Refund.id == refund_id)
            .first()
        )
        assert row is not None
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
        charge = locked.charge
        if reconciled:
            await audit.record(
                "refund.reconciled", target_type="charge", target_id=charge["id"],
                target=f"charge {charge['id']} (ticket #{charge['ticket']})",
                before={"refund_id": refund_id, "status": row["status"]},
                after={"refund_id": refund_id, "status": status.value},
            )
        if row["attempt"] is None:
            if failed:
                # Give back the reserved amount.
                await Charge.update(
                    {Charge.refunded_amount: Charge.refunded_amount - row["amount"]}
                ).where(Charge.id == charge["id"])
                charge["refunded_amount"] -= row["amount"]
            await _restatus_charge(locked)
        amount_text = money_text(row["amount"], charge["currency"])
        what = "surplus payment of " + amount_text if row["attempt"] else amount_text
        if status == Refund.Status.succeeded:
            await outbox.publish(
                outbox.CHARGE_REFUNDED, ticket_id=charge["ticket"], charge_id=charge["id"],
                refund_id=refund_id, amount=row["amount"], currency=charge["currency"],
                automatic=bool(row["automatic"]),
            )
            await record_event(
                ticket_id=charge["ticket"],
                kind=TicketEvent.Kind.refund,
                actor_id=actor_id,
                old_value="",
                new_value=f"refunded {what}" + (" automatically" if row["automatic"] else ""),
                text=_refunded_line(row, charge["currency"]),
            )
            if not row["attempt"]:
                await notify(
                    charge["customer"],
                    Notification.Kind.refund_issued,
                    charge["ticket"],
                    tr(
                        "%(amount)s refunded for ticket #%(id)s.",
                        amount=amount_text,
                        id=charge["ticket"],
                    ),
                )
        elif failed:
            if row["attempt"]:
                log.error("automatic refund %s of a surplus payment %s", refund_id, status.value)
            await record_event(
                ticket_id=charge["ticket"],
                kind=TicketEvent.Kind.refund,
                actor_id=actor_id,
                old_value="",
                new_value=f"refund of {what} {status.value}",
                text=_refund_failed_line(row, charge["currency"], status),
            )
    return True


def _refunded_line(row: dict[str, Any], currency: str) -> Text:
    amount = LocalMoney(row["amount"], currency)
    if row["attempt"]:
        if row["automatic"]:
            return tr("The surplus payment of %(amount)s refunded automatically", amount=amount)
        return tr("The surplus payment of %(amount)s refunded", amount=amount)
    if row["automatic"]:
        return tr("%(amount)s refunded automatically", amount=amount)
    return tr("%(amount)s refunded", amount=amount)


def _refund_failed_line(row: dict[str, Any], currency: str, status: Refund.Status) -> Text:
    amount = LocalMoney(row["amount"], currency)
    if status == Refund.Status.canceled:
        if row["attempt"]:
            return tr("The refund of the surplus payment of %(amount)s was cancelled", amount=amount)
        return tr("The refund of %(amount)s was cancelled", amount=amount)
    if row["attempt"]:
        return tr("The refund of the surplus payment of %(amount)s failed", amount=amount)
    return tr("The refund of %(amount)s failed", amount=amount)


async def _restatus_charge(locked: Locked) -> None:
    charge = locked.charge
    if charge["status"] not in PAID:
        return
    status = _status_after(charge["refunded_amount"], charge["amount"])
    if status.value != charge["status"]:
        await move_charge(locked, status)


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
    if not payment_intent_id or status != Refund.Status.succeeded:
        return False
    kept = await Charge.select(Charge.id).where(
        Charge.stripe_payment_intent_id == payment_intent_id
    ).first()
    surplus = await PaymentAttempt.select(PaymentAttempt.id, PaymentAttempt.charge).where(
        (PaymentAttempt.stripe_payment_intent_id == payment_intent_id)
        & PaymentAttempt.surplus.eq(True)
    ).first()
    charge_id = kept["id"] if kept else (surplus["charge"] if surplus else None)
    if charge_id is None:
        return False
    attempt_id = None if kept or surplus is None else surplus["id"]
    async with locked_charge(charge_id):
        rows = await Refund.insert(
            Refund(
                charge=charge_id,
                attempt=attempt_id,
                amount=int(refund.amount),
                reason="Refunded in Stripe",
                created_by=None,
                idempotency_key=f"stripe-{refund.id}",
                stripe_refund_id=refund.id,
                status=Refund.Status.pending,
            )
        ).returning(Refund.id)
        if attempt_id is None:
            await Charge.update(
                {Charge.refunded_amount: Charge.refunded_amount + int(refund.amount)}
            ).where(Charge.id == charge_id)
    return await settle_refund(rows[0]["id"], status=status, stripe_refund_id=refund.id)
