"""Recovery: ask Stripe about every attempt that may still take money, and about pending refunds.

A process that died between two steps of an attempt leaves it `started` (its lease
expires) or `unknown`; an attempt refused earlier may still hold an open
PaymentIntent. Each such attempt is looked up in Stripe by its PaymentIntent or
Checkout Session and settled through the same functions as the charge path and
the webhook (`attempts.record_*`), under the same locks. News of money is always
applied; news of a refusal only when no process holds the charge's lease (nobody
is asking Stripe about it right now).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import stripe

from billdesk import audit, clock
from billdesk.i18n import tr
from billdesk.payments import stripe_api
from billdesk.payments.attempts import find_attempt, record_closed, record_decline, record_success
from billdesk.payments.charges import UNREACHABLE
from billdesk.payments.refunds import send_refund, settle_refund
from billdesk.payments.states import (
    LEASE,
    LIVE_ATTEMPTS,
    UNPAID,
    AttemptStatus,
    ChargeStatus,
    Locked,
    locked_charge,
    move_charge,
)
from billdesk.tables import Charge, PaymentAttempt, Refund, TicketEvent
from billdesk.tickets.lifecycle import record_event

log = logging.getLogger("billdesk.payments")

LOST = "The payment did not reach the payment provider. Retry or pay on the payment page."


@dataclass
class ReconcileReport:
    checked: int = 0
    paid: int = 0
    unpaid: int = 0
    unchanged: int = 0
    refunds_settled: int = 0
    errors: list[str] = field(default_factory=list)


def _look_up(client: stripe.StripeClient, attempt: dict[str, Any]) -> tuple[str, str, str | None]:
    """Where an attempt stands in Stripe: (state, reason, PaymentIntent id).

    state: succeeded, declined, canceled, processing, open, or missing (nothing in
    Stripe can take money for it: no PaymentIntent or session was ever written).
    """
    if attempt["method"] == PaymentAttempt.Method.checkout.value:
        session_id = attempt["stripe_checkout_session_id"]
        if not session_id:
            return "missing", "", None
        session = client.v1.checkout.sessions.retrieve(session_id)
        intent_id = stripe_api.object_id(getattr(session, "payment_intent", None))
        if getattr(session, "payment_status", None) == "paid":
            return "succeeded", "", intent_id
        if getattr(session, "status", None) == "expired":
            return "canceled", "", intent_id
        if getattr(session, "status", None) == "complete":
            return "processing", "", intent_id
        return "open", "", intent_id
    intent_id = attempt["stripe_payment_intent_id"]
    if not intent_id:
        return "missing", "", None
    intent = client.v1.payment_intents.retrieve(intent_id)
    if intent.status == "succeeded":
        return "succeeded", "", intent_id
    if intent.status == "processing":
        return "processing", "", intent_id
    if intent.status == "canceled":
        return "canceled", "", intent_id
    if intent.status == "requires_confirmation" and attempt["status"] in (
        AttemptStatus.started.value, AttemptStatus.unknown.value
    ):
        # Created and never confirmed: it cannot take money; the attempt may be retried.
        return "missing", "", intent_id
    last_error = getattr(intent, "last_payment_error", None)
    message = getattr(last_error, "message", None) if last_error is not None else None
    return "declined", str(message or "The payment was not completed."), intent_id


async def reconcile_charge(
    charge_id: int, *, report: ReconcileReport, include_recent: bool = False
) -> None:
    """Settle one charge's live attempts from what Stripe knows about them."""
    report.checked += 1
    async with locked_charge(charge_id) as snapshot:
        attempts = [dict(a) for a in snapshot.attempts if a["status"] in LIVE_ATTEMPTS]
    looked: list[tuple[dict[str, Any], tuple[str, str, str | None]]] = []
    for attempt in attempts:
        try:
            answer = await stripe_api.call(partial(_look_up, attempt=attempt))
        except stripe.StripeError as error:
            report.errors.append(f"charge {charge_id}, attempt {attempt['number']}: {error}")
            return
        looked.append((attempt, answer))
    moved = False
    async with locked_charge(charge_id) as locked:
        busy = locked.lease_held() and not include_recent
        was_unpaid = locked.unpaid
        status_before = locked.charge["status"]
        for seen, (state, reason, intent_id) in looked:
            found = find_attempt(locked, number=seen["number"])
            assert found is not None
            attempt = found
            if state == "succeeded":
                await record_success(locked, attempt, payment_intent_id=intent_id)
                moved = True
            elif busy or state in ("processing", "open"):
                continue
            elif state == "declined":
                moved |= await record_decline(
                    locked, attempt, reason=_reason(locked, reason), payment_intent_id=intent_id
                )
            elif state in ("canceled", "missing"):
                asked = attempt["status"] in (
                    AttemptStatus.started.value, AttemptStatus.unknown.value
                )
                if asked and locked.is_current(attempt) and locked.unpaid:
                    moved |= await record_decline(
                        locked, attempt, reason=LOST if state == "missing" else
                        tr("The payment was cancelled."),
                    )
                await record_closed(locked, attempt)
        if not busy and not looked:
            moved |= await _never_started(locked, include_recent)
        paid = was_unpaid and locked.charge["status"] == ChargeStatus.succeeded.value
        if locked.charge["status"] != status_before:
            charge = locked.charge
            await audit.record(
                "charge.reconciled", target_type="charge", target_id=charge_id,
                target=f"charge {charge_id} (ticket #{charge['ticket']})",
                before={"status": status_before},
                after={"status": charge["status"], "amount": charge["amount"],
                       "currency": charge["currency"]},
            )
    if paid:
        report.paid += 1
    elif moved:
        report.unpaid += 1
    else:
        report.unchanged += 1


