"""The customer's payment endpoints and pages: pay, cancel, Checkout, the saved card."""

from __future__ import annotations

import pytest
import stripe

from billdesk import jobs, payments
from billdesk.payments.stripe_api import use_stripe_client
from billdesk.tables import Charge, Ticket
from tests.factories import csrf_token, login, make_department, make_token, make_user
from tests.payment_helpers import (
    DECLINED_CARD,
    GOOD_CARD,
    awaiting_ticket,
    give_card,
    save_card,
    scripted_client,
    stripe_settings,
)

pytestmark = pytest.mark.stripe


async def declined_ticket(sdk: stripe.StripeClient, customer_id: int) -> tuple[int, str]:
    department = await make_department(free_tickets=0, ticket_price=2500, currency="eur")
    stripe_customer = await give_card(sdk, customer_id, DECLINED_CARD)
    ticket_id = await awaiting_ticket(customer_id=customer_id, department_id=department)
    outcome = await payments.charge_new_ticket(ticket_id=ticket_id)
    assert outcome.status == "requires_payment"
    return ticket_id, stripe_customer


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_api_pay_retries_the_saved_card(sdk, client):
    customer = await make_user()
    ticket_id, stripe_customer = await declined_ticket(sdk, customer.id)
    token = await make_token(customer)

    refused = await client.post(f"/api/v1/tickets/{ticket_id}/pay", headers=bearer(token))
    assert refused.status_code == 200
    body = refused.json()
    assert body["status"] == "awaiting_payment"
    assert body["charge"]["status"] == "requires_payment"
    assert body["charge"]["amount"] == 2500 and body["charge"]["currency"] == "eur"
    assert body["payment_url"].endswith(f"/tickets/{ticket_id}/checkout")

    save_card(sdk, stripe_customer, GOOD_CARD)
    paid = await client.post(f"/api/v1/tickets/{ticket_id}/pay", headers=bearer(token))

    assert paid.status_code == 200
    assert paid.json()["status"] == "in_progress"
    assert paid.json()["charge"]["status"] == "succeeded"
    assert paid.json()["payment_url"] is None
    again = await client.post(f"/api/v1/tickets/{ticket_id}/pay", headers=bearer(token))
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"


async def test_api_cancel_and_other_peoples_tickets(sdk, client):
    customer = await make_user()
    stranger = await make_user()
    ticket_id, _ = await declined_ticket(sdk, customer.id)

    hidden = await client.post(
        f"/api/v1/tickets/{ticket_id}/cancel", headers=bearer(await make_token(stranger))
    )
    assert hidden.status_code == 404 and hidden.json()["code"] == "not_found"
    staff = await make_user(role="staff")
    forbidden = await client.post(
        f"/api/v1/tickets/{ticket_id}/pay", headers=bearer(await make_token(staff))
    )
    assert forbidden.status_code == 403

    token = await make_token(customer)
    canceled = await client.post(f"/api/v1/tickets/{ticket_id}/cancel", headers=bearer(token))
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "solved"
    assert canceled.json()["charge"]["status"] == "canceled"
    twice = await client.post(f"/api/v1/tickets/{ticket_id}/cancel", headers=bearer(token))
    assert twice.status_code == 409


async def test_payment_page_shows_why_and_the_buttons_work(sdk, customer_client):
    client = customer_client
    ticket_id, stripe_customer = await declined_ticket(sdk, client.user.id)

    page = await client.get(f"/tickets/{ticket_id}/payment")
    assert page.status_code == 200
    assert "declined" in page.text and "25.00 EUR" in page.text
    assert f'action="/tickets/{ticket_id}/cancel"' in page.text
    # The local test server has no Checkout: the page sends the customer to change the card.
    assert f'href="/tickets/{ticket_id}/checkout"' not in page.text
    assert 'href="/payment-method"' in page.text

    save_card(sdk, stripe_customer, GOOD_CARD)
    paid = await client.post(
        f"/tickets/{ticket_id}/pay", data={"_csrf_token": csrf_token(page.text)}
    )
    assert paid.status_code == 303
    assert paid.headers["location"] == f"/tickets/{ticket_id}/payment?result=paid"
    after = await client.get(paid.headers["location"])
    assert "Payment received" in after.text
    ticket = await Ticket.select(Ticket.status).where(Ticket.id == ticket_id).first()
    assert ticket["status"] == "in_progress"


