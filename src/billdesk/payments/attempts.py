"""What Stripe said about an attempt, written through the tables of moves.

Each function here runs inside `locked_charge()` and is the only way its news
reaches the database, whoever brings it: the charge path, the webhook, Checkout's
return page, reconcile or a cancellation.

- Money that arrived (`record_success`) is never ignored: it pays the charge while the
  charge is unpaid, whichever attempt brought it; once the charge is paid by another
  attempt or cancelled, it is a surplus payment, refunded automatically.
- A refusal (`record_decline`) or a lost answer (`record_unknown`) moves the charge
  only when it is about the charge's current attempt: news of an older attempt is
  written on that attempt and changes nothing else.
"""

from __future__ import annotations

import logging
from typing import Any

from billdesk import clock, formatting, jobs, outbox
from billdesk.i18n import catalog_text, tr
from billdesk.payments.states import (
    AttemptStatus,
    ChargeStatus,
    Locked,
    move_attempt,
    move_charge,
    update_ticket,
)
from billdesk.sla import timers
from billdesk.sla.policy import Policy, policy_for, policy_from_row
from billdesk.tables import Charge, Notification, PaymentAttempt, Refund, Ticket, TicketEvent
from billdesk.tickets.lifecycle import Action, next_status, record_event

log = logging.getLogger("billdesk.payments")

# Kept on the charge in English; pages show them in the reader's language (`catalog_text`).
DECLINED = tr("Your card was declined.")
SURPLUS_AFTER_CANCEL = tr("Paid after the ticket was cancelled: refunded automatically.")
SURPLUS_SECOND = tr("A second payment for a ticket already paid: refunded automatically.")
# The job sending an automatic refund to Stripe (payments/jobs.py).
SEND_REFUND = "payments.send_refund"
# The job reading the paying card and Stripe's receipt link onto a paid charge (payments/jobs.py).
NOTE_CARD = "payments.note_card"


def money_text(amount: int, currency: str) -> str:
    """The amount as a person reads it, in the language of whoever reads it."""
    return formatting.LocalMoney(amount, currency)


async def notify(
    user_id: int, kind: Notification.Kind, ticket_id: int, text: str,
    locked: Locked | None = None,
) -> None:
    """Tell the customer; with `locked`, in the language read with the locked ticket."""
    from billdesk import notifications

    await notifications.notify(
        user_id=user_id, kind=kind, ticket_id=ticket_id, text=text,
        language=(locked.ticket["customer_language"] or "") if locked is not None else None,
    )


async def record_success(
    locked: Locked,
    attempt: dict[str, Any],
    *,
    payment_intent_id: str | None,
    checkout_session_id: str | None = None,
) -> None:
    """Stripe took the money for `attempt`.

    While the charge is unpaid the attempt pays it and the ticket joins the queue.
    Otherwise the payment is a surplus: recorded, told to the customer, and its
    automatic refund is written with the job that sends it to Stripe, in this
    transaction.
    """
    intent_id = payment_intent_id or attempt["stripe_payment_intent_id"]
    charge = locked.charge
    if attempt["status"] == AttemptStatus.succeeded.value:
        return
    # Read before anything is written, so that the writes below can go together
    # (billdesk.sql.batched_writes): the paid targets the ticket's clock starts with.
    policy = None
    if locked.unpaid and locked.ticket["status"] == Ticket.Status.awaiting_payment.value:
        policy = (
            policy_from_row(locked.service_level)
            if locked.service_level_read
            else await policy_for(locked.ticket["department"])
        )
    await move_attempt(
        locked, attempt, AttemptStatus.succeeded,
        stripe_payment_intent_id=intent_id, failure_reason="",
    )
    if locked.unpaid:
        await _pay_charge(locked, attempt, intent_id, checkout_session_id, policy)
        return
    if charge["status"] != ChargeStatus.canceled.value and charge[
        "stripe_payment_intent_id"
    ] in (None, intent_id):
        # The attempt that paid the charge, reported once more.
        return
    await _surplus(locked, attempt, intent_id)


