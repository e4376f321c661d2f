"""The races that used to charge wrongly, played against a slow local Stripe: an old
attempt's news while a new one is in flight, pay while paying, cancel while paying,
cancel while Stripe is away; and the ledger check finding what billdesk did not make."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import stripe

from billdesk import payments
from billdesk.errors import PaymentInProgress, PaymentsUnavailable
from billdesk.payments.ledger import recent_checks, verify_ledger
from billdesk.payments.stripe_api import use_stripe_client
from billdesk.tables import Charge, PaymentAttempt, Ticket
from tests.factories import make_department, make_token, make_user
from tests.payment_helpers import (
    DECLINED_CARD,
    GOOD_CARD,
    awaiting_ticket,
    event_payload,
    give_card,
    intents_for_charge,
    save_card,
    signed,
)
from tests.support.stripe_server import LocalStripe

pytestmark = pytest.mark.stripe


@pytest.fixture
def slow_stripe(local_stripe: LocalStripe) -> Iterator[LocalStripe]:
    """Stripe answering PaymentIntent calls late; back to normal afterwards."""
    local_stripe.slow_down(0.6)
    yield local_stripe
    local_stripe.slow_down(0)


async def declined_then_good_card(sdk: stripe.StripeClient) -> tuple[int, int, int]:
    """A paid ticket whose first card was declined, and a working card saved since."""
    customer = await make_user()
    department = await make_department(free_tickets=0)
    stripe_customer = await give_card(sdk, customer.id, DECLINED_CARD)
    ticket_id = await awaiting_ticket(customer_id=customer.id, department_id=department)
    outcome = await payments.charge_new_ticket(ticket_id=ticket_id)
    assert outcome.status == "requires_payment"
    save_card(sdk, stripe_customer, GOOD_CARD)
    return customer.id, ticket_id, outcome.charge_id


async def until_in_flight(charge_id: int) -> None:
    for _ in range(200):
        row = await Charge.select(Charge.in_flight_token).where(Charge.id == charge_id).first()
        if row["in_flight_token"]:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the payment never went in flight")


async def charge_and_attempts(charge_id: int) -> tuple[dict, list[dict]]:
    charge = await Charge.select().where(Charge.id == charge_id).first()
    attempts = await PaymentAttempt.select().where(PaymentAttempt.charge == charge_id).order_by(
        PaymentAttempt.number
    )
    return charge, attempts


async def test_old_attempt_news_while_a_new_one_is_in_flight_charge_once(
    sdk, slow_stripe, client
):
    customer, ticket_id, charge_id = await declined_then_good_card(sdk)
    [first_intent] = intents_for_charge(sdk, charge_id)
    token = await make_token(await _user(customer))
    paying = asyncio.create_task(
        payments.retry_saved_card(ticket_id=ticket_id, customer_id=customer)
    )
    await until_in_flight(charge_id)

    # While attempt 2 is in flight: reconcile, a late refusal of attempt 1, a second /pay.
    report = await payments.reconcile()
    late = event_payload("payment_intent.payment_failed", first_intent)
    webhook = await client.post("/stripe/webhook", content=late, headers=signed(late))
    second = await client.post(f"/api/v1/tickets/{ticket_id}/pay",
                               headers={"Authorization": f"Bearer {token}"})
    outcome = await paying

    assert report.errors == [] and webhook.status_code == 200
    assert second.status_code == 409 and second.json()["code"] == "payment_in_progress"
    assert outcome.paid and outcome.ticket_status == "in_progress"
    charge, attempts = await charge_and_attempts(charge_id)
    assert [a["status"] for a in attempts] == ["canceled", "succeeded"]
    assert charge["attempt"] == 2 and charge["in_flight_token"] is None
    succeeded = [i for i in intents_for_charge(sdk, charge_id) if i.status == "succeeded"]
    assert [i.id for i in succeeded] == [charge["stripe_payment_intent_id"]]
    assert (await verify_ledger()).differences == []


async def test_cancel_sent_while_paying_waits_and_reports_the_payment(sdk, slow_stripe):
    customer, ticket_id, charge_id = await declined_then_good_card(sdk)
    paying = asyncio.create_task(
        payments.retry_saved_card(ticket_id=ticket_id, customer_id=customer)
    )
    await until_in_flight(charge_id)

    cancelled = await payments.cancel_unpaid_ticket(ticket_id=ticket_id, customer_id=customer)
    paid = await paying

    # The cancel waited for the payment in flight and says it went through.
    assert paid.paid and cancelled.paid and cancelled.ticket_status == "in_progress"
    succeeded = [i for i in intents_for_charge(sdk, charge_id) if i.status == "succeeded"]
    assert len(succeeded) == 1


async def test_pay_after_cancel_started_is_refused_and_nothing_is_charged(sdk, slow_stripe):
    customer, ticket_id, charge_id = await declined_then_good_card(sdk)
    cancelling = asyncio.create_task(
        payments.cancel_unpaid_ticket(ticket_id=ticket_id, customer_id=customer)
    )
    await until_in_flight(charge_id)

    with pytest.raises(PaymentInProgress):
        await payments.retry_saved_card(ticket_id=ticket_id, customer_id=customer)
    cancelled = await cancelling

    assert (cancelled.status, cancelled.ticket_status) == ("canceled", "solved")
    assert {i.status for i in intents_for_charge(sdk, charge_id)} == {"canceled"}


async def test_cancel_refused_when_stripe_does_not_answer_changes_nothing(sdk):
    customer, ticket_id, charge_id = await declined_then_good_card(sdk)
    away = stripe.StripeClient("sk_test_away", base_addresses={"api": "http://127.0.0.1:9"},
                               max_network_retries=0)
    use_stripe_client(away)
    try:
        with pytest.raises(PaymentsUnavailable):
            await payments.cancel_unpaid_ticket(ticket_id=ticket_id, customer_id=customer)
    finally:
        use_stripe_client(None)

    charge, attempts = await charge_and_attempts(charge_id)
    ticket = await Ticket.select(Ticket.status).where(Ticket.id == ticket_id).first()
    assert (charge["status"], ticket["status"]) == ("requires_payment", "awaiting_payment")
    assert charge["in_flight_token"] is None and [a["status"] for a in attempts] == ["declined"]
    # Back again, the same cancel goes through.
    done = await payments.cancel_unpaid_ticket(ticket_id=ticket_id, customer_id=customer)
    assert (done.status, done.ticket_status) == ("canceled", "solved")


async def test_ledger_check_reports_a_payment_intent_made_behind_billdesk(sdk):
    customer = await make_user()
    department = await make_department(free_tickets=0)
    stripe_customer = await give_card(sdk, customer.id)
    ticket_id = await awaiting_ticket(customer_id=customer.id, department_id=department)
    outcome = await payments.charge_new_ticket(ticket_id=ticket_id)
    assert outcome.paid
    assert (await verify_ledger()).differences == []
    card = sdk.v1.payment_methods.list(params={"customer": stripe_customer, "type": "card"}).data[0]
    stray = sdk.v1.payment_intents.create(params={
        "amount": 1500, "currency": "usd", "customer": stripe_customer,
        "payment_method": card.id, "confirm": True, "off_session": True,
        "metadata": {"charge_id": str(outcome.charge_id)},
    })

    report = await verify_ledger()

    assert [(d.kind, d.stripe_id, d.charge_id) for d in report.differences] == [
        ("unknown_payment_intent", stray.id, outcome.charge_id)
    ]
    [stored] = await recent_checks(1)
    assert stored["intents_checked"] == 2 and len(stored["differences"]) == 1
    command = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "billdesk.cli", "reconcile", "--verify", "--days", "2"],
        capture_output=True, text=True, env=os.environ.copy(), timeout=120,
    )
    assert command.returncode == 1
    assert "1 difference." in command.stdout and stray.id in command.stdout
    assert "unknown_payment_intent" in command.stdout


async def test_finance_runs_and_reads_the_ledger_check(sdk, client):
    finance = await make_user(role="finance")
    customer = await make_user()
    headers = {"Authorization": f"Bearer {await make_token(finance)}"}

    ran = await client.post("/api/v1/finance/ledger", headers=headers)
    listed = await client.get("/api/v1/finance/ledger", headers=headers)
    refused = await client.get("/api/v1/finance/ledger",
                               headers={"Authorization": f"Bearer {await make_token(customer)}"})

    assert ran.status_code == 201 and ran.json()["differences"] == []
    assert [c["id"] for c in listed.json()["items"]] == [ran.json()["id"]]
    assert refused.status_code == 403


async def _user(user_id: int):
    from billdesk.tables import User
    from tests.factories import MadeUser

    row = await User.select().where(User.id == user_id).first()
    return MadeUser(id=row["id"], email=row["email"], name=row["name"], role=row["role"])

