"""The payments' jobs: automatic refunds sent to Stripe, the paying card read onto a paid
charge, and the daily ledger check."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from billdesk import jobs
from billdesk.payments.attempts import NOTE_CARD, SEND_REFUND
from billdesk.settings import get_settings

log = logging.getLogger("billdesk.payments")


@jobs.handler(SEND_REFUND, max_attempts=30, backoff=[10, 30, 120, 600, 3600])
async def send_automatic_refund(payload: dict[str, Any]) -> None:
    """Send the automatic refund of a surplus payment; retried while Stripe does not answer.

    Sending twice is harmless: the refund carries its own idempotency key, and a refund
    no longer pending is left alone.
    """
    from billdesk.payments.refunds import send_refund

    outcome = await send_refund(int(payload["refund_id"]))
    if outcome == "pending":
        raise RuntimeError("Stripe has not confirmed the refund yet")
    if outcome == "refused":
        raise jobs.GiveUp("Stripe refused the refund: see the charge's page in finance")


@jobs.handler(NOTE_CARD, max_attempts=20, backoff=[10, 60, 600, 3600])
async def note_paying_card(payload: dict[str, Any]) -> None:
    """Write the card that paid a charge (brand, last 4) and Stripe's receipt link on it,
    read once from the PaymentIntent's latest charge. Retried while Stripe does not answer."""
    from billdesk.payments.stripe_api import note_paying_card as note

    await note(int(payload["charge_id"]), str(payload["payment_intent_id"]))


@jobs.periodic("payments.verify_ledger", every=timedelta(hours=24))
async def verify_ledger_daily() -> None:
    """Compare Stripe's payments and refunds with billdesk's (docs/payments.md); the
    report is kept for finance at /finance/ledger. Nothing when payments are off."""
    if not get_settings().payments_configured:
        return
    from billdesk.payments.ledger import verify_ledger

    report = await verify_ledger()
    if report.error:
        raise RuntimeError(report.error)
