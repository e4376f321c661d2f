"""The payments' jobs: automatic refunds sent to Stripe, and the daily ledger check."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from billdesk import jobs
from billdesk.payments.attempts import SEND_REFUND
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
