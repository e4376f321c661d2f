"""Recovery: ask Stripe about every charge left `pending` or `requires_payment`.

A process that died between Stripe's answer and the database write leaves a
charge `pending` without its PaymentIntent id; the PaymentIntent is found again by
the metadata the charge put on it (`charge_id`). Each charge is then settled
through the same conditional writes as the charge path and the webhook.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import stripe

from billdesk.payments import stripe_api
from billdesk.payments.charges import (
    UNREACHABLE,
    Status,
    load_charge,
    now,
    settle_paid,
    settle_unpaid,
)
from billdesk.payments.refunds import settle_refund
from billdesk.tables import Charge, Refund

log = logging.getLogger("billdesk.payments")

# A charge younger than this may still have its request in flight: leave it be.
IN_FLIGHT = timedelta(minutes=2)
OPEN_INTENT = ("requires_payment_method", "requires_action", "requires_confirmation")
LOST = "The payment did not reach the payment provider. Retry or pay on the payment page."


@dataclass
class ReconcileReport:
    checked: int = 0
    paid: int = 0
    unpaid: int = 0
    unchanged: int = 0
    refunds_settled: int = 0
    errors: list[str] = field(default_factory=list)


def _intents_by_charge(client: stripe.StripeClient) -> dict[str, list[Any]]:
    """Every PaymentIntent carrying a billdesk charge id, grouped by that id."""
    found: dict[str, list[Any]] = {}
    for intent in client.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter():
        charge_id = stripe_api.metadata_of(intent).get("charge_id")
        if charge_id:
            found.setdefault(str(charge_id), []).append(intent)
    return found


def _best(intents: list[Any]) -> Any | None:
    """The intent that tells the most: a paid one, else one in progress, else the newest."""
    if not intents:
        return None
    for wanted in ("succeeded", "processing"):
        for intent in intents:
            if intent.status == wanted:
                return intent
    return max(intents, key=lambda intent: intent.created or 0)


async def reconcile_charge(
    charge: dict[str, Any],
    *,
    intents: dict[str, list[Any]] | None = None,
    cancel_open_intent: bool = False,
    report: ReconcileReport | None = None,
) -> None:
    """Settle one unpaid charge from what Stripe knows about it."""
    report = report or ReconcileReport()
    report.checked += 1
    charge_key = str(charge["id"])

    def look(client: stripe.StripeClient) -> Any | None:
        if charge["stripe_payment_intent_id"]:
            candidates = [client.v1.payment_intents.retrieve(charge["stripe_payment_intent_id"])]
        elif intents is not None:
            candidates = list(intents.get(charge_key, []))
        else:
            candidates = list(_intents_by_charge(client).get(charge_key, []))
        if charge["stripe_checkout_session_id"] and not any(
            c.status == "succeeded" for c in candidates
        ):
            try:
                session = client.v1.checkout.sessions.retrieve(charge["stripe_checkout_session_id"])
            except stripe.StripeError:
                session = None
            if session is not None and session.payment_status == "paid":
                intent_id = stripe_api.object_id(session.payment_intent)
                if intent_id:
                    candidates.append(client.v1.payment_intents.retrieve(intent_id))
        intent = _best(candidates)
        if cancel_open_intent and intent is not None and intent.status in OPEN_INTENT:
            intent = client.v1.payment_intents.cancel(intent.id)
        return intent

    try:
        intent = await stripe_api.call(look)
    except stripe.StripeError as error:
        report.errors.append(f"charge {charge['id']}: {error}")
        return
    if intent is not None and intent.status == "succeeded":
        moved = await settle_paid(charge["id"], payment_intent_id=intent.id)
        report.paid += int(moved)
        report.unchanged += int(not moved)
        return
    if intent is not None and intent.status == "processing":
        report.unchanged += 1
        return
    if intent is not None:
        last_error = getattr(intent, "last_payment_error", None)
        message = getattr(last_error, "message", None) if last_error is not None else None
        reason = charge["failure_reason"] or message or "The payment was not completed."
        if charge["failure_reason"] == UNREACHABLE:
            reason = message or "The payment was not completed."
        moved = await settle_unpaid(
            charge["id"],
            status=Status.requires_payment,
            reason=reason,
            payment_intent_id=intent.id,
        )
        report.unpaid += int(moved and charge["status"] != Status.requires_payment.value)
        report.unchanged += int(not moved or charge["status"] == Status.requires_payment.value)
        return
    if charge["status"] == Status.pending.value and (
        cancel_open_intent or charge["created_at"] < now() - IN_FLIGHT
    ):
        await settle_unpaid(charge["id"], status=Status.requires_payment, reason=LOST)
        report.unpaid += 1
        return
    report.unchanged += 1


async def reconcile(*, include_recent: bool = False) -> ReconcileReport:
    """Ask Stripe about every `pending` or `requires_payment` charge and settle it.

    `include_recent` also settles pending charges younger than a couple of
    minutes (whose request might still be under way); tests and operators who
    know no request is running use it.
    """
    stripe_api.stripe_client()
    report = ReconcileReport()
    await reconcile_refunds(report, include_recent=include_recent)
    rows = (
        await Charge.select(Charge.id)
        .where(Charge.status.is_in([Status.pending.value, Status.requires_payment.value]))
        .order_by(Charge.id)
    )
    if not rows:
        log.info("reconcile: %s", report)
        return report
    charges = [await load_charge(charge_id=row["id"]) for row in rows]
    need_listing = any(c and not c["stripe_payment_intent_id"] for c in charges)
    intents: dict[str, list[Any]] = {}
    if need_listing:
        try:
            intents = await stripe_api.call(_intents_by_charge)
        except stripe.StripeError as error:
            report.errors.append(f"listing PaymentIntents: {error}")
            return report
    for charge in charges:
        if charge is None:
            continue
        if include_recent:
            charge = {**charge, "created_at": charge["created_at"] - IN_FLIGHT}
        await reconcile_charge(charge, intents=intents, report=report)
    log.info("reconcile: %s", report)
    return report


async def reconcile_refunds(report: ReconcileReport, *, include_recent: bool = False) -> None:
    """Settle refunds left `pending` because Stripe's answer was lost.

    Stripe's refunds of the charge's PaymentIntent are listed and matched by the
    `refund_id` put in their metadata; a refund Stripe does not have, once it is
    old enough not to be in flight, failed, and its amount is left to refund again.
    """
    rows = await Refund.select(
        Refund.id, Refund.created_at, Refund.charge.stripe_payment_intent_id
    ).where(Refund.status == Refund.Status.pending.value)
    for row in rows:
        intent_id = row["charge.stripe_payment_intent_id"]
        if not intent_id:
            continue
        try:
            listed = await stripe_api.call(
                lambda client, intent_id=intent_id: list(
                    client.v1.refunds.list(
                        params={"payment_intent": intent_id, "limit": 100}
                    ).auto_paging_iter()
                )
            )
        except stripe.StripeError as error:
            report.errors.append(f"refund {row['id']}: {error}")
            continue
        found = next(
            (r for r in listed if stripe_api.metadata_of(r).get("refund_id") == str(row["id"])),
            None,
        )
        if found is not None and found.status in ("succeeded", "failed", "canceled"):
            moved = await settle_refund(
                row["id"], status=Refund.Status(found.status), stripe_refund_id=found.id
            )
            report.refunds_settled += int(moved)
        elif found is None and (include_recent or row["created_at"] < now() - IN_FLIGHT):
            moved = await settle_refund(
                row["id"], status=Refund.Status.failed, stripe_refund_id=None
            )
            report.refunds_settled += int(moved)
