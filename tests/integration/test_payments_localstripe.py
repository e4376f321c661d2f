"""Paid tickets against localstripe through the real SDK: charge once, decline and retry,
webhooks once, recovery after a crash, refunds."""

from __future__ import annotations

import pytest

from billdesk import payments
from billdesk.errors import InvalidTransition
from billdesk.payments import charges as charge_module
from billdesk.payments import events as events_module
from billdesk.tables import (
    Charge,
    Notification,
    Refund,
    StripeEvent,
    Ticket,
    TicketEvent,
    User,
)
from tests.factories import make_department, make_user
from tests.payment_helpers import (
    DECLINED_CARD,
    GOOD_CARD,
    awaiting_ticket,
    event_payload,
    give_card,
    intents_for_charge,
    make_charge,
    save_card,
    signed,
)

pytestmark = pytest.mark.stripe


async def paid_ticket(customer_id: int, department_id: int) -> payments.ChargeOutcome:
    ticket_id = await awaiting_ticket(customer_id=customer_id, department_id=department_id)
    return await payments.charge_new_ticket(
        ticket_id=ticket_id, customer_id=customer_id, department_id=department_id,
        amount=1500, currency="usd",
    )


async def ticket_status(ticket_id: int) -> str:
    row = await Ticket.select(Ticket.status).where(Ticket.id == ticket_id).first()
    return row["status"]


async def charge_row(charge_id: int) -> dict:
    return await Charge.select().where(Charge.id == charge_id).first()


async def test_good_card_is_charged_once_and_the_ticket_joins_the_queue(sdk):
    customer = await make_user()
    department = await make_department(free_tickets=0)
    await give_card(sdk, customer.id)

    outcome = await paid_ticket(customer.id, department)

    assert outcome.paid and outcome.payment_url is None
    assert await ticket_status(outcome.ticket_id) == "in_progress"
    [intent] = intents_for_charge(sdk, outcome.charge_id)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 1500, "usd")
    assert intent.metadata["ticket_id"] == str(outcome.ticket_id)
    row = await charge_row(outcome.charge_id)
    assert row["stripe_payment_intent_id"] == intent.id and row["paid_at"] is not None
    assert row["idempotency_key"].startswith(f"billdesk-charge-{outcome.charge_id}-attempt-1-")

    again = await payments.charge_new_ticket(
        ticket_id=outcome.ticket_id, customer_id=customer.id, department_id=department,
        amount=1500, currency="usd",
    )
    assert again.charge_id == outcome.charge_id and again.paid
    assert len(intents_for_charge(sdk, outcome.charge_id)) == 1
    kinds = await Notification.select(Notification.kind).where(Notification.user == customer.id)
    assert [k["kind"] for k in kinds] == ["payment_succeeded"]


async def test_declined_card_waits_then_is_paid_by_retry_after_replacing_the_card(sdk):
    customer = await make_user()
    department = await make_department(free_tickets=0)
    stripe_customer = await give_card(sdk, customer.id, DECLINED_CARD)

    outcome = await paid_ticket(customer.id, department)

    assert outcome.status == "requires_payment"
    assert outcome.ticket_status == "awaiting_payment"
    assert "declined" in outcome.failure_reason.lower()
    assert outcome.payment_url.endswith(f"/tickets/{outcome.ticket_id}/checkout")
    first = await charge_row(outcome.charge_id)
    assert first["stripe_payment_intent_id"]
    failed = await Notification.select().where(Notification.kind == "payment_failed")
    assert len(failed) == 1 and failed[0]["ticket"] == outcome.ticket_id

    save_card(sdk, stripe_customer, GOOD_CARD)
    retried = await payments.retry_saved_card(ticket_id=outcome.ticket_id, customer_id=customer.id)

    assert retried.paid and retried.ticket_status == "in_progress"
    second = await charge_row(outcome.charge_id)
    assert second["attempt"] == 2 and second["idempotency_key"] != first["idempotency_key"]
    # The refused attempt's PaymentIntent is cancelled before a new one is made, so
    # only one PaymentIntent of the charge could ever take the money.
    statuses = sorted(i.status for i in intents_for_charge(sdk, outcome.charge_id))
    assert statuses == ["canceled", "succeeded"]