async def test_cancel_button_and_a_missing_csrf_token(sdk, customer_client):
    client = customer_client
    ticket_id, _ = await declined_ticket(sdk, client.user.id)

    forged = await client.post(f"/tickets/{ticket_id}/cancel", data={})
    assert forged.status_code == 403
    page = await client.get(f"/tickets/{ticket_id}/payment")
    canceled = await client.post(
        f"/tickets/{ticket_id}/cancel", data={"_csrf_token": csrf_token(page.text)}
    )
    assert canceled.headers["location"] == f"/tickets/{ticket_id}/payment?result=canceled"
    ticket = await Ticket.select(Ticket.status).where(Ticket.id == ticket_id).first()
    assert ticket["status"] == "solved"


async def test_payment_method_page_shows_and_replaces_the_test_card(sdk, customer_client):
    client = customer_client
    empty = await client.get("/payment-method")
    assert empty.status_code == 200 and "You have no saved card" in empty.text
    assert "local Stripe test server" in empty.text
    # The test server has no card page, so the demo offers no button that would end in a 503.
    assert 'action="/payment-method"' not in empty.text

    bad = await client.post(
        "/payment-method/test-card",
        data={"number": "1234", "_csrf_token": csrf_token(empty.text)},
    )
    assert bad.status_code == 422 and "16-digit" in bad.text
    saved = await client.post(
        "/payment-method/test-card",
        data={"number": GOOD_CARD, "_csrf_token": csrf_token(empty.text)},
    )
    assert saved.status_code == 303
    page = await client.get("/payment-method?result=card_saved")
    assert "•••• 4242" in page.text and "12/2034" in page.text and "Your card is saved" in page.text


async def test_checkout_link_redirects_to_stripe(customer_client):
    client = customer_client
    department = await make_department(free_tickets=0)
    sdk, http = scripted_client({
        "POST /v1/customers": [(200, {"id": "cus_web", "object": "customer"})],
        "POST /v1/checkout/sessions": [(200, {"id": "cs_web", "object": "checkout.session",
                                              "url": "https://checkout.stripe.com/c/pay/cs_web"})],
    })
    with stripe_settings(None):
        use_stripe_client(sdk)
        try:
            ticket_id = await awaiting_ticket(customer_id=client.user.id,
                                              department_id=department)
            await payments.charge_new_ticket(ticket_id=ticket_id)
            answer = await client.get(f"/tickets/{ticket_id}/checkout")
            http.routes["POST /v1/checkout/sessions"] = [
                (404, {"error": {"type": "invalid_request_error", "message": "Not Found"}})
            ]
            broken = await client.get(f"/tickets/{ticket_id}/checkout")
        finally:
            use_stripe_client(None)

    assert answer.status_code == 303
    assert answer.headers["location"] == "https://checkout.stripe.com/c/pay/cs_web"
    assert broken.status_code == 503 and "payment page cannot be opened" in broken.text


async def test_a_paid_ticket_shows_the_card_and_the_receipt(sdk, customer_client):
    client = customer_client
    department = await make_department(free_tickets=0, ticket_price=2500, currency="eur")
    await give_card(sdk, client.user.id, GOOD_CARD)
    ticket_id = await awaiting_ticket(customer_id=client.user.id, department_id=department)
    outcome = await payments.charge_new_ticket(ticket_id=ticket_id)
    assert outcome.paid

    # The card is read from Stripe by a job after the payment is written.
    await jobs.drain()

    page = await client.get(f"/tickets/{ticket_id}")
    assert "with Visa ending in 4242" in page.text
    # The local test server gives no Stripe receipt page: billdesk's own stands in.
    assert f'data-receipt href="/tickets/{ticket_id}/receipt"' in page.text
    receipt = await client.get(f"/tickets/{ticket_id}/receipt")
    assert "Visa ending in 4242" in receipt.text

    # Where Stripe gives a receipt page, the ticket links to it, and keeps the printable one.
    stripe_receipt = "https://pay.stripe.com/receipts/payment/test_receipt"
    await Charge.update({Charge.receipt_url: stripe_receipt}).where(
        Charge.id == outcome.charge_id
    )
    page = await client.get(f"/tickets/{ticket_id}")
    assert f'data-receipt href="{stripe_receipt}"' in page.text
    assert f'href="/tickets/{ticket_id}/receipt"' in page.text

    finance = await make_user(role="finance")
    client.cookies.clear()
    await login(client, finance.email)
    charge_page = await client.get(f"/finance/charges/{outcome.charge_id}")
    assert charge_page.status_code == 200
    assert "Visa ending in 4242" in charge_page.text and stripe_receipt in charge_page.text