def _reason(locked: Locked, fresh: str) -> str:
    """Keep the reason the customer was already given, unless it only said Stripe was unreachable."""
    known = locked.charge["failure_reason"]
    return fresh if not known or known == UNREACHABLE else known


async def _never_started(locked: Locked, include_recent: bool) -> bool:
    """A pending charge with no attempt alive: its process stopped before asking Stripe."""
    charge = locked.charge
    if charge["status"] != ChargeStatus.pending.value:
        return False
    if not include_recent and charge["updated_at"] > clock.now() - LEASE:
        return False
    await move_charge(locked, ChargeStatus.requires_payment, failure_reason=LOST)
    await record_event(
        ticket_id=charge["ticket"], kind=TicketEvent.Kind.charge, actor_id=None,
        old_value=ChargeStatus.pending.value, new_value=ChargeStatus.requires_payment.value,
    )
    return True


async def reconcile(*, include_recent: bool = False) -> ReconcileReport:
    """Ask Stripe about every attempt that may still take money, and settle it.

    Unpaid charges and charges with a live attempt are checked; pending refunds are
    settled (automatic ones sent again with their own key). `include_recent` also
    acts on charges whose lease is still held, for operators who know that no
    process is running.
    """
    stripe_api.stripe_client()
    report = ReconcileReport()
    await reconcile_refunds(report, include_recent=include_recent)
    unpaid = await Charge.select(Charge.id).where(Charge.status.is_in(list(UNPAID)))
    live = await PaymentAttempt.select(PaymentAttempt.charge).where(
        PaymentAttempt.status.is_in(list(LIVE_ATTEMPTS))
    )
    charge_ids = sorted({r["id"] for r in unpaid} | {r["charge"] for r in live})
    for charge_id in charge_ids:
        await reconcile_charge(charge_id, report=report, include_recent=include_recent)
    log.info("reconcile: %s", report)
    return report


def _refunds_of(client: stripe.StripeClient, intent_id: str) -> list[Any]:
    return list(
        client.v1.refunds.list(params={"payment_intent": intent_id, "limit": 100})
        .auto_paging_iter()
    )


async def reconcile_refunds(report: ReconcileReport, *, include_recent: bool = False) -> None:
    """Settle refunds left `pending` because Stripe's answer was lost.

    Stripe's refunds of the PaymentIntent are listed and matched by the `refund_id`
    put in their metadata. A refund Stripe does not have, once it is old enough not
    to be in flight: an automatic one is sent again (same key), a person's one has
    failed and its amount is left to refund again.
    """
    rows = await Refund.select(
        Refund.id,
        Refund.created_at,
        Refund.automatic,
        Refund.attempt.stripe_payment_intent_id,
        Refund.charge.stripe_payment_intent_id,
    ).where(Refund.status == Refund.Status.pending.value)
    for row in rows:
        intent_id = row["attempt.stripe_payment_intent_id"] or row["charge.stripe_payment_intent_id"]
        if not intent_id:
            continue
        try:
            listed = await stripe_api.call(partial(_refunds_of, intent_id=intent_id))
        except stripe.StripeError as error:
            report.errors.append(f"refund {row['id']}: {error}")
            continue
        found = next(
            (r for r in listed if stripe_api.metadata_of(r).get("refund_id") == str(row["id"])),
            None,
        )
        old_enough = include_recent or row["created_at"] < clock.now() - LEASE
        if found is not None and found.status in ("succeeded", "failed", "canceled"):
            moved = await settle_refund(
                row["id"], status=Refund.Status(found.status), stripe_refund_id=found.id,
                reconciled=True,
            )
            report.refunds_settled += int(moved)
        elif found is None and row["automatic"]:
            await send_refund(row["id"])
            after = await Refund.select(Refund.status).where(Refund.id == row["id"]).first()
            report.refunds_settled += int(after is not None and after["status"] != "pending")
        elif found is None and old_enough:
            moved = await settle_refund(
                row["id"], status=Refund.Status.failed, stripe_refund_id=None, reconciled=True
            )
            report.refunds_settled += int(moved)
