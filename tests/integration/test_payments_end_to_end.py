"""Opening tickets through the customer API with payments on (localstripe, real SDK):
free ones first, then a confirmed paid one charged once; a declined card waits with a
payment_url; a changed price charges nothing; refunds seen by Stripe's webhooks."""

from __future__ import annotations

import pytest
import stripe

from billdesk import payments
from billdesk.tables import Charge, Department, Refund
from tests.factories import make_department, make_token, make_user
from tests.payment_helpers import (
    DECLINED_CARD,
    awaiting_ticket,
    event_payload,
    give_card,
    signed,
)

pytestmark = pytest.mark.stripe


def all_intents(sdk: stripe.StripeClient) -> list:
    return list(sdk.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter())


async def open_ticket(client, token: str, department: int, n: int, accept: int | None = None):
    body: dict = {"department_id": department, "message": f"Ticket number {n}"}
    if accept is not None:
        body["accept_price"] = {"amount": accept, "currency": "usd"}
    return await client.post("/api/v1/tickets", json=body,
                             headers={"Authorization": f"Bearer {token}"})


async def test_free_tickets_then_a_confirmed_paid_one_charged_once(sdk, client):
    customer = await make_user()
    department = await make_department(free_tickets=2, ticket_price=1500, currency="usd")
    await give_card(sdk, customer.id)
    token = await make_token(customer)

    free = [await open_ticket(client, token, department, n) for n in range(2)]
    assert [(a.status_code, a.json()["charge"]) for a in free] == [(201, None)] * 2
    unconfirmed = await open_ticket(client, token, department, 3)
    assert unconfirmed.status_code == 402
    paid = await open_ticket(client, token, department, 4, accept=1500)

    assert paid.status_code == 201
    assert paid.json()["status"] == "in_progress"
    assert paid.json()["charge"]["status"] == "succeeded"
    [intent] = all_intents(sdk)
    assert intent.amount == 1500 and intent.metadata["ticket_id"] == str(paid.json()["id"])


async def test_declined_card_answers_awaiting_payment_with_a_payment_url(sdk, client):
    customer = await make_user()
    department = await make_department(free_tickets=0, ticket_price=1500, currency="usd")
    await give_card(sdk, customer.id, DECLINED_CARD)
    token = await make_token(customer)

    answer = await open_ticket(client, token, department, 1, accept=1500)

    assert answer.status_code == 201
    body = answer.json()
    assert body["status"] == "awaiting_payment"
    assert body["charge"]["status"] == "requires_payment"
    detail = await client.get(f"/api/v1/tickets/{body['id']}",
                              headers={"Authorization": f"Bearer {token}"})
    assert detail.json()["payment_url"].endswith(f"/tickets/{body['id']}/checkout")


async def test_price_changed_between_form_and_submit_charges_nothing(sdk, client):
    customer = await make_user()
    department = await make_department(free_tickets=0, ticket_price=1500, currency="usd")
    await give_card(sdk, customer.id)
    token = await make_token(customer)
    await Department.update({Department.ticket_price: 1900}).where(Department.id == department)

    answer = await open_ticket(client, token, department, 1, accept=1500)

    assert answer.status_code == 409 and answer.json()["code"] == "price_changed"
    assert await Charge.count() == 0
    assert all_intents(sdk) == []


async def paid_charge(sdk: stripe.StripeClient) -> payments.ChargeOutcome:
    customer = await make_user()
    department = await make_department(free_tickets=0)
    await give_card(sdk, customer.id)
    ticket_id = await awaiting_ticket(customer_id=customer.id, department_id=department)
    return await payments.charge_new_ticket(ticket_id=ticket_id)


async def test_refund_made_in_stripe_is_recorded_from_charge_refunded(sdk, client):
    outcome = await paid_charge(sdk)
    row = await Charge.select(Charge.stripe_payment_intent_id).where(
        Charge.id == outcome.charge_id
    ).first()
    refund = sdk.v1.refunds.create(
        params={"payment_intent": row["stripe_payment_intent_id"], "amount": 600}
    )
    stripe_charge = {
        "id": "ch_1", "object": "charge", "payment_intent": row["stripe_payment_intent_id"],
        "amount_refunded": 600, "refunds": {"object": "list", "data": [refund.to_dict()]},
    }
    payload = event_payload("charge.refunded", stripe_charge)

    for _ in range(3):
        answer = await client.post("/stripe/webhook", content=payload, headers=signed(payload))
        assert answer.status_code == 200

    charge = await Charge.select(Charge.status, Charge.refunded_amount).where(
        Charge.id == outcome.charge_id
    ).first()
    assert (charge["status"], charge["refunded_amount"]) == ("partially_refunded", 600)
    [recorded] = await Refund.select()
    assert (recorded["amount"], recorded["stripe_refund_id"], recorded["status"]) == (
        600, refund.id, "succeeded"
    )


async def test_a_refund_that_fails_later_gives_the_amount_back(sdk, client):
    outcome = await paid_charge(sdk)
    finance = await make_user(role="finance")
    refund_id = await payments.refund_charge(
        charge_id=outcome.charge_id, amount=None, reason="Duplicate", actor_id=finance.id
    )
    local = await Refund.select(Refund.stripe_refund_id).where(Refund.id == refund_id).first()
    failed = {"id": local["stripe_refund_id"], "object": "refund", "status": "failed",
              "amount": 1500, "metadata": {"refund_id": str(refund_id)}}
    payload = event_payload("refund.updated", failed)

    answer = await client.post("/stripe/webhook", content=payload, headers=signed(payload))

    assert answer.status_code == 200
    charge = await Charge.select(Charge.status, Charge.refunded_amount).where(
        Charge.id == outcome.charge_id
    ).first()
    assert (charge["status"], charge["refunded_amount"]) == ("succeeded", 0)
    assert (await Refund.select(Refund.status).first())["status"] == "failed"
