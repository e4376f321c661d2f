"""Money that arrives anyway: a payment for a cancelled ticket, or a second payment for a
ticket already paid, is recorded, refunded automatically with its own key, and shown to
finance and to the customer. Stripe's answers are scripted (tests/payment_helpers)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import stripe

from billdesk import jobs, payments
from billdesk.payments.stripe_api import use_stripe_client
from billdesk.tables import Charge, Job, Notification, PaymentAttempt, Refund, Ticket, User
from tests.factories import make_department, make_token, make_user
from tests.payment_helpers import (
    ScriptedStripe,
    awaiting_ticket,
    event_payload,
    scripted_client,
    signed,
    stripe_settings,
)

CUSTOMER = {"id": "cus_1", "object": "customer",
            "invoice_settings": {"default_payment_method": "pm_1"}}
CARDS = {"object": "list", "url": "/v1/payment_methods", "has_more": False, "data": [
    {"id": "pm_1", "object": "payment_method", "created": 1,
     "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}},
]}
DECLINED = {"error": {"type": "card_error", "code": "card_declined",
                      "message": "Your card was declined."}}


def intent(intent_id: str, status: str, charge_id: int, attempt: int) -> dict[str, Any]:
    return {"id": intent_id, "object": "payment_intent", "status": status, "amount": 1500,
            "currency": "usd",
            "metadata": {"charge_id": str(charge_id), "attempt": str(attempt)}}


@pytest.fixture
def scripted() -> Iterator[Callable[[dict[str, list[Any]]], ScriptedStripe]]:
    def install(routes: dict[str, list[Any]]) -> ScriptedStripe:
        client, http = scripted_client(routes)
        use_stripe_client(client)
        return http

    with stripe_settings(None):
        yield install
    use_stripe_client(None)


async def declined_first(scripted) -> tuple[ScriptedStripe, int, int, int]:
    """A paid ticket whose first attempt (pi_1) was declined: (http, customer, ticket, charge)."""
    customer = await make_user()
    department = await make_department(free_tickets=0)
    await User.update({User.stripe_customer_id: "cus_1"}).where(User.id == customer.id)
    ticket_id = await awaiting_ticket(customer_id=customer.id, department_id=department)
    http = scripted({
        "GET /v1/customers/cus_1": [(200, CUSTOMER)],
        "GET /v1/payment_methods": [(200, CARDS)],
        "POST /v1/payment_intents/pi_1/confirm": [(402, DECLINED)],
        "POST /v1/payment_intents": [
            lambda form: (200, intent("pi_1", "requires_confirmation",
                                      int(form["metadata[charge_id]"][0]), 1))
        ],
    })
    outcome = await payments.charge_new_ticket(ticket_id=ticket_id)
    assert outcome.status == "requires_payment"
    return http, customer.id, ticket_id, outcome.charge_id


async def deliver(client, event_type: str, obj: dict[str, Any], event_id: str):
    payload = event_payload(event_type, obj, event_id=event_id)
    answer = await client.post("/stripe/webhook", content=payload, headers=signed(payload))
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]


REFUNDED = (200, {"id": "re_auto", "object": "refund", "status": "succeeded", "amount": 1500})


async def test_a_payment_after_the_ticket_was_cancelled_is_refunded_automatically(
    scripted, client
):
    http, customer, ticket_id, charge_id = await declined_first(scripted)
    http.routes["POST /v1/payment_intents/pi_1/cancel"] = [
        (200, intent("pi_1", "canceled", charge_id, 1))
    ]
    cancelled = await payments.cancel_unpaid_ticket(ticket_id=ticket_id, customer_id=customer)
    assert (cancelled.status, cancelled.ticket_status) == ("canceled", "solved")
    http.routes["POST /v1/refunds"] = [REFUNDED]

    # The bank settled pi_1 after all.
    result = await deliver(client, "payment_intent.succeeded",
                           intent("pi_1", "succeeded", charge_id, 1), "evt_late")
    [pending] = await Refund.select(Refund.status).where(Refund.charge == charge_id)
    await jobs.drain()

    assert result == "handled" and pending["status"] == "pending"
    [(form, key)] = http.posts("/v1/refunds")
    attempt = await PaymentAttempt.select().where(PaymentAttempt.charge == charge_id).first()
    assert form["payment_intent"] == ["pi_1"] and form["amount"] == ["1500"]
    assert key == f"billdesk-surplus-refund-{attempt['id']}"
    assert (attempt["status"], attempt["surplus"]) == ("succeeded", True)
    charge = await Charge.select().where(Charge.id == charge_id).first()
    assert (charge["status"], charge["refunded_amount"], charge["surplus_payments"]) == (
        "canceled", 0, 1
    )
    ticket = await Ticket.select(Ticket.status).where(Ticket.id == ticket_id).first()
    assert ticket["status"] == "solved"
    [refund] = await Refund.select().where(Refund.charge == charge_id)
    assert (refund["status"], refund["automatic"], refund["attempt"]) == (
        "succeeded", True, attempt["id"]
    )
    told = await Notification.select(Notification.text).where(
        (Notification.user == customer) & (Notification.kind == "refund_issued")
    )
    assert ["after you cancelled" in n["text"] for n in told] == [True]


async def test_a_second_payment_for_a_paid_ticket_is_refunded_and_finance_sees_both(
    scripted, client
):
    http, customer, ticket_id, charge_id = await declined_first(scripted)
    http.routes = {
        "GET /v1/customers/cus_1": [(200, CUSTOMER)],
        "GET /v1/payment_methods": [(200, CARDS)],
        "POST /v1/payment_intents/pi_1/cancel": [(200, intent("pi_1", "canceled", charge_id, 1))],
        "POST /v1/payment_intents/pi_2/confirm": [(200, intent("pi_2", "succeeded", charge_id, 2))],
        "POST /v1/payment_intents": [(200, intent("pi_2", "requires_confirmation", charge_id, 2))],
        "POST /v1/refunds": [REFUNDED],
    }
    paid = await payments.retry_saved_card(ticket_id=ticket_id, customer_id=customer)
    assert paid.paid

    first = await deliver(client, "payment_intent.succeeded",
                          intent("pi_1", "succeeded", charge_id, 1), "evt_second_money")
    again = await deliver(client, "payment_intent.succeeded",
                          intent("pi_1", "succeeded", charge_id, 1), "evt_second_money")
    other = await deliver(client, "payment_intent.succeeded",
                          intent("pi_1", "succeeded", charge_id, 1), "evt_other_copy")
    await jobs.drain()

    assert (first, again, other) == ("handled", "duplicate", "handled")
    [(form, _key)] = http.posts("/v1/refunds")
    assert form["payment_intent"] == ["pi_1"]
    charge = await Charge.select().where(Charge.id == charge_id).first()
    assert (charge["status"], charge["stripe_payment_intent_id"], charge["refunded_amount"]) == (
        "succeeded", "pi_2", 0
    )
    finance = await make_user(role="finance")
    detail = (await client.get(
        f"/api/v1/finance/charges/{charge_id}",
        headers={"Authorization": f"Bearer {await make_token(finance)}"},
    )).json()
    assert [(a["number"], a["status"], a["surplus"], a["stripe_payment_intent_id"])
            for a in detail["attempts"]] == [(1, "succeeded", True, "pi_1"),
                                             (2, "succeeded", False, "pi_2")]
    assert [(r["automatic"], r["amount"], r["status"]) for r in detail["refunds"]] == [
        (True, 1500, "succeeded")
    ]
    assert detail["surplus_payments"] == 1 and detail["refunded_amount"] == 0


async def test_an_automatic_refund_stripe_did_not_answer_is_sent_again(scripted, client, clock):
    http, customer, ticket_id, charge_id = await declined_first(scripted)
    http.routes["POST /v1/payment_intents/pi_1/cancel"] = [
        (200, intent("pi_1", "canceled", charge_id, 1))
    ]
    await payments.cancel_unpaid_ticket(ticket_id=ticket_id, customer_id=customer)
    lost = stripe.APIConnectionError("Connection reset", should_retry=True)
    http.routes["POST /v1/refunds"] = [lost]
    await deliver(client, "payment_intent.succeeded",
                  intent("pi_1", "succeeded", charge_id, 1), "evt_lost_refund")
    await jobs.drain()
    [pending] = await Refund.select().where(Refund.charge == charge_id)
    assert pending["status"] == "pending"
    [job] = await Job.select().where(Job.kind == "payments.send_refund")
    assert (job["status"], job["attempts"]) == ("pending", 1)

    # Stripe is back: the job's next try sends the same refund, with the same key.
    http.routes["POST /v1/refunds"] = [REFUNDED]
    clock.advance(timedelta(minutes=1))
    await jobs.drain()

    [sent] = await Refund.select().where(Refund.charge == charge_id)
    assert (sent["status"], sent["stripe_refund_id"]) == ("succeeded", "re_auto")
    keys = {key for _, key in http.posts("/v1/refunds")}
    assert keys == {pending["idempotency_key"]}
    assert (await Job.select(Job.status).first())["status"] == "succeeded"
    # Reconcile finds nothing left to send.
    http.routes["GET /v1/refunds"] = [(200, {"object": "list", "url": "/v1/refunds",
                                             "has_more": False, "data": []})]
    assert (await payments.reconcile()).refunds_settled == 0
