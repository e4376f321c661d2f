"""Where localstripe cannot play the part, Stripe's answers are scripted in an injected
HTTP client: authentication required, connection refused, a 500 then success with the
same idempotency key, Checkout Sessions for paying and for saving a card."""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import stripe

from billdesk import payments
from billdesk.payments.charges import NEEDS_AUTHENTICATION, UNREACHABLE
from billdesk.payments.stripe_api import use_stripe_client
from billdesk.quotas import Price
from billdesk.tables import Charge, Job, Notification, Ticket, TicketEvent, User
from billdesk.tickets import open_ticket
from tests.factories import as_current, make_department, make_user
from tests.payment_helpers import (
    ScriptedStripe,
    awaiting_ticket,
    event_payload,
    scripted_client,
    signed,
    stripe_settings,
)
from tests.support.stripe_server import API_KEY

CUSTOMER = {"id": "cus_1", "object": "customer",
            "invoice_settings": {"default_payment_method": "pm_1"}}
CARDS = {"object": "list", "url": "/v1/payment_methods", "has_more": False, "data": [
    {"id": "pm_1", "object": "payment_method", "created": 1,
     "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}},
]}


def intent(intent_id: str, status: str, charge_id: int | None = None) -> dict[str, Any]:
    return {"id": intent_id, "object": "payment_intent", "status": status, "amount": 1500,
            "currency": "usd", "metadata": {"charge_id": str(charge_id or "")}}


def saved_card_routes(**more: list[Any]) -> dict[str, list[Any]]:
    return {"GET /v1/customers/cus_1": [(200, CUSTOMER)],
            "GET /v1/payment_methods": [(200, CARDS)], **more}


@pytest.fixture
def scripted() -> Iterator[Callable[[dict[str, list[Any]]], ScriptedStripe]]:
    def install(routes: dict[str, list[Any]]) -> ScriptedStripe:
        client, http = scripted_client(routes)
        use_stripe_client(client)
        return http

    with stripe_settings(None):
        yield install
    use_stripe_client(None)


async def open_paid(*, with_card: bool = True) -> tuple[int, int, int]:
    customer = await make_user()
    department = await make_department(free_tickets=0)
    if with_card:
        await User.update({User.stripe_customer_id: "cus_1"}).where(User.id == customer.id)
    ticket_id = await awaiting_ticket(customer_id=customer.id, department_id=department)
    return customer.id, department, ticket_id


async def charge_of(ticket_id: int) -> dict[str, Any]:
    return await Charge.select().where(Charge.ticket == ticket_id).first()


async def test_authentication_required_waits_for_payment(scripted):
    declined = {"error": {
        "type": "card_error", "code": "authentication_required",
        "decline_code": "authentication_required",
        "message": "This payment requires authentication.",
        "payment_intent": intent("pi_auth", "requires_payment_method"),
    }}
    http = scripted(saved_card_routes(**{
        "POST /v1/payment_intents/pi_auth/confirm": [(402, declined)],
        "POST /v1/payment_intents": [(200, intent("pi_auth", "requires_confirmation"))],
    }))
    customer, department, ticket_id = await open_paid()

    outcome = await payments.charge_new_ticket(
        ticket_id=ticket_id, customer_id=customer, department_id=department,
        amount=1500, currency="usd",
    )

    assert (outcome.status, outcome.ticket_status) == ("requires_payment", "awaiting_payment")
    assert outcome.failure_reason == NEEDS_AUTHENTICATION
    assert (await charge_of(ticket_id))["stripe_payment_intent_id"] == "pi_auth"
    assert len(http.posts("/v1/payment_intents/pi_auth/confirm")) == 1
    assert len(http.posts("/v1/payment_intents")) == 2


async def test_connection_refused_leaves_the_charge_pending():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = stripe.StripeClient(API_KEY, base_addresses={"api": f"http://127.0.0.1:{closed_port}"},
                                 max_network_retries=0)
    with stripe_settings(None):
        use_stripe_client(client)
        try:
            _customer, _department, ticket_id = await open_paid()
            outcome = await payments.charge_new_ticket(ticket_id=ticket_id)
        finally:
            use_stripe_client(None)

    assert (outcome.status, outcome.ticket_status) == ("pending", "awaiting_payment")
    assert outcome.failure_reason == UNREACHABLE
    assert outcome.amount == 1500 and outcome.payment_url is not None


async def test_unreachable_then_retry_reuses_the_same_idempotency_key(scripted):
    lost = stripe.APIConnectionError("Connection refused", should_retry=True)
    http = scripted(saved_card_routes(**{"POST /v1/payment_intents": [lost, lost, lost, None]}))
    customer, _department, ticket_id = await open_paid()

    outcome = await payments.charge_new_ticket(ticket_id=ticket_id)
    assert outcome.status == "pending"
    charge_id = outcome.charge_id
    http.routes = saved_card_routes(**{
        "POST /v1/payment_intents/pi_ok/confirm": [
            (200, intent("pi_ok", "succeeded", charge_id))
        ],
        "POST /v1/payment_intents": [(200, intent("pi_ok", "requires_confirmation", charge_id))],
    })
    retried = await payments.retry_saved_card(ticket_id=ticket_id, customer_id=customer)

    assert retried.paid and retried.ticket_status == "in_progress"
    key = (await charge_of(ticket_id))["idempotency_key"]
    creates = [k for form, k in http.posts("/v1/payment_intents") if "amount" in form]
    assert creates == [key] * 4
    assert [k for _, k in http.posts("/v1/payment_intents/pi_ok/confirm")] == [key + "-confirm"]


async def test_a_500_then_success_charges_with_one_idempotency_key(scripted):
    boom = (500, {"error": {"type": "api_error", "message": "boom"}})
    http = scripted(saved_card_routes())
    customer, department, ticket_id = await open_paid()
    created = lambda form: (  # noqa: E731
        200, intent("pi_ok", "requires_confirmation", int(form["metadata[charge_id]"][0]))
    )
    http.routes["POST /v1/payment_intents/pi_ok/confirm"] = [
        boom, (200, intent("pi_ok", "succeeded"))
    ]
    http.routes["POST /v1/payment_intents"] = [boom, created]

    outcome = await payments.charge_new_ticket(
        ticket_id=ticket_id, customer_id=customer, department_id=department,
        amount=1500, currency="usd",
    )

    assert outcome.paid
    charge = await charge_of(ticket_id)
    creates = [(form, key) for form, key in http.posts("/v1/payment_intents") if "amount" in form]
    assert [key for _, key in creates] == [charge["idempotency_key"]] * 2
    form = creates[0][0]
    assert "confirm" not in form and "off_session" not in form
    assert form["payment_method"] == ["pm_1"] and form["customer"] == ["cus_1"]
    assert form["metadata[ticket_id]"] == [str(ticket_id)]
    assert form["metadata[attempt]"] == ["1"]
    confirms = http.posts("/v1/payment_intents/pi_ok/confirm")
    assert [key for _, key in confirms] == [charge["idempotency_key"] + "-confirm"] * 2
    assert confirms[0][0]["off_session"] == ["true"]
    assert charge["stripe_payment_intent_id"] == "pi_ok"


async def test_checkout_session_is_created_and_its_completion_pays_the_ticket(scripted, client):
    session = {"id": "cs_1", "object": "checkout.session",
               "url": "https://checkout.stripe.com/c/pay/cs_1"}
    http = scripted({
        "POST /v1/customers": [(200, {"id": "cus_new", "object": "customer"})],
        "POST /v1/checkout/sessions": [(200, session)],
    })
    customer, _department, ticket_id = await open_paid(with_card=False)
    outcome = await payments.charge_new_ticket(ticket_id=ticket_id)
    assert outcome.status == "requires_payment"
    assert http.posts("/v1/payment_intents") == []

    url = await payments.start_checkout(ticket_id=ticket_id, customer_id=customer)

    assert url == session["url"]
    [(form, _)] = http.posts("/v1/checkout/sessions")
    assert form["mode"] == ["payment"] and form["customer"] == ["cus_new"]
    assert form["line_items[0][price_data][unit_amount]"] == ["1500"]
    assert form["metadata[charge_id]"] == [str(outcome.charge_id)]
    assert form["payment_intent_data[metadata][charge_id]"] == [str(outcome.charge_id)]
    charge = await charge_of(ticket_id)
    assert charge["stripe_checkout_session_id"] == "cs_1"
    user = await User.select(User.stripe_customer_id).where(User.id == customer).first()
    assert user["stripe_customer_id"] == "cus_new"

    completed = {**session, "mode": "payment", "payment_status": "paid", "status": "complete",
                 "payment_intent": "pi_checkout", "customer": "cus_new",
                 "metadata": {"charge_id": str(outcome.charge_id), "ticket_id": str(ticket_id)}}
    payload = event_payload("checkout.session.completed", completed)
    answer = await client.post("/stripe/webhook", content=payload, headers=signed(payload))

    assert answer.status_code == 200 and answer.json()["result"] == "handled"
    charge = await charge_of(ticket_id)
    assert (charge["status"], charge["stripe_payment_intent_id"]) == ("succeeded", "pi_checkout")
    ticket = await Ticket.select(Ticket.status).where(Ticket.id == ticket_id).first()
    assert ticket["status"] == "in_progress"


async def test_returning_from_checkout_settles_without_the_webhook(scripted):
    customer, _department, ticket_id = await open_paid(with_card=False)
    outcome = await payments.charge_new_ticket(ticket_id=ticket_id)
    scripted({
        "POST /v1/customers": [(200, {"id": "cus_new", "object": "customer"})],
        "POST /v1/checkout/sessions": [(200, {"id": "cs_2", "object": "checkout.session",
                                              "url": "https://checkout.stripe.com/c/pay/cs_2"})],
        "GET /v1/checkout/sessions/cs_2": [(200, {
            "id": "cs_2", "object": "checkout.session", "mode": "payment",
            "payment_status": "paid", "payment_intent": "pi_2",
            "metadata": {"charge_id": str(outcome.charge_id), "attempt": "2"},
        })],
    })
    await payments.start_checkout(ticket_id=ticket_id, customer_id=customer)

    done = await payments.finish_checkout(ticket_id=ticket_id, customer_id=customer,
                                          session_id="cs_2")

    assert done.paid and done.ticket_status == "in_progress"
    charge = await charge_of(ticket_id)
    assert (charge["stripe_payment_intent_id"], charge["attempt"]) == ("pi_2", 2)


async def test_card_setup_through_checkout_makes_the_new_card_the_default(scripted):
    customer = await make_user()
    await User.update({User.stripe_customer_id: "cus_1"}).where(User.id == customer.id)
    http = scripted({
        "POST /v1/checkout/sessions": [(200, {"id": "cs_setup", "object": "checkout.session",
                                              "url": "https://checkout.stripe.com/c/setup"})],
        "GET /v1/checkout/sessions/cs_setup": [(200, {
            "id": "cs_setup", "object": "checkout.session", "mode": "setup",
            "status": "complete", "customer": "cus_1",
            "setup_intent": {"id": "seti_1", "object": "setup_intent", "payment_method": "pm_new"},
        })],
        "POST /v1/customers/cus_1": [(200, CUSTOMER)],
    })

    url = await payments.start_card_setup(user_id=customer.id)
    saved = await payments.finish_card_setup(user_id=customer.id, session_id="cs_setup")

    assert url == "https://checkout.stripe.com/c/setup" and saved
    [(form, _)] = http.posts("/v1/checkout/sessions")
    assert form["mode"] == ["setup"]
    [(update, _)] = http.posts("/v1/customers/cus_1")
    assert update["invoice_settings[default_payment_method]"] == ["pm_new"]


async def test_api_pay_with_checkout_answers_a_fresh_session_url(scripted, client):
    from tests.factories import make_token

    http = scripted({
        "POST /v1/customers": [(200, {"id": "cus_api", "object": "customer"})],
        "POST /v1/checkout/sessions": [(200, {"id": "cs_api", "object": "checkout.session",
                                              "url": "https://checkout.stripe.com/c/pay/cs_api"})],
    })
    customer = await make_user()
    department = await make_department(free_tickets=0)
    ticket_id = await awaiting_ticket(customer_id=customer.id, department_id=department)
    await payments.charge_new_ticket(ticket_id=ticket_id)
    token = await make_token(customer)

    answer = await client.post(f"/api/v1/tickets/{ticket_id}/pay", json={"method": "checkout"},
                               headers={"Authorization": f"Bearer {token}"})
    unknown = await client.post(f"/api/v1/tickets/{ticket_id}/pay", json={"method": "cash"},
                                headers={"Authorization": f"Bearer {token}"})

    assert answer.status_code == 200
    assert answer.json()["payment_url"] == "https://checkout.stripe.com/c/pay/cs_api"
    assert answer.json()["charge"]["status"] == "requires_payment"
    assert len(http.posts("/v1/checkout/sessions")) == 1
    assert unknown.status_code == 422 and unknown.json()["code"] == "validation_error"


async def test_reconcile_settles_refunds_whose_answer_was_lost(scripted):
    from billdesk.tables import Refund

    lost = stripe.APIConnectionError("Connection reset", should_retry=True)
    http = scripted({"POST /v1/refunds": [lost]})
    customer = await make_user()
    department = await make_department(free_tickets=0)
    ticket_id = await awaiting_ticket(customer_id=customer.id, department_id=department)
    rows = await Charge.insert(Charge(
        ticket=ticket_id, customer=customer.id, department=department, amount=2000,
        currency="usd", status="succeeded", idempotency_key="k-refunds",
        stripe_payment_intent_id="pi_paid",
    )).returning(Charge.id)
    charge_id = rows[0]["id"]
    kept = await payments.refund_charge(charge_id=charge_id, amount=500, reason="Late",
                                        actor_id=None)
    forgotten = await payments.refund_charge(charge_id=charge_id, amount=700, reason="Twice",
                                             actor_id=None)
    keys = {key for _, key in http.posts("/v1/refunds")}
    assert len(keys) == 2 and len(http.posts("/v1/refunds")) == 6
    assert (await charge_of(ticket_id))["refunded_amount"] == 1200
    http.routes["GET /v1/refunds"] = [(200, {"object": "list", "url": "/v1/refunds",
                                             "has_more": False, "data": [
        {"id": "re_kept", "object": "refund", "status": "succeeded", "amount": 500,
         "metadata": {"refund_id": str(kept)}},
    ]})]

    report = await payments.reconcile(include_recent=True)

    assert report.refunds_settled == 2
    states = {r["id"]: (r["status"], r["stripe_refund_id"]) for r in await Refund.select()}
    assert states == {kept: ("succeeded", "re_kept"), forgotten: ("failed", None)}
    charge = await charge_of(ticket_id)
    assert (charge["status"], charge["refunded_amount"]) == ("partially_refunded", 500)


async def _paid_opening_set_up() -> tuple[Any, int]:
    """A customer with a saved card in Stripe (cus_1) and a department where every ticket is paid."""
    customer = await make_user()
    await User.update({User.stripe_customer_id: "cus_1"}).where(User.id == customer.id)
    return customer, await make_department(free_tickets=0)


async def _open_paid_ticket(customer: Any, department: int) -> Any:
    return await open_ticket(
        customer=as_current(customer), department_id=department, service_id=None,
        message="Server down\nplease look", files=[], accept_price=Price(1500, "usd"),
        client_token=None,
    )


async def test_an_opening_whose_card_look_up_finds_stripe_unreachable_waits_and_is_paid_later(
    scripted,
):
    lost = stripe.APIConnectionError("Connection refused", should_retry=True)
    http = scripted({"GET /v1/customers/cus_1": [lost, lost, lost, (200, CUSTOMER)],
                     "GET /v1/payment_methods": [(200, CARDS)]})
    customer, department = await _paid_opening_set_up()

    opened = await _open_paid_ticket(customer, department)

    charge = await charge_of(opened.ticket_id)
    ticket = await Ticket.select(Ticket.status).where(Ticket.id == opened.ticket_id).first()
    assert ticket["status"] == "awaiting_payment"
    assert (charge["status"], charge["failure_reason"]) == ("pending", UNREACHABLE)
    assert charge["in_flight_token"] is None  # the lease is given back: the customer may retry
    assert charge["idempotency_key"].startswith(f"billdesk-charge-{charge['id']}-attempt-1-")
    assert http.posts("/v1/payment_intents") == []  # nothing was asked of Stripe's money

    http.routes.update({
        "POST /v1/payment_intents/pi_ok/confirm": [(200, intent("pi_ok", "succeeded", charge["id"]))],
        "POST /v1/payment_intents": [(200, intent("pi_ok", "requires_confirmation", charge["id"]))],
    })
    retried = await payments.retry_saved_card(ticket_id=opened.ticket_id, customer_id=customer.id)
    assert retried.paid and retried.ticket_status == "in_progress"
    assert len(http.posts("/v1/payment_intents/pi_ok/confirm")) == 1


async def test_an_opening_that_fails_while_its_card_is_looked_up_charges_nothing(
    scripted, monkeypatch
):
    from billdesk.tickets import opening

    # Stripe refuses the look-up with an error nobody awaits once the opening has failed.
    refused = (401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}})
    http = scripted({"GET /v1/customers/cus_1": [refused], "GET /v1/payment_methods": [(200, CARDS)]})
    customer, department = await _paid_opening_set_up()
    tickets_before = await Ticket.count()

    async def disk_full(**_: Any) -> int:
        await asyncio.sleep(0.05)  # the look-up answers meanwhile
        raise OSError("disk full")

    monkeypatch.setattr(opening, "_insert_ticket", disk_full)
    reported: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        with pytest.raises(OSError, match="disk full"):
            await _open_paid_ticket(customer, department)
        await asyncio.sleep(0.05)
        gc.collect()
    finally:
        loop.set_exception_handler(None)

    assert await Ticket.count() == tickets_before and await Charge.count() == 0
    assert [call[:2] for call in http.calls] == [("GET", "/v1/customers/cus_1")]
    assert reported == []  # the look-up's error is not reported as lost