async def _pay_charge(
    locked: Locked, attempt: dict[str, Any], intent_id: str | None, session_id: str | None,
    policy: Policy | None,
) -> None:
    charge, ticket = locked.charge, locked.ticket
    old = charge["status"]
    await move_charge(
        locked, ChargeStatus.succeeded,
        paid_at=clock.now(),
        stripe_payment_intent_id=intent_id,
        stripe_checkout_session_id=session_id or attempt["stripe_checkout_session_id"]
        or charge["stripe_checkout_session_id"],
        failure_reason="",
    )
    await record_event(
        ticket_id=ticket["id"], kind=TicketEvent.Kind.charge, actor_id=None,
        old_value=old, new_value=ChargeStatus.succeeded.value,
    )
    if ticket["status"] == Ticket.Status.awaiting_payment.value:
        assert policy is not None
        new_status = next_status(ticket["status"], Action.pay)
        # The paid ticket joins the queue and its service-level clock starts (with the
        # paid targets), in one update of the locked row: what `sla.timers.on_ticket_event`
        # writes for this move.
        moved = {"status": new_status.value}
        moved.update(
            timers.start({**ticket, **moved}, policy, clock.now(), paid=True)
        )
        await update_ticket(ticket["id"], moved)
        await record_event(
            ticket_id=ticket["id"], kind=TicketEvent.Kind.status, actor_id=None,
            old_value=ticket["status"], new_value=new_status.value, clock_moved=True,
        )
        ticket.update(moved)
    if intent_id:
        # Read from Stripe after this transaction, never under the charge's lock.
        await jobs.enqueue_later(
            NOTE_CARD, {"charge_id": charge["id"], "payment_intent_id": intent_id}
        )
    await outbox.publish(
        outbox.CHARGE_SUCCEEDED, ticket_id=ticket["id"], charge_id=charge["id"],
        amount=charge["amount"], currency=charge["currency"],
    )
    await notify(
        charge["customer"], Notification.Kind.payment_succeeded, ticket["id"],
        tr(
            "Payment of %(amount)s received for ticket #%(id)s. It is now in the support queue.",
            amount=money_text(charge["amount"], charge["currency"]),
            id=ticket["id"],
        ),
        locked,
    )


async def _surplus(locked: Locked, attempt: dict[str, Any], intent_id: str | None) -> None:
    charge, ticket = locked.charge, locked.ticket
    cancelled = charge["status"] == ChargeStatus.canceled.value
    reason = SURPLUS_AFTER_CANCEL if cancelled else SURPLUS_SECOND
    log.warning(
        "charge %s: surplus payment %s on attempt %s (%s); refunding it",
        charge["id"], intent_id, attempt["number"], charge["status"],
    )
    await PaymentAttempt.update({PaymentAttempt.surplus: True}).where(
        PaymentAttempt.id == attempt["id"]
    )
    attempt["surplus"] = True
    await Charge.update({Charge.surplus_payments: Charge.surplus_payments + 1}).where(
        Charge.id == charge["id"]
    )
    rows = await Refund.insert(
        Refund(
            charge=charge["id"],
            attempt=attempt["id"],
            automatic=True,
            amount=attempt["amount"],
            reason=reason,
            created_by=None,
            idempotency_key=f"billdesk-surplus-refund-{attempt['id']}",
            status=Refund.Status.pending,
        )
    ).returning(Refund.id)
    await jobs.enqueue(SEND_REFUND, {"refund_id": rows[0]["id"]})
    amount = money_text(attempt["amount"], attempt["currency"])
    await record_event(
        ticket_id=ticket["id"], kind=TicketEvent.Kind.charge, actor_id=None,
        old_value="", new_value=f"surplus payment of {amount} received, refunding it",
        text=tr(
            "A surplus payment of %(amount)s arrived; it is being refunded",
            amount=formatting.LocalMoney(attempt["amount"], attempt["currency"]),
        ),
    )
    await notify(
        charge["customer"], Notification.Kind.refund_issued, ticket["id"],
        tr(
            "A payment of %(amount)s for ticket #%(id)s arrived after you cancelled it. "
            "It is being refunded to you automatically.",
            amount=amount,
            id=ticket["id"],
        )
        if cancelled
        else tr(
            "A payment of %(amount)s for ticket #%(id)s arrived although the ticket was "
            "already paid. It is being refunded to you automatically.",
            amount=amount,
            id=ticket["id"],
        ),
        locked,
    )