async def test_no_saved_card_asks_for_payment_without_calling_stripe(sdk):
    customer = await make_user()
    department = await make_department(free_tickets=0)

    outcome = await paid_ticket(customer.id, department)

    assert outcome.status == "requires_payment" and outcome.ticket_status == "awaiting_payment"
    assert "no saved card" in outcome.failure_reason
    assert intents_for_charge(sdk, outcome.charge_id) == []


async def test_cancel_solves_the_ticket_and_charges_nothing(sdk):
    customer = await make_user()
    department = await make_department(free_tickets=0)
    await give_card(sdk, customer.id, DECLINED_CARD)
    outcome = await paid_ticket(customer.id, department)

    canceled = await payments.cancel_unpaid_ticket(
        ticket_id=outcome.ticket_id, customer_id=customer.id
    )

    assert (canceled.status, canceled.ticket_status) == ("canceled", "solved")
    [intent] = intents_for_charge(sdk, outcome.charge_id)
    assert intent.status == "canceled"
    with pytest.raises(InvalidTransition):
        await payments.retry_saved_card(ticket_id=outcome.ticket_id, customer_id=customer.id)


async def crash_after_stripe(monkeypatch, customer_id: int, department_id: int) -> int:
    """Open a paid ticket whose process dies after Stripe answered, before the write."""

    async def die(*args, **kwargs):
        raise SystemExit("the process died")

    monkeypatch.setattr(charge_module, "after_stripe_answer", die)
    with pytest.raises(SystemExit):
        await paid_ticket(customer_id, department_id)
    monkeypatch.undo()
    row = await Charge.select(Charge.id, Charge.status).first()
    assert row["status"] == "pending"
    return row["id"]


async def test_a_paid_opening_commits_its_charge_with_the_ticket_and_a_crash_before_stripe_is_recovered(
    sdk, monkeypatch, clock
):
    """The charge and its first attempt commit with the ticket, lease held, before Stripe is
    asked to take money; a process that stops right then leaves nothing charged (the
    PaymentIntent created meanwhile is unconfirmed), and once the lease has run out the
    customer's retry confirms that same PaymentIntent, charging the ticket once."""
    import asyncio
    from datetime import timedelta

    from billdesk.errors import PaymentInProgress
    from billdesk.payments.states import LEASE
    from billdesk.quotas import Price
    from billdesk.tables import PaymentAttempt
    from billdesk.tickets import open_ticket
    from tests.factories import as_current

    customer = await make_user()
    department = await make_department(free_tickets=0, ticket_price=1500, currency="usd")
    await give_card(sdk, customer.id)

    async def die(*args, **kwargs):
        raise SystemExit("the process died before asking Stripe")

    monkeypatch.setattr(payments, "charge_opened_ticket", die)
    with pytest.raises(SystemExit):
        await open_ticket(
            customer=as_current(customer), department_id=department, service_id=None,
            message="Paid help", files=[], accept_price=Price(1500, "usd"), client_token=None,
        )
    monkeypatch.undo()
    [charge] = await Charge.select()
    [attempt] = await PaymentAttempt.select()
    assert await ticket_status(charge["ticket"]) == "awaiting_payment"
    assert (charge["status"], charge["amount"], charge["attempt"]) == ("pending", 1500, 1)
    assert charge["idempotency_key"] == attempt["idempotency_key"]
    assert charge["idempotency_key"].startswith(f"billdesk-charge-{charge['id']}-attempt-1-")
    assert (attempt["number"], attempt["status"], attempt["method"]) == (1, "started", "saved_card")
    assert charge["in_flight_token"] and charge["in_flight_until"] > clock.now()
    # Its PaymentIntent was created while the opening wrote: unconfirmed, it took nothing.
    for _ in range(500):
        created = intents_for_charge(sdk, charge["id"])
        if created:
            break
        await asyncio.sleep(0.01)
    assert [intent.status for intent in created] == ["requires_confirmation"]
    [pending_line] = await TicketEvent.select(TicketEvent.new_value).where(
        TicketEvent.kind == "charge"
    )
    assert pending_line["new_value"] == "pending 15.00 USD"

    with pytest.raises(PaymentInProgress):  # the stopped process still holds the lease
        await payments.retry_saved_card(ticket_id=charge["ticket"], customer_id=customer.id)
    clock.advance(LEASE + timedelta(seconds=1))
    outcome = await payments.retry_saved_card(ticket_id=charge["ticket"], customer_id=customer.id)

    assert outcome.paid and await ticket_status(charge["ticket"]) == "in_progress"
    [intent] = intents_for_charge(sdk, charge["id"])
    assert (intent.status, intent.amount) == ("succeeded", 1500)
    assert (await charge_row(charge["id"]))["in_flight_token"] is None


