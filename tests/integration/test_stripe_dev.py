"""The offline demo's pieces as `make run` uses them: `billdesk stripe-dev-server`,
`billdesk demo-cards` (Alice's card works, Bob's is declined) and `billdesk reconcile`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import stripe

from billdesk import payments
from billdesk.demo import PASSWORD, load_demo
from billdesk.payments import charges as charge_module
from billdesk.tables import Charge, Department, Refund, Ticket, User
from tests.factories import login
from tests.payment_helpers import awaiting_ticket, stripe_settings

pytestmark = [pytest.mark.stripe, pytest.mark.slow]

BILLDESK = str(Path(sys.executable).with_name("billdesk"))
KEY = "sk_test_billdesk_demo"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def dev_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [BILLDESK, "stripe-dev-server", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    client = stripe.StripeClient(KEY, base_addresses={"api": base})
    deadline = time.monotonic() + 60
    while True:
        try:
            client.v1.customers.list(params={"limit": 1})
            break
        except stripe.APIConnectionError:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "the dev server did not start"
            time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(timeout=10)


def billdesk(*args: str, api_base: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STRIPE_SECRET_KEY": KEY, "STRIPE_API_BASE": api_base,
           "STRIPE_WEBHOOK_SECRET": "whsec_demo"}
    return subprocess.run([BILLDESK, *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


async def test_demo_cards_then_alice_is_charged_and_bob_declined(dev_server, app_client_factory):
    await load_demo()
    given = billdesk("demo-cards", api_base=dev_server)
    assert given.returncode == 0, given.stderr
    assert "alice@example.com" in given.stdout and "4242" in given.stdout
    assert "bob@example.com" in given.stdout and "0341" in given.stdout
    again = billdesk("demo-cards", api_base=dev_server)
    assert again.returncode == 0, again.stderr

    # Finance starts with a paid ticket and a refunded one, made once however often it runs.
    alice = await User.select(User.id).where(User.email == "alice@example.com").first()
    charges = await Charge.select(
        Charge.id, Charge.status, Charge.refunded_amount, Charge.amount, Charge.card_brand,
        Charge.card_last4, Charge.ticket,
    ).where(Charge.customer == alice["id"]).order_by(Charge.id)
    assert [c["status"] for c in charges] == ["succeeded", "refunded"]
    assert charges[1]["refunded_amount"] == charges[1]["amount"] == 4900
    assert all((c["card_brand"], c["card_last4"]) == ("visa", "4242") for c in charges)
    assert await Refund.count().where(Refund.charge == charges[1]["id"]) == 1
    shown = await Ticket.select(Ticket.status).where(
        Ticket.id.is_in([c["ticket"] for c in charges])
    )
    assert [t["status"] for t in shown] == ["in_progress", "in_progress"]
    assert "paid and refunded" in given.stdout and "paid and refunded" in again.stdout

    # Bob's paid ticket was charged to his declined card: it waits for payment, once.
    bob = await User.select(User.id).where(User.email == "bob@example.com").first()
    waiting = await Ticket.select(Ticket.id, Ticket.status, Ticket.price_unconfirmed).where(
        (Ticket.customer == bob["id"]) & (Ticket.status == "awaiting_payment")
    )
    assert len(waiting) == 1 and not waiting[0]["price_unconfirmed"]
    declined = await Charge.select(Charge.status, Charge.amount).where(
        Charge.ticket == waiting[0]["id"]
    ).first()
    assert declined == {"status": "requires_payment", "amount": 4900}
    assert "waiting for payment" in given.stdout and "waiting for payment" in again.stdout
    # His ticket page offers the Pay step, and the payment page says why in words.
    with stripe_settings(dev_server, secret_key=KEY):
        async with app_client_factory() as browser:
            await login(browser, "bob@example.com", PASSWORD)
            page = await browser.get(f"/tickets/{waiting[0]['id']}")
            assert "Awaiting payment" in page.text and "Pay or cancel" in page.text
            paying = await browser.get(f"/tickets/{waiting[0]['id']}/payment")
            assert paying.status_code == 200 and "declined" in paying.text

    premium = await Department.select(Department.id).where(
        Department.slug == "premium-administration"
    ).first()
    outcomes = {}
    with stripe_settings(dev_server, secret_key=KEY):
        for email in ("alice@example.com", "bob@example.com"):
            user = await User.select(User.id, User.stripe_customer_id).where(
                User.email == email
            ).first()
            assert user["stripe_customer_id"]
            ticket_id = await awaiting_ticket(customer_id=user["id"], department_id=premium["id"])
            outcomes[email] = await payments.charge_new_ticket(ticket_id=ticket_id)
        card = await payments.saved_card(user["stripe_customer_id"])

    assert outcomes["alice@example.com"].paid
    assert outcomes["bob@example.com"].status == "requires_payment"
    assert card is not None and card.last4 == "0341"


async def test_reconcile_command_settles_a_charge_a_crash_left_pending(dev_server, monkeypatch):
    await load_demo()
    assert billdesk("demo-cards", api_base=dev_server).returncode == 0
    alice = await User.select(User.id).where(User.email == "alice@example.com").first()
    premium = await Department.select(Department.id).where(
        Department.slug == "premium-administration"
    ).first()

    async def die(*args, **kwargs):
        raise SystemExit("the process died")

    monkeypatch.setattr(charge_module, "after_stripe_answer", die)
    with stripe_settings(dev_server, secret_key=KEY):
        ticket_id = await awaiting_ticket(customer_id=alice["id"], department_id=premium["id"])
        with pytest.raises(SystemExit):
            await payments.charge_new_ticket(ticket_id=ticket_id)
    monkeypatch.undo()

    settled = billdesk("reconcile", api_base=dev_server)

    assert settled.returncode == 0, settled.stderr
    assert "1 paid" in settled.stdout
    row = await Charge.select(Charge.status, Charge.stripe_payment_intent_id).where(
        Charge.ticket == ticket_id
    ).first()
    assert row["status"] == "succeeded" and row["stripe_payment_intent_id"]


def test_dev_server_replays_idempotency_keys(dev_server):
    client = stripe.StripeClient(KEY, base_addresses={"api": dev_server})
    customer = client.v1.customers.create(params={})
    params = {"amount": 700, "currency": "usd", "customer": customer.id,
              "payment_method": "pm_card_visa", "off_session": True, "confirm": True}
    key = f"demo-{uuid.uuid4()}"
    first = client.v1.payment_intents.create(params=params, options={"idempotency_key": key})
    second = client.v1.payment_intents.create(params=params, options={"idempotency_key": key})
    assert first.id == second.id


def test_dev_server_lists_a_customers_cards_and_payments_among_many_others(dev_server):
    """The stand-in lists each kind from an index of its own: a customer's cards and
    payments come back as they were stored, whatever else it holds or has deleted."""
    client = stripe.StripeClient(KEY, base_addresses={"api": dev_server})
    ours, theirs = (client.v1.customers.create(params={}) for _ in range(2))

    def card_for(customer: str) -> str:
        card = client.v1.payment_methods.create(
            params={"type": "card", "card": {"number": "4242424242424242", "exp_month": 12,
                                             "exp_year": 2034, "cvc": "123"}}
        )
        client.v1.payment_methods.attach(card.id, params={"customer": customer})
        return card.id

    first = card_for(ours.id)
    their_card = card_for(theirs.id)
    paid = [
        client.v1.payment_intents.create(params={
            "amount": 100 + n, "currency": "usd", "customer": customer.id,
            "payment_method": card, "off_session": True, "confirm": True,
        }).id
        for n, (customer, card) in enumerate([(theirs, their_card), (ours, first)] * 3)
    ]
    second = card_for(ours.id)
    gone = client.v1.customers.create(params={})
    client.v1.customers.delete(gone.id)

    def cards_of(customer: str) -> list[str]:
        listed = client.v1.payment_methods.list(params={"customer": customer, "type": "card"})
        return [card.id for card in listed.data]

    assert cards_of(ours.id) == [first, second]
    assert cards_of(theirs.id) == [their_card]
    listed = client.v1.payment_intents.list(params={"customer": ours.id, "limit": 100})
    assert sorted(intent.id for intent in listed.data) == sorted(paid[1::2])
    assert gone.id not in {c.id for c in client.v1.customers.list(params={"limit": 100}).data}


def test_reconcile_without_payments_configured_fails_in_one_line():
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIPE_")}
    result = subprocess.run([BILLDESK, "reconcile"], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "not set up" in result.stderr
