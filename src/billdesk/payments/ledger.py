"""The ledger check: billdesk's records of money compared with Stripe's, difference by difference.

Every PaymentIntent carrying a billdesk `charge_id` and every refund Stripe holds
since a date is compared with the attempts and refunds billdesk recorded:

- `unknown_payment_intent`: a PaymentIntent names a billdesk charge but is none of
  its attempts (created behind billdesk's back, or by another installation);
- `not_recorded`: Stripe took money that billdesk does not show as paid;
- `not_in_stripe`: billdesk shows a payment Stripe does not have as succeeded;
- `amount_differs`: Stripe took another amount than the attempt asked for;
- `refunds_differ`: what Stripe refunded for a PaymentIntent differs from billdesk's refunds;
- `refunds_exceed`: Stripe refunded more than it took.

Nothing is changed: the report is kept (`LedgerCheck`) for finance to read, and
docs/payments.md says what to do with each kind.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import stripe

from billdesk import clock
from billdesk.payments import stripe_api
from billdesk.payments.attempts import money_text
from billdesk.tables import LedgerCheck, PaymentAttempt, Refund

log = logging.getLogger("billdesk.payments")

DEFAULT_WINDOW = timedelta(days=35)
CHUNK = 500


@dataclass
class Difference:
    kind: str
    stripe_id: str
    detail: str
    charge_id: int | None = None


@dataclass
class LedgerReport:
    since: datetime
    intents_checked: int = 0
    refunds_checked: int = 0
    differences: list[Difference] = field(default_factory=list)
    error: str = ""
    check_id: int | None = None

    @property
    def clean(self) -> bool:
        return not self.differences and not self.error


def _list_stripe(client: stripe.StripeClient, since: datetime) -> tuple[list[Any], list[Any]]:
    window: Any = {"gte": int(since.timestamp())}
    intents = list(
        client.v1.payment_intents.list(params={"limit": 100, "created": window})
        .auto_paging_iter()
    )
    refunds = list(
        client.v1.refunds.list(params={"limit": 100, "created": window}).auto_paging_iter()
    )
    return intents, refunds


def _charge_id(intent: Any) -> int | None:
    value = stripe_api.metadata_of(intent).get("charge_id", "")
    return int(value) if value.isdigit() else None


async def _attempts_by_intent(intent_ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(intent_ids), CHUNK):
        chunk = intent_ids[start : start + CHUNK]
        rows = await PaymentAttempt.select(
            PaymentAttempt.id, PaymentAttempt.charge, PaymentAttempt.status,
            PaymentAttempt.amount, PaymentAttempt.currency,
            PaymentAttempt.stripe_payment_intent_id,
        ).where(PaymentAttempt.stripe_payment_intent_id.is_in(chunk))
        found.update({row["stripe_payment_intent_id"]: row for row in rows})
    return found


async def _refunded_here(since: datetime) -> dict[str, int]:
    """Succeeded refunds recorded by billdesk, summed by the PaymentIntent they refund."""
    rows = await Refund.select(
        Refund.amount,
        Refund.attempt.stripe_payment_intent_id,
        Refund.charge.stripe_payment_intent_id,
    ).where((Refund.status == Refund.Status.succeeded.value) & (Refund.created_at >= since))
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        intent_id = row["attempt.stripe_payment_intent_id"] or row["charge.stripe_payment_intent_id"]
        if intent_id:
            totals[intent_id] += row["amount"]
    return totals


async def verify_ledger(*, since: datetime | None = None) -> LedgerReport:
    """Compare Stripe's PaymentIntents and refunds since `since` (default 35 days) with billdesk's.

    The report is stored and returned; a Stripe error ends the check with `error` set.
    """
    since = since or clock.now() - DEFAULT_WINDOW
    report = LedgerReport(since=since)
    try:
        intents, refunds = await stripe_api.call(lambda client: _list_stripe(client, since))
    except stripe.StripeError as error:
        report.error = f"Stripe could not be asked: {error}"
        await _store(report)
        return report
    ours = [intent for intent in intents if _charge_id(intent) is not None]
    report.intents_checked = len(ours)
    report.refunds_checked = len(refunds)
    attempts = await _attempts_by_intent([intent.id for intent in ours])
    received: dict[str, int] = {}
    for intent in ours:
        charge_id = _charge_id(intent)
        attempt = attempts.get(intent.id)
        amount = int(getattr(intent, "amount_received", None) or intent.amount or 0)
        what = money_text(amount, str(intent.currency or ""))
        if attempt is None:
            report.differences.append(Difference(
                "unknown_payment_intent", intent.id,
                f"PaymentIntent {intent.id} ({intent.status}, {what}) names charge "
                f"{charge_id} but is none of its payment attempts.",
                charge_id,
            ))
            if intent.status == "succeeded":
                received[intent.id] = amount
            continue
        charge_id = attempt["charge"]
        paid_in_stripe = intent.status == "succeeded"
        paid_here = attempt["status"] == PaymentAttempt.Status.succeeded.value
        if paid_in_stripe:
            received[intent.id] = amount
        if paid_in_stripe and not paid_here:
            report.differences.append(Difference(
                "not_recorded", intent.id,
                f"Stripe took {what} with {intent.id}; billdesk shows that attempt as "
                f"{attempt['status']}.",
                charge_id,
            ))
        elif paid_here and not paid_in_stripe:
            report.differences.append(Difference(
                "not_in_stripe", intent.id,
                f"billdesk shows {intent.id} as paid; Stripe shows it {intent.status}.",
                charge_id,
            ))
        if paid_in_stripe and (
            amount != attempt["amount"] or str(intent.currency).lower() != attempt["currency"]
        ):
            report.differences.append(Difference(
                "amount_differs", intent.id,
                f"Stripe took {what}; the attempt asked for "
                f"{money_text(attempt['amount'], attempt['currency'])}.",
                charge_id,
            ))
    refunded_in_stripe: dict[str, int] = defaultdict(int)
    for refund in refunds:
        intent_id = stripe_api.object_id(getattr(refund, "payment_intent", None))
        if intent_id and refund.status == "succeeded":
            refunded_in_stripe[intent_id] += int(refund.amount)
    refunded_here = await _refunded_here(since)
    for intent in ours:
        stripe_total = refunded_in_stripe.get(intent.id, 0)
        here_total = refunded_here.get(intent.id, 0)
        charge_id = attempts[intent.id]["charge"] if intent.id in attempts else _charge_id(intent)
        currency = str(intent.currency or "")
        if stripe_total != here_total:
            report.differences.append(Difference(
                "refunds_differ", intent.id,
                f"Stripe refunded {money_text(stripe_total, currency)} of {intent.id}; "
                f"billdesk recorded {money_text(here_total, currency)}.",
                charge_id,
            ))
        if stripe_total > received.get(intent.id, 0):
            report.differences.append(Difference(
                "refunds_exceed", intent.id,
                f"Stripe refunded {money_text(stripe_total, currency)} of {intent.id}, more "
                f"than the {money_text(received.get(intent.id, 0), currency)} it took.",
                charge_id,
            ))
    await _store(report)
    if report.differences:
        log.warning("ledger check: %d differences with Stripe", len(report.differences))
    return report


async def _store(report: LedgerReport) -> None:
    rows = await LedgerCheck.insert(
        LedgerCheck(
            ran_at=clock.now(),
            since=report.since,
            intents_checked=report.intents_checked,
            refunds_checked=report.refunds_checked,
            differences=[asdict(d) for d in report.differences],
            error=report.error,
        )
    ).returning(LedgerCheck.id)
    report.check_id = int(rows[0]["id"])


async def recent_checks(limit: int = 10) -> list[dict[str, Any]]:
    """The latest ledger checks, newest first, with their differences."""
    rows = await LedgerCheck.select().order_by(LedgerCheck.id, ascending=False).limit(limit)
    for row in rows:
        if isinstance(row["differences"], str):
            row["differences"] = json.loads(row["differences"])
    return list(rows)