async def test_crash_between_stripe_and_the_database_is_settled_by_reconcile(sdk, monkeypatch):
    customer = await make_user()
    department = await make_department(free_tickets=0)
    await give_card(sdk, customer.id)
    charge_id = await crash_after_stripe(monkeypatch, customer.id, department)

    report = await payments.reconcile()

    assert (report.checked, report.paid) == (1, 1)
    row = await charge_row(charge_id)
    assert row["status"] == "succeeded"
    assert await ticket_status(row["ticket"]) == "in_progress"
    [intent] = intents_for_charge(sdk, charge_id)
    assert row["stripe_payment_intent_id"] == intent.id
    again = await payments.reconcile()
    assert again.checked == 0


async def test_reconcile_marks_a_charge_that_never_reached_stripe(sdk):
    customer = await make_user()
    department = await make_department(free_tickets=0)
    ticket_id = await awaiting_ticket(customer_id=customer.id, department_id=department)
    await Charge.insert(Charge(ticket=ticket_id, customer=customer.id, department=department,
                               amount=900, currency="usd", idempotency_key="lost-1"))

    recent = await payments.reconcile()
    assert recent.unchanged == 1
    report = await payments.reconcile(include_recent=True)

    assert report.unpaid == 1
    row = await Charge.select(Charge.status).where(Charge.ticket == ticket_id).first()
    assert row["status"] == "requires_payment"


async def test_the_webhook_of_a_payment_the_charge_path_recorded_is_handled_and_changes_nothing(
    sdk, client
):
    customer = await make_user()
    department = await make_department(free_tickets=0)
    await give_card(sdk, customer.id)
    outcome = await paid_ticket(customer.id, department)
    before = await charge_row(outcome.charge_id)
    lines = await TicketEvent.count().where(TicketEvent.ticket == outcome.ticket_id)
    [intent] = intents_for_charge(sdk, outcome.charge_id)
    payload = event_payload("payment_intent.succeeded", intent, event_id="evt_after_the_answer")

    answer = await client.post("/stripe/webhook", content=payload, headers=signed(payload))

    assert answer.status_code == 200 and answer.json()["result"] == "handled"
    assert await StripeEvent.count() == 1
    assert await charge_row(outcome.charge_id) == before
    assert await TicketEvent.count().where(TicketEvent.ticket == outcome.ticket_id) == lines
    assert await Notification.count().where(Notification.kind == "payment_succeeded") == 1
    again = await client.post("/stripe/webhook", content=payload, headers=signed(payload))
    assert again.json()["result"] == "duplicate"


async def test_webhook_replayed_five_times_changes_state_once(sdk, monkeypatch, client):
    customer = await make_user()
    department = await make_department(free_tickets=0)
    await give_card(sdk, customer.id)
    charge_id = await crash_after_stripe(monkeypatch, customer.id, department)
    [intent] = intents_for_charge(sdk, charge_id)
    payload = event_payload("payment_intent.succeeded", intent, event_id="evt_replayed")

    answers = [
        (await client.post("/stripe/webhook", content=payload, headers=signed(payload)))
        for _ in range(5)
    ]

    assert [a.status_code for a in answers] == [200] * 5
    assert [a.json()["result"] for a in answers] == ["handled"] + ["duplicate"] * 4
    row = await charge_row(charge_id)
    assert row["status"] == "succeeded"
    assert await StripeEvent.count() == 1
    moves = await TicketEvent.count().where(
        (TicketEvent.ticket == row["ticket"]) & (TicketEvent.new_value == "in_progress")
    )
    assert moves == 1
    assert await Notification.count().where(Notification.kind == "payment_succeeded") == 1


