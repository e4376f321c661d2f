"""A mail beyond the free quota opens an `awaiting_payment` ticket and charges nothing
until the customer confirms the price on the web (localstripe through the real SDK)."""

from __future__ import annotations

import pytest

from billdesk import jobs
from billdesk.mail.inbound import receive
from billdesk.tables import Charge, Department, PaymentAttempt, Ticket
from tests.factories import add_member, csrf_token, login, make_department, make_token, make_user
from tests.payment_helpers import give_card
from tests.support.mailbox import text_of

pytestmark = pytest.mark.stripe


def new_mail(sender: str, n: int, body: str = "Please migrate my site to the new server") -> bytes:
    return (
        f"From: Alice Example <{sender}>\r\nTo: premium@hosting.test\r\n"
        f"Subject: Site migration {n}\r\nMessage-ID: <migration-{n}@alice.test>\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def stripe_intents(sdk) -> list:
    return list(sdk.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter())


async def premium_world(sdk):
    customer = await make_user(email="alice@alice.test", name="Alice Example")
    await give_card(sdk, customer.id)
    agent = await make_user(role="staff")
    department = await make_department(free_tickets=0, ticket_price=1500, name="Premium")
    await Department.update({Department.inbound_address: "premium@hosting.test"}).where(
        Department.id == department
    )
    await add_member(department_id=department, user_id=agent.id)
    return customer, agent, department


async def test_a_mail_beyond_the_quota_charges_nothing_until_the_customer_confirms(
    sdk, client, mailbox
):
    customer, agent, _ = await premium_world(sdk)
    result = await receive(new_mail(customer.email, 1))
    assert result.outcome == "opened" and "confirmation of the price" in result.reason
    ticket = await Ticket.select().where(Ticket.id == result.ticket_id).first()
    assert (ticket["status"], ticket["price_unconfirmed"]) == ("awaiting_payment", True)
    assert await Charge.count() == 0 and await PaymentAttempt.count() == 0
    assert stripe_intents(sdk) == []

    await jobs.drain()
    [mail] = mailbox.to(customer.email)
    assert mail["Subject"] == f"[#{ticket['id']}] Confirm the price: Site migration 1"
    text = " ".join(text_of(mail).split())
    assert "No free ticket covers this one, so it costs 15.00 USD. Nothing has been charged" in text
    assert f"http://127.0.0.1:8000/tickets/{ticket['id']}/payment" in text
    assert mailbox.to(agent.email) == []  # staff do not see it before it is paid

    # Looking, or following the payment links, charges nothing.
    await login(client, customer.email)
    page = await client.get(f"/tickets/{ticket['id']}/payment")
    assert page.status_code == 200 and "Confirm and pay 15.00 USD" in page.text
    assert (await client.get(f"/tickets/{ticket['id']}/checkout")).status_code == 402
    pay = await client.post(
        f"/tickets/{ticket['id']}/pay", data={"_csrf_token": csrf_token(page.text)}
    )
    assert pay.status_code == 402
    api = await client.post(
        f"/api/v1/tickets/{ticket['id']}/pay",
        headers={"Authorization": f"Bearer {await make_token(customer)}"},
    )
    assert api.status_code == 402 and api.json()["code"] == "payment_confirmation_required"
    assert await Charge.count() == 0 and stripe_intents(sdk) == []

    confirmed = await client.post(
        f"/tickets/{ticket['id']}/confirm-price",
        data={"accept_price": "1500", "_csrf_token": csrf_token(page.text)},
    )
    assert confirmed.headers["location"] == f"/tickets/{ticket['id']}/payment?result=paid"
    again = await client.post(
        f"/tickets/{ticket['id']}/confirm-price",
        data={"accept_price": "1500", "_csrf_token": csrf_token(page.text)},
    )
    assert again.status_code == 303
    [intent] = stripe_intents(sdk)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 1500, "usd")
    [charge] = await Charge.select()
    assert (charge["status"], charge["amount"]) == ("succeeded", 1500)
    row = await Ticket.select().where(Ticket.id == ticket["id"]).first()
    assert (row["status"], row["price_unconfirmed"]) == ("in_progress", False)
    await jobs.drain()
    [arrived] = mailbox.to(agent.email)
    assert "Paid ticket in Premium" in arrived["Subject"]


async def test_a_new_price_is_confirmed_again_and_cancelling_charges_nothing(sdk, client, mailbox):
    customer, _, department = await premium_world(sdk)
    first = await receive(new_mail(customer.email, 1))
    second = await receive(new_mail(customer.email, 2))
    await Department.update({Department.ticket_price: 2000}).where(Department.id == department)

    await login(client, customer.email)
    page = await client.get(f"/tickets/{first.ticket_id}/payment")
    assert "Confirm and pay 20.00 USD" in page.text
    stale = await client.post(
        f"/tickets/{first.ticket_id}/confirm-price",
        data={"accept_price": "1500", "_csrf_token": csrf_token(page.text)},
    )
    assert stale.headers["location"].endswith("result=price_changed")
    assert await Charge.count() == 0 and stripe_intents(sdk) == []

    token = {"Authorization": f"Bearer {await make_token(customer)}"}
    cancelled = await client.post(f"/api/v1/tickets/{second.ticket_id}/cancel", headers=token)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "solved" and cancelled.json()["charge"] is None
    paid = await client.post(
        f"/api/v1/tickets/{first.ticket_id}/pay", json={"accept_price": 2000}, headers=token
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "in_progress"
    assert paid.json()["charge"]["amount"] == 2000
    [intent] = stripe_intents(sdk)
    assert intent.amount == 2000
    assert await Charge.count() == 1  # the cancelled ticket never had one
