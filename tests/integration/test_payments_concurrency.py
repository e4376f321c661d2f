"""Fifty tickets opened at once by one customer, against the app served by two worker
processes on PostgreSQL: the quota's last free tickets are taken exactly once and every
paid ticket is charged exactly once."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import stripe

from billdesk.payments.stripe_api import stripe_client
from billdesk.tables import Charge, QuotaCounter, Ticket
from tests.factories import make_department, make_token, make_user
from tests.payment_helpers import WEBHOOK_SECRET, give_card, stripe_settings
from tests.support.live_server import STARTUP_TIMEOUT
from tests.support.stripe_server import API_KEY, LocalStripe

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.stripe,
    pytest.mark.skipif(
        not os.environ.get("BILLDESK_TEST_DATABASE_URL"),
        reason="needs PostgreSQL: set BILLDESK_TEST_DATABASE_URL (CI does)",
    ),
]

OPENINGS = 50
FREE = 3
BILLDESK = str(Path(sys.executable).with_name("billdesk"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def local_stripe() -> Iterator[LocalStripe]:
    with LocalStripe() as server:
        yield server


@pytest.fixture
def served_app(local_stripe: LocalStripe) -> Iterator[str]:
    """`billdesk serve --workers 2` on the test database, paying through local Stripe."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "BILLDESK_BASE_URL": base_url,
        "STRIPE_SECRET_KEY": API_KEY,
        "STRIPE_API_BASE": local_stripe.api_base,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    process = subprocess.Popen(
        [BILLDESK, "serve", "--workers", "2", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            assert process.poll() is None, f"billdesk serve exited with {process.returncode}"
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "billdesk serve did not answer /healthz"
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_fifty_concurrent_openings_use_three_free_and_charge_the_rest_once(
    local_stripe: LocalStripe, served_app: str
) -> None:
    local_stripe.reset()
    customer = await make_user()
    department = await make_department(free_tickets=FREE, ticket_price=1500, currency="usd")
    with stripe_settings(local_stripe.api_base):
        sdk: stripe.StripeClient = stripe_client()
        await give_card(sdk, customer.id)
    token = await make_token(customer)

    async with httpx.AsyncClient(
        base_url=served_app, headers={"Authorization": f"Bearer {token}"}, timeout=120
    ) as http:
        answers = await asyncio.gather(*(
            http.post("/api/v1/tickets", json={
                "department_id": department,
                "message": f"Opening number {n}: the server is slow",
                "accept_price": {"amount": 1500, "currency": "usd"},
            })
            for n in range(OPENINGS)
        ))

    assert [a.status_code for a in answers] == [201] * OPENINGS, [
        a.text for a in answers if a.status_code != 201
    ][:3]
    bodies = [a.json() for a in answers]
    free = [b for b in bodies if b["charge"] is None]
    paid = [b for b in bodies if b["charge"] is not None]
    assert len(free) == FREE and len(paid) == OPENINGS - FREE
    assert {b["status"] for b in free} == {"in_progress"}
    assert {(b["status"], b["charge"]["status"]) for b in paid} == {("in_progress", "succeeded")}

    counter = await QuotaCounter.select(QuotaCounter.used).where(
        QuotaCounter.customer == customer.id
    ).first()
    assert counter["used"] == FREE
    assert await Ticket.count().where(Ticket.customer == customer.id) == OPENINGS
    charges = await Charge.select(Charge.id, Charge.status, Charge.stripe_payment_intent_id)
    assert len(charges) == OPENINGS - FREE
    assert {c["status"] for c in charges} == {"succeeded"}

    intents = list(sdk.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter())
    assert len(intents) == len(charges)
    assert {i.id for i in intents} == {c["stripe_payment_intent_id"] for c in charges}
    assert sorted(int(i.metadata["charge_id"]) for i in intents) == sorted(
        c["id"] for c in charges
    )


RACES = 200


async def test_pay_and_cancel_at_the_same_moment_end_paid_once_or_cancelled_with_nothing_kept(
    local_stripe: LocalStripe, served_app: str
) -> None:
    """Two hundred tickets awaiting payment, each sent /pay and /cancel together while
    Stripe answers slowly: no 5xx (no deadlock), each ticket ends either paid once and in
    the queue or cancelled with nothing kept, and Stripe agrees with billdesk to the cent."""
    from billdesk import payments
    from billdesk.payments.ledger import verify_ledger
    from tests.payment_helpers import awaiting_ticket

    local_stripe.reset()
    customer = await make_user()
    department = await make_department(free_tickets=0, ticket_price=1500, currency="usd")
    ticket_ids = []
    with stripe_settings(local_stripe.api_base):
        for n in range(RACES):
            ticket_id = await awaiting_ticket(
                customer_id=customer.id, department_id=department, body=f"Race {n}"
            )
            # No card yet: each charge waits for payment with its first attempt declined.
            await payments.charge_new_ticket(ticket_id=ticket_id)
            ticket_ids.append(ticket_id)
        sdk: stripe.StripeClient = stripe_client()
        await give_card(sdk, customer.id)
    token = await make_token(customer)
    local_stripe.slow_down(0.2)
    try:
        async with httpx.AsyncClient(
            base_url=served_app, headers={"Authorization": f"Bearer {token}"}, timeout=120,
            limits=httpx.Limits(max_connections=2 * RACES),
        ) as http:
            answers = await asyncio.gather(*(
                http.post(f"/api/v1/tickets/{ticket_id}/{action}")
                for ticket_id in ticket_ids
                for action in ("pay", "cancel")
            ))
    finally:
        local_stripe.slow_down(0)

    codes = sorted({a.status_code for a in answers})
    assert set(codes) <= {200, 409}, [a.text for a in answers if a.status_code >= 500][:3]
    conflicts = {a.json()["code"] for a in answers if a.status_code == 409}
    assert conflicts <= {"payment_in_progress", "invalid_transition"}

    rows = await Charge.select(
        Charge.id, Charge.status, Charge.stripe_payment_intent_id, Charge.in_flight_token,
        Charge.ticket.status,
    ).where(Charge.ticket.is_in(ticket_ids))
    endings = {(r["ticket.status"], r["status"]) for r in rows}
    assert endings <= {("in_progress", "succeeded"), ("solved", "canceled")}, endings
    assert all(r["in_flight_token"] is None for r in rows)

    with stripe_settings(local_stripe.api_base):
        intents = list(sdk.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter())
        refunds = list(sdk.v1.refunds.list(params={"limit": 100}).auto_paging_iter())
        report = await verify_ledger()
    refunded = {r.payment_intent: r.amount for r in refunds if r.status == "succeeded"}
    kept: dict[int, int] = {}
    for intent in intents:
        if intent.status == "succeeded":
            charge_id = int(intent.metadata["charge_id"])
            kept[charge_id] = kept.get(charge_id, 0) + intent.amount - refunded.get(intent.id, 0)
    for row in rows:
        expected = 1500 if row["status"] == "succeeded" else 0
        assert kept.get(row["id"], 0) == expected, row
    assert report.differences == [] and report.error == ""