async def test_bad_signature_and_old_or_future_timestamp_are_refused(sdk, monkeypatch, client):
    customer = await make_user()
    department = await make_department(free_tickets=0)
    await give_card(sdk, customer.id)
    charge_id = await crash_after_stripe(monkeypatch, customer.id, department)
    [intent] = intents_for_charge(sdk, charge_id)
    payload = event_payload("payment_intent.succeeded", intent)

    forged = await client.post("/stripe/webhook", content=payload,
                               headers=signed(payload, secret="whsec_someone_else"))
    import time

    old = await client.post("/stripe/webhook", content=payload,
                            headers=signed(payload, timestamp=int(time.time()) - 600))
    future = await client.post("/stripe/webhook", content=payload,
                               headers=signed(payload, timestamp=int(time.time()) + 600))
    unsigned = await client.post("/stripe/webhook", content=payload)

    assert (forged.status_code, old.status_code, unsigned.status_code) == (400, 400, 400)
    assert future.status_code == 400
    assert (await charge_row(charge_id))["status"] == "pending"
    assert await StripeEvent.count() == 0


async def test_failure_inside_handling_answers_500_and_the_retry_handles_it(
    sdk, monkeypatch, client
):
    customer = await make_user()
    department = await make_department(free_tickets=0)
    await give_card(sdk, customer.id)
    charge_id = await crash_after_stripe(monkeypatch, customer.id, department)
    [intent] = intents_for_charge(sdk, charge_id)
    payload = event_payload("payment_intent.succeeded", intent, event_id="evt_retry")

    async def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(events_module, "record_success", broken)
    failed = await client.post("/stripe/webhook", content=payload, headers=signed(payload))
    monkeypatch.undo()
    assert failed.status_code == 500
    assert await StripeEvent.count() == 0

    retried = await client.post("/stripe/webhook", content=payload, headers=signed(payload))
    assert retried.status_code == 200 and retried.json()["result"] == "handled"
    assert (await charge_row(charge_id))["status"] == "succeeded"


async def test_payment_failed_webhook_asks_the_customer_to_pay(sdk, client):
    customer = await make_user()
    department = await make_department(free_tickets=0)
    ticket_id = await awaiting_ticket(customer_id=customer.id, department_id=department)
    charge_id = await make_charge(ticket_id=ticket_id, customer_id=customer.id,
                                  department_id=department)
    rows = [{"id": charge_id}]
    intent = {"id": "pi_failed", "object": "payment_intent", "status": "requires_payment_method",
              "metadata": {"charge_id": str(charge_id), "attempt": "1"},
              "last_payment_error": {"message": "Your card has insufficient funds."}}
    payload = event_payload("payment_intent.payment_failed", intent)

    answer = await client.post("/stripe/webhook", content=payload, headers=signed(payload))

    assert answer.status_code == 200
    row = await charge_row(rows[0]["id"])
    assert (row["status"], row["failure_reason"]) == (
        "requires_payment", "Your card has insufficient funds."
    )
    assert row["stripe_payment_intent_id"] == "pi_failed"


async def test_unknown_events_and_objects_are_acknowledged(sdk, client):
    for event_type, obj in [
        ("customer.created", {"id": "cus_1", "object": "customer"}),
        ("payment_intent.succeeded", {"id": "pi_unknown", "object": "payment_intent",
                                       "metadata": {}}),
    ]:
        payload = event_payload(event_type, obj)
        answer = await client.post("/stripe/webhook", content=payload, headers=signed(payload))
        assert answer.status_code == 200