async def record_decline(
    locked: Locked, attempt: dict[str, Any], *, reason: str, payment_intent_id: str | None = None
) -> bool:
    """Stripe refused `attempt` (declined, needs authentication, no card). True if the charge moved.

    Only the current attempt of an unpaid charge moves the charge to `requires_payment`
    (and tells the customer); a refusal of an older attempt is written on it alone.
    """
    if attempt["status"] in (AttemptStatus.succeeded.value, AttemptStatus.canceled.value):
        return False
    values: dict[str, Any] = {"failure_reason": reason}
    if payment_intent_id:
        values["stripe_payment_intent_id"] = payment_intent_id
    await move_attempt(locked, attempt, AttemptStatus.declined, **values)
    if not (locked.is_current(attempt) and locked.unpaid):
        log.info("charge %s: refusal of old attempt %s ignored", locked.charge["id"],
                 attempt["number"])
        return False
    charge = locked.charge
    old_status, old_reason = charge["status"], charge["failure_reason"]
    await move_charge(
        locked, ChargeStatus.requires_payment, failure_reason=reason,
        stripe_payment_intent_id=attempt["stripe_payment_intent_id"],
    )
    if old_status != ChargeStatus.requires_payment.value:
        await record_event(
            ticket_id=charge["ticket"], kind=TicketEvent.Kind.charge, actor_id=None,
            old_value=old_status, new_value=ChargeStatus.requires_payment.value,
        )
    if old_status != ChargeStatus.requires_payment.value or old_reason != reason:
        await outbox.publish(
            outbox.CHARGE_PAYMENT_FAILED, ticket_id=charge["ticket"], charge_id=charge["id"],
            reason=reason,
        )
        await notify(
            charge["customer"], Notification.Kind.payment_failed, charge["ticket"],
            tr(
                "Payment for ticket #%(id)s did not go through: %(reason)s",
                id=charge["ticket"],
                reason=catalog_text(reason),
            ),
            locked,
        )
    return True


async def record_unknown(
    locked: Locked, attempt: dict[str, Any], *, reason: str, payment_intent_id: str | None = None
) -> None:
    """Stripe's answer to `attempt` was lost: it may be retried with the same key."""
    if attempt["status"] in (AttemptStatus.succeeded.value, AttemptStatus.canceled.value):
        return
    values: dict[str, Any] = {"failure_reason": reason}
    if payment_intent_id:
        values["stripe_payment_intent_id"] = payment_intent_id
    await move_attempt(locked, attempt, AttemptStatus.unknown, **values)
    if locked.is_current(attempt) and locked.unpaid:
        old = locked.charge["status"]
        await move_charge(
            locked, ChargeStatus.pending, failure_reason=reason,
            stripe_payment_intent_id=attempt["stripe_payment_intent_id"],
        )
        if old != ChargeStatus.pending.value:
            await record_event(
                ticket_id=locked.charge["ticket"], kind=TicketEvent.Kind.charge, actor_id=None,
                old_value=old, new_value=ChargeStatus.pending.value,
            )


async def record_closed(locked: Locked, attempt: dict[str, Any]) -> None:
    """Stripe confirmed that `attempt` can no longer be paid (cancelled or expired)."""
    if attempt["status"] in (AttemptStatus.canceled.value, AttemptStatus.succeeded.value):
        return
    await move_attempt(locked, attempt, AttemptStatus.canceled)


def find_attempt(locked: Locked, *, payment_intent_id: str | None = None,
                 checkout_session_id: str | None = None,
                 number: int | None = None) -> dict[str, Any] | None:
    """The locked charge's attempt by its PaymentIntent, its Checkout Session or its number."""
    for attempt in locked.attempts:
        if payment_intent_id and attempt["stripe_payment_intent_id"] == payment_intent_id:
            return attempt
        if checkout_session_id and attempt["stripe_checkout_session_id"] == checkout_session_id:
            return attempt
    if number is not None:
        return locked.attempt(number)
    return None