async def test_a_paid_openings_payment_is_written_in_one_statement_after_stripes_answer(
    scripted, monkeypatch
):
    from billdesk.db import DB
    from billdesk.payments import charges

    http = scripted(saved_card_routes(**{
        "POST /v1/payment_intents/pi_ok/confirm": [(200, intent("pi_ok", "succeeded"))],
        "POST /v1/payment_intents": [(200, intent("pi_ok", "requires_confirmation"))],
    }))
    customer, department = await _paid_opening_set_up()
    sent: list[str] = []
    engine, answer = type(DB), charges.after_stripe_answer
    run = engine._run

    async def counted(self: Any, sql: str, args: Any) -> Any:
        sent.append(sql)
        return await run(self, sql, args)

    async def answered(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(engine, "_run", counted)
        try:
            return await answer(*args, **kwargs)
        finally:
            monkeypatch.setattr(engine, "_run", run)

    monkeypatch.setattr(charges, "after_stripe_answer", answered)

    opened = await _open_paid_ticket(customer, department)

    assert len(http.posts("/v1/payment_intents/pi_ok/confirm")) == 1
    ticket = await Ticket.select().where(Ticket.id == opened.ticket_id).first()
    assert ticket["status"] == "in_progress" and ticket["sla_paid"] is True
    charge = await charge_of(opened.ticket_id)
    assert (charge["status"], charge["stripe_payment_intent_id"]) == ("succeeded", "pi_ok")
    assert charge["in_flight_token"] is None
    lines = await TicketEvent.select(TicketEvent.kind, TicketEvent.new_value).where(
        TicketEvent.ticket == opened.ticket_id
    ).order_by(TicketEvent.id)
    assert [(line["kind"], line["new_value"]) for line in lines][-2:] == [
        ("charge", "succeeded"), ("status", "in_progress")
    ]
    kinds = [job["kind"] for job in await Job.select(Job.kind).order_by(Job.id)]
    assert kinds[-3:] == ["outbox.fan_out", "payments.note_card", "outbox.fan_out"]
    assert await Notification.count().where(
        (Notification.ticket == opened.ticket_id)
        & (Notification.kind == Notification.Kind.payment_succeeded)
    ) == 1
    if DB.engine_type == "postgres":
        # The locked ticket and charge with the service level, the locked attempts, then
        # every write at once.
        assert len(sent) == 3, sent
        assert sent[-1].startswith("WITH written_1 AS (UPDATE payment_attempts")


async def test_a_paid_openings_stripe_calls_are_made_on_the_event_loop(scripted, monkeypatch):
    """The calls a customer waits for (the card's look-up, creating and confirming the
    PaymentIntent) use the SDK's `_async` methods: none waits for a Stripe thread."""
    from billdesk.payments import stripe_api

    http = scripted(saved_card_routes(**{
        "POST /v1/payment_intents/pi_ok/confirm": [(200, intent("pi_ok", "succeeded"))],
        "POST /v1/payment_intents": [(200, intent("pi_ok", "requires_confirmation"))],
    }))
    threaded: list[Any] = []
    submit = stripe_api._STRIPE_THREADS.submit

    def recorded(*args: Any, **kwargs: Any) -> Any:
        threaded.append(args)
        return submit(*args, **kwargs)

    monkeypatch.setattr(stripe_api._STRIPE_THREADS, "submit", recorded)
    customer, department = await _paid_opening_set_up()

    opened = await _open_paid_ticket(customer, department)

    assert (await charge_of(opened.ticket_id))["status"] == "succeeded"
    assert [call[:2] for call in http.calls] == [
        ("GET", "/v1/customers/cus_1"), ("GET", "/v1/payment_methods"),
        ("POST", "/v1/payment_intents"), ("POST", "/v1/payment_intents/pi_ok/confirm"),
    ]
    assert threaded == []


async def test_a_paid_openings_payment_intent_is_created_before_its_ticket_commits(
    scripted, monkeypatch
):
    """Stripe creates the PaymentIntent while the opening still writes: its commit waits
    here until the creation has been asked for, which only the early creation passes.
    Confirming waits for the commit and for the PaymentIntent's id to be written."""
    from contextlib import asynccontextmanager

    from billdesk.payments import charges
    from billdesk.tickets import opening

    http = scripted(saved_card_routes(**{
        "POST /v1/payment_intents/pi_ok/confirm": [(200, intent("pi_ok", "succeeded"))],
        "POST /v1/payment_intents": [(200, intent("pi_ok", "requires_confirmation"))],
    }))
    customer, department = await _paid_opening_set_up()
    asked = asyncio.Event()
    create, transaction = charges._create_intent, opening.write_transaction

    async def creating(*args: Any, **kwargs: Any) -> Any:
        asked.set()
        return await create(*args, **kwargs)

    @asynccontextmanager
    async def committed_once_asked() -> Any:
        async with transaction():
            yield
            await asyncio.wait_for(asked.wait(), timeout=5)

    monkeypatch.setattr(charges, "_create_intent", creating)
    monkeypatch.setattr(opening, "write_transaction", committed_once_asked)

    opened = await _open_paid_ticket(customer, department)

    assert len(http.posts("/v1/payment_intents/pi_ok/confirm")) == 1
    charge = await charge_of(opened.ticket_id)
    assert (charge["status"], charge["stripe_payment_intent_id"]) == ("succeeded", "pi_ok")


async def test_an_opening_that_fails_after_its_charge_is_written_cancels_its_payment_intent(
    scripted, monkeypatch
):
    """The opening's transaction fails after the PaymentIntent was created: nothing is
    stored, the PaymentIntent is cancelled in Stripe, and nothing was confirmed."""
    from billdesk.payments import charges

    http = scripted(saved_card_routes(**{
        "POST /v1/payment_intents/pi_gone/cancel": [(200, intent("pi_gone", "canceled"))],
        "POST /v1/payment_intents": [(200, intent("pi_gone", "requires_confirmation"))],
    }))
    customer, department = await _paid_opening_set_up()

    class AttemptNotWritten(Exception):
        pass

    class Failing:
        async def first(self, **_: Any) -> Any:
            raise AttemptNotWritten

    monkeypatch.setattr(charges, "_NEW_ATTEMPT", Failing())

    with pytest.raises(AttemptNotWritten):
        await _open_paid_ticket(customer, department)
    await asyncio.gather(*charges._CANCELLING)

    assert len(http.posts("/v1/payment_intents/pi_gone/cancel")) == 1
    assert http.posts("/v1/payment_intents/pi_gone/confirm") == []
    assert await Ticket.count() == 0 and await Charge.count() == 0