async def test_refund_in_part_then_the_rest_and_never_more(sdk):
    finance = await make_user(role="finance")
    customer = await make_user()
    department = await make_department(free_tickets=0)
    await give_card(sdk, customer.id)
    outcome = await paid_ticket(customer.id, department)

    first = await payments.refund_charge(
        charge_id=outcome.charge_id, amount=500, reason="Answered late", actor_id=finance.id
    )
    row = await charge_row(outcome.charge_id)
    assert (row["status"], row["refunded_amount"]) == ("partially_refunded", 500)

    with pytest.raises(payments.refunds.ValidationFailed) as too_much:
        await payments.refund_charge(
            charge_id=outcome.charge_id, amount=1001, reason="Too much", actor_id=finance.id
        )
    assert too_much.value.status == 422 and "amount" in too_much.value.errors

    await payments.refund_charge(
        charge_id=outcome.charge_id, amount=None, reason="Goodwill", actor_id=finance.id
    )
    row = await charge_row(outcome.charge_id)
    assert (row["status"], row["refunded_amount"]) == ("refunded", 1500)
    refunds = await Refund.select().order_by(Refund.id)
    assert [(r["amount"], r["status"]) for r in refunds] == [(500, "succeeded"),
                                                              (1000, "succeeded")]
    assert refunds[0]["id"] == first and all(r["stripe_refund_id"] for r in refunds)
    stripe_refunds = sdk.v1.refunds.list(
        params={"payment_intent": row["stripe_payment_intent_id"]}
    ).data
    assert sorted(r.amount for r in stripe_refunds) == [500, 1000]
    with pytest.raises(payments.refunds.InvalidTransition):
        await payments.refund_charge(
            charge_id=outcome.charge_id, amount=1, reason="Again", actor_id=finance.id
        )


async def test_a_customer_stripe_no_longer_has_waits_to_pay_instead_of_failing(sdk):
    customer = await make_user()
    department = await make_department(free_tickets=0)
    await User.update({User.stripe_customer_id: "cus_deleted_in_stripe"}).where(
        User.id == customer.id
    )

    outcome = await paid_ticket(customer.id, department)

    assert outcome.status == "requires_payment" and outcome.ticket_status == "awaiting_payment"
    assert "no saved card" in outcome.failure_reason
    assert outcome.payment_url
    assert intents_for_charge(sdk, outcome.charge_id) == []


async def test_a_paid_opening_starts_the_paid_clock_and_tells_the_customer_in_their_language(
    sdk, clock
):
    """Stripe's answer moves the ticket, its service-level clock (the paid targets, from
    the moment it is paid) and the customer's notification in one step, as a status
    change recorded anywhere else would."""
    from billdesk.quotas import Price
    from billdesk.sla import policy
    from billdesk.tables import Job
    from billdesk.tickets import open_ticket
    from tests.factories import as_current

    customer = await make_user()
    await User.update({User.language: "ru"}).where(User.id == customer.id)
    department = await make_department(free_tickets=0, ticket_price=1500, currency="usd")
    await policy.set_service_level(
        department, {"paid_targets": {"normal": {"first_response": 10, "resolution": 60}}}
    )
    await give_card(sdk, customer.id)

    opened = await open_ticket(
        customer=as_current(customer), department_id=department, service_id=None,
        message="Paid help", files=[], accept_price=Price(1500, "usd"), client_token=None,
    )

    ticket = await Ticket.select().where(Ticket.id == opened.ticket_id).first()
    assert ticket["status"] == "in_progress" and ticket["sla_paid"] is True
    assert ticket["clock_started_at"] == ticket["clock_running_since"] == clock.now()
    assert (ticket["first_response_due_at"] - clock.now()).total_seconds() == 10 * 60
    assert (ticket["resolution_due_at"] - clock.now()).total_seconds() == 60 * 60
    assert ticket["due_at"] == ticket["first_response_due_at"]
    lines = await TicketEvent.select(TicketEvent.kind, TicketEvent.old_value, TicketEvent.new_value).where(
        TicketEvent.ticket == opened.ticket_id
    ).order_by(TicketEvent.id)
    assert [(line["kind"], line["old_value"], line["new_value"]) for line in lines] == [
        ("opened", "", "awaiting_payment"),
        ("charge", "", "pending 15.00 USD"),
        ("charge", "pending", "succeeded"),
        ("status", "awaiting_payment", "in_progress"),
    ]
    [told] = await Notification.select(Notification.kind, Notification.text).where(
        Notification.user == customer.id
    )
    assert told["kind"] == "payment_succeeded" and told["text"].startswith("Оплата")
    charge = await Charge.select().where(Charge.ticket == opened.ticket_id).first()
    assert charge["in_flight_token"] is None and charge["in_flight_until"] is None
    kinds = sorted(job["kind"] for job in await Job.select(Job.kind))
    assert kinds.count("payments.note_card") == 1


