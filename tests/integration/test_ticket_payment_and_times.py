"""What a customer sees of a paid ticket (the charge, its refunds, a receipt; a ticket given up
before payment reads Cancelled), and times shown in each person's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime

from billdesk.tables import Charge, Refund, Ticket, User
from tests.factories import csrf_token, make_department, make_ticket, make_user

PAID_AT = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)


async def _charge(ticket_id: int, customer_id: int, department: int, **values) -> int:
    rows = await Charge.insert(Charge(
        ticket=ticket_id, customer=customer_id, department=department, amount=4900,
        currency="usd", idempotency_key=f"test-{ticket_id}", **values,
    )).returning(Charge.id)
    return rows[0]["id"]


async def test_a_paid_ticket_shows_its_charge_refund_and_receipt(customer_client):
    user = customer_client.user
    department = await make_department(name="Premium")
    ticket_id = await make_ticket(user, department)
    charge = await _charge(ticket_id, user.id, department, status="partially_refunded",
                           paid_at=PAID_AT, refunded_amount=900)
    await Refund.insert(Refund(charge=charge, amount=900, reason="Goodwill", status="succeeded",
                               idempotency_key="refund-1", created_at=PAID_AT))
    page = await customer_client.get(f"/tickets/{ticket_id}")
    assert "data-payment" in page.text and "49.00 USD" in page.text
    assert "9.00 USD" in page.text and "data-refund" in page.text
    assert "Partially refunded" in page.text and "partially_refunded<" not in page.text
    assert f'href="/tickets/{ticket_id}/receipt"' in page.text
    receipt = await customer_client.get(f"/tickets/{ticket_id}/receipt")
    assert receipt.status_code == 200
    assert "Receipt for ticket" in receipt.text and "40.00 USD" in receipt.text  # total paid
    other = await make_user()
    free_ticket = await make_ticket(other, department)
    assert (await customer_client.get(f"/tickets/{free_ticket}/receipt")).status_code == 404


async def test_a_ticket_cancelled_before_payment_reads_cancelled(customer_client):
    user = customer_client.user
    department = await make_department(name="Premium")
    ticket_id = await make_ticket(user, department)
    await Ticket.update({Ticket.status: "solved"}).where(Ticket.id == ticket_id)
    await _charge(ticket_id, user.id, department, status="canceled")
    listing = await customer_client.get("/tickets?status=solved")
    page = await customer_client.get(f"/tickets/{ticket_id}")
    for shown in (listing.text, page.text):
        assert "status--cancelled" in shown and "Cancelled" in shown
        assert "Canceled" not in shown
    assert "status--solved" not in page.text


async def test_times_are_shown_in_the_person_s_time_zone_and_the_api_stays_utc(customer_client):
    user = customer_client.user
    department = await make_department()
    ticket_id = await make_ticket(user, department)
    await Ticket.update({Ticket.created_at: PAID_AT}).where(Ticket.id == ticket_id)
    # No choice yet: the browser's zone (the cookie the page script sets).
    customer_client.cookies.set("billdesk_tz", "America/New_York")
    page = await customer_client.get(f"/tickets/{ticket_id}")
    assert "2026-11-20 18:30" in page.text and "Times are shown in America/New_York" in page.text
    # A zone chosen on the account page wins over the browser's.
    token = csrf_token((await customer_client.get("/account")).text)
    saved = await customer_client.post("/account/time-zone",
                                       data={"time_zone": "Asia/Tokyo", "_csrf_token": token})
    assert saved.status_code == 302
    assert (await User.select(User.time_zone).where(User.id == user.id).first())["time_zone"] == "Asia/Tokyo"
    page = await customer_client.get(f"/tickets/{ticket_id}")
    assert "2026-11-21 08:30" in page.text and "Times are shown in Asia/Tokyo" in page.text
    refused = await customer_client.post("/account/time-zone",
                                         data={"time_zone": "Mars/Olympus", "_csrf_token": token})
    assert refused.status_code == 422 and 'id="f-time_zone-error"' in refused.text
    # A bad cookie is ignored, not a 500.
    customer_client.cookies.set("billdesk_tz", "Not/AZone")
    assert (await customer_client.get("/tickets")).status_code == 200


async def test_the_api_answers_in_utc_whatever_the_zone(client):
    from tests.factories import make_token

    customer = await make_user()
    await User.update({User.time_zone: "Asia/Tokyo"}).where(User.id == customer.id)
    department = await make_department()
    ticket_id = await make_ticket(customer, department)
    await Ticket.update({Ticket.created_at: PAID_AT}).where(Ticket.id == ticket_id)
    answer = await client.get(f"/api/v1/tickets/{ticket_id}",
                              headers={"Authorization": f"Bearer {await make_token(customer)}"})
    assert answer.json()["created_at"] in ("2026-11-20T23:30:00Z", "2026-11-20T23:30:00+00:00")
