"""Paying a ticket on Stripe Checkout: each session is an attempt of the charge.

Opening a session is an attempt like a saved-card one: it takes the lease, closes
what earlier attempts left open, and leaves the charge waiting for the customer
(`requires_payment`) with the session `open`. Stripe's `checkout.session.completed`
webhook, or the customer's return to billdesk, then records the payment through
`attempts.record_success`; a session opened before another attempt was started is
expired in Stripe, so it can no longer be paid.
"""

from __future__ import annotations

import logging
from typing import Any

import stripe

from billdesk.errors import InvalidTransition, PaymentsUnavailable
from billdesk.i18n import tr
from billdesk.payments import stripe_api
from billdesk.payments.attempts import find_attempt, record_closed, record_success
from billdesk.payments.charges import (
    UNREACHABLE,
    ChargeOutcome,
    Started,
    attempt_metadata,
    begin_attempt,
    close_earlier,
    customer_charge,
    outcome_of,
)
from billdesk.payments.states import (
    AttemptStatus,
    ChargeStatus,
    locked_charge,
    move_attempt,
    move_charge,
    release_lease,
)
from billdesk.settings import get_settings
from billdesk.tables import PaymentAttempt
from billdesk.tickets.lifecycle import Action, next_status

log = logging.getLogger("billdesk.payments")

SETTLED = "This ticket's payment is already settled."


async def start_checkout(*, ticket_id: int, customer_id: int) -> str:
    """A Stripe Checkout Session paying this ticket's charge; returns its URL."""
    stripe_api.stripe_client()
    charge = await customer_charge(ticket_id, customer_id)
    next_status(charge["ticket.status"], Action.pay)
    started = await begin_attempt(charge["id"], PaymentAttempt.Method.checkout)
    if started is None:
        raise InvalidTransition(SETTLED, errors={"status": tr("The payment is already settled.")})
    try:
        try:
            earlier = await close_earlier(started)
        except stripe.StripeError as error:
            raise PaymentsUnavailable(
                tr("Stripe's payment page cannot be opened right now. Try again in a moment.")
            ) from error
        if earlier != "closed":
            raise InvalidTransition(SETTLED, errors={"status": tr("The payment is already settled.")})
        stripe_customer_id = await stripe_api.get_or_create_stripe_customer(customer_id)
        session = await stripe_api.checkout_call(
            lambda client: _create_session(client, started, stripe_customer_id)
        )
    except BaseException:
        await _opened(started, None)
        raise
    await _opened(started, session.id)
    return str(session.url)


def _create_session(
    client: stripe.StripeClient, started: Started, stripe_customer_id: str
) -> Any:
    charge, attempt = started.charge, started.attempt
    ticket_id = charge["ticket"]
    base = get_settings().base_url
    metadata = attempt_metadata(charge, attempt["number"])
    return client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "customer": stripe_customer_id,
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": attempt["currency"],
                        "unit_amount": attempt["amount"],
                        "product_data": {"name": f"Support ticket #{ticket_id}"},
                    },
                }
            ],
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "client_reference_id": str(charge["id"]),
            "success_url": f"{base}/tickets/{ticket_id}/checkout/done"
            "?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": f"{base}/tickets/{ticket_id}",
        },
        options={"idempotency_key": attempt["idempotency_key"]},
    )


async def _opened(started: Started, session_id: str | None) -> None:
    """The session is open (or, without one, the attempt never opened); the lease goes back."""
    async with locked_charge(started.charge["id"]) as locked:
        attempt = find_attempt(locked, number=started.attempt["number"])
        assert attempt is not None
        if session_id is None:
            await record_closed(locked, attempt)
        else:
            await move_attempt(locked, attempt, AttemptStatus.open,
                               stripe_checkout_session_id=session_id)
            if locked.unpaid:
                reason = locked.charge["failure_reason"]
                await move_charge(
                    locked, ChargeStatus.requires_payment,
                    stripe_checkout_session_id=session_id,
                    stripe_payment_intent_id=None,
                    failure_reason="" if reason == UNREACHABLE else reason,
                )
        await release_lease(locked, started.token)


async def apply_checkout_session(session: Any) -> bool:
    """Record what a completed payment-mode Checkout Session paid. False if nothing moved."""
    metadata = stripe_api.metadata_of(session)
    charge_id = metadata.get("charge_id") or getattr(session, "client_reference_id", None)
    if not charge_id or not str(charge_id).isdigit():
        return False
    if getattr(session, "payment_status", None) != "paid":
        return False
    number = metadata.get("attempt")
    async with locked_charge(int(charge_id)) as locked:
        attempt = find_attempt(locked, checkout_session_id=session.id) or (
            locked.attempt(int(number)) if number and number.isdigit() else None
        )
        if attempt is None or attempt["method"] != PaymentAttempt.Method.checkout.value:
            log.warning("checkout session %s is not an attempt of charge %s", session.id,
                        charge_id)
            return False
        if attempt["status"] == AttemptStatus.succeeded.value:
            return False
        await record_success(
            locked, attempt,
            payment_intent_id=stripe_api.object_id(getattr(session, "payment_intent", None)),
            checkout_session_id=session.id,
        )
    return True


async def expire_checkout_session(session: Any) -> bool:
    """Stripe expired a session: its attempt can no longer be paid."""
    metadata = stripe_api.metadata_of(session)
    charge_id = metadata.get("charge_id") or getattr(session, "client_reference_id", None)
    if not charge_id or not str(charge_id).isdigit():
        return False
    async with locked_charge(int(charge_id)) as locked:
        attempt = find_attempt(locked, checkout_session_id=session.id)
        if attempt is None or attempt["status"] != AttemptStatus.open.value:
            return False
        await record_closed(locked, attempt)
    return True


async def finish_checkout(*, ticket_id: int, customer_id: int, session_id: str) -> ChargeOutcome:
    """Back from Checkout: settle from the session itself, without waiting for the webhook."""
    charge = await customer_charge(ticket_id, customer_id)
    session = await stripe_api.call(lambda client: client.v1.checkout.sessions.retrieve(session_id))
    metadata = stripe_api.metadata_of(session)
    if str(metadata.get("charge_id")) == str(charge["id"]):
        await apply_checkout_session(session)
    return await outcome_of(charge["id"])