async def test_a_process_whose_lease_was_taken_over_never_confirms_its_payment_intent(
    sdk, monkeypatch
):
    """Between creating the PaymentIntent and writing its id, the lease passed to another
    process (this one was too slow): the id is not written and the PaymentIntent is never
    confirmed, so it cannot take money; the charge is left to the lease's holder."""
    from billdesk.tables import PaymentAttempt

    customer = await make_user()
    department = await make_department(free_tickets=0)
    await give_card(sdk, customer.id)
    note_intent = charge_module._note_intent

    async def taken(started, intent_id):
        await Charge.update({Charge.in_flight_token: "another-process"}).where(
            Charge.id == started.charge["id"]
        )
        return await note_intent(started, intent_id)

    monkeypatch.setattr(charge_module, "_note_intent", taken)

    outcome = await paid_ticket(customer.id, department)

    assert not outcome.paid and outcome.status == "pending"
    [intent] = intents_for_charge(sdk, outcome.charge_id)
    assert intent.status == "requires_confirmation"
    row = await charge_row(outcome.charge_id)
    assert row["stripe_payment_intent_id"] is None and row["in_flight_token"] == "another-process"
    [attempt] = await PaymentAttempt.select().where(PaymentAttempt.charge == outcome.charge_id)
    assert attempt["stripe_payment_intent_id"] is None and attempt["status"] == "started"
    assert await ticket_status(outcome.ticket_id) == "awaiting_payment"


async def test_the_saved_card_is_found_from_each_event_loop_of_a_process(sdk):
    """A process may run event loops one after another (commands, a worker restarted in
    place): each loop gets its own connections to Stripe, and a closed loop's do not
    break the next one's calls."""
    import asyncio

    from billdesk.payments import stripe_api

    customer = await make_user()
    stripe_customer = await give_card(sdk, customer.id)

    def in_a_loop_of_its_own() -> stripe_api.SavedCard | None:
        async def look_up() -> stripe_api.SavedCard | None:
            try:
                return await stripe_api.saved_card(stripe_customer)
            finally:
                await stripe_api.close()

        return asyncio.run(look_up())

    first = await asyncio.to_thread(in_a_loop_of_its_own)
    second = await asyncio.to_thread(in_a_loop_of_its_own)
    here = await stripe_api.saved_card(stripe_customer)

    assert here is not None and here.last4 == GOOD_CARD[-4:]
    assert first == second == here


async def test_the_saved_cards_look_up_goes_through_the_proxy_the_environment_names(
    sdk, monkeypatch
):
    """Like the SDK's other calls (over `requests`), the saved-card calls honour
    HTTP(S)_PROXY and NO_PROXY: a proxy that is down makes the look-up fail, as
    unreachable, and naming Stripe's host in NO_PROXY goes around it."""
    import asyncio
    import socket
    from urllib.parse import urlsplit

    import stripe

    from billdesk.payments import stripe_api

    customer = await make_user()
    stripe_customer = await give_card(sdk, customer.id)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{probe.getsockname()[1]}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, down)

    def in_a_loop_of_its_own() -> stripe_api.SavedCard | None:
        async def look_up() -> stripe_api.SavedCard | None:
            try:
                return await stripe_api.saved_card(stripe_customer)
            finally:
                await stripe_api.close()

        return asyncio.run(look_up())

    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(stripe.APIConnectionError):
        await asyncio.to_thread(in_a_loop_of_its_own)

    monkeypatch.setenv("NO_PROXY", urlsplit(str(stripe_api.get_settings().stripe_api_base)).hostname)
    card = await asyncio.to_thread(in_a_loop_of_its_own)
    assert card is not None and card.last4 == GOOD_CARD[-4:]
