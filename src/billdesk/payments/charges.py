"""Charging paid tickets on the saved card, retrying, cancelling; where a charge stands.

A saved-card attempt runs in short steps, each its own transaction:

1. `begin_attempt()`: under the locks (ticket, charge, attempts) take the charge's
   in-flight lease and write the attempt with its idempotency key. Nobody else may
   start an attempt or cancel while the lease is held (`payment_in_progress`).
   A new ticket's first attempt is written with its charge instead
   (`write_first_attempt()`), in the transaction that opens the ticket.
2. `close_earlier()`: whatever earlier attempts left open in Stripe is closed (their
   PaymentIntent cancelled, their Checkout Session expired), so that at most one
   attempt can ever take the money. An earlier attempt that turns out paid pays the
   charge, and nothing new is asked.
3. The saved card is looked up (for a new ticket already while its opening writes the
   ticket: `look_up_card()`, a read that changes nothing in Stripe). The
   PaymentIntent is created unconfirmed (key K), its id written, then confirmed
   off-session (key K-confirm). An unconfirmed PaymentIntent cannot take money, so
   from the moment money can move billdesk knows which PaymentIntent to ask about;
   a retry of the same attempt sends the same keys and Stripe answers it once.
   A new ticket's PaymentIntent is created while its opening finishes writing, as
   soon as the charge has its id and the card is found; only confirming waits for
   the commit (and for the id to be written). An opening that does not commit
   cancels the PaymentIntent it created (`abandon_first_attempt()`).
4. `after_stripe_answer()`: Stripe's answer goes through `attempts.record_*`, and the
   lease is given back (with the charge's move, in the same statement).

A crash anywhere leaves the attempt `started` with its lease; once the lease has
expired, reconcile (or the customer's next click) finishes it from Stripe's records.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import stripe

from billdesk import clock
from billdesk.db import DB
from billdesk.db_postgres import give_back_while_waiting
from billdesk.errors import (
    NotFound,
    PaymentConfirmationRequired,
    PaymentInProgress,
    PaymentsUnavailable,
)
from billdesk.formatting import LocalMoney
from billdesk.i18n import tr
from billdesk.payments import stripe_api
from billdesk.payments.attempts import (
    DECLINED,
    find_attempt,
    money_text,
    notify,
    record_closed,
    record_decline,
    record_success,
    record_unknown,
)
from billdesk.payments.states import (
    LIVE_ATTEMPTS,
    PAID,
    UNPAID,
    AttemptStatus,
    ChargeStatus,
    Locked,
    locked_charge,
    move_attempt,
    move_charge,
    new_lease,
    release_lease,
    take_lease,
    update_row,
)
from billdesk.settings import get_settings
from billdesk.sql import Statement, batched_writes
from billdesk.tables import Charge, PaymentAttempt, Ticket, TicketEvent
from billdesk.tickets.lifecycle import (
    Action,
    locked_row,
    next_status,
    record_event,
    write_transaction,
)

log = logging.getLogger("billdesk.payments")

Status = ChargeStatus

NO_CARD = "You have no saved card. Pay on the payment page, or add a card and retry."
NEEDS_AUTHENTICATION = (
    "Your bank asks you to confirm this payment. Pay on the payment page to confirm it."
)
UNREACHABLE = (
    "The payment provider could not be reached. The payment will be checked again; "
    "you can also retry."
)
PROCESSING = "The payment is being processed."
BUSY = "A payment for this ticket is under way. Wait a moment, then reload the page."
CANCEL_WAIT_SECONDS = 5.0

__all__ = [
    "DECLINED",
    "NEEDS_AUTHENTICATION",
    "NO_CARD",
    "UNPAID",
    "UNREACHABLE",
    "ChargeOutcome",
    "Status",
    "abandon_first_attempt",
    "cancel_unpaid_ticket",
    "charge_new_ticket",
    "charge_opened_ticket",
    "money_text",
    "notify",
    "retry_saved_card",
    "write_first_attempt",
]


def payment_url(ticket_id: int) -> str:
    """The page that sends the customer to a fresh Stripe Checkout Session for the ticket."""
    return f"{get_settings().base_url}/tickets/{ticket_id}/checkout"


@dataclass(frozen=True)
class ChargeOutcome:
    """Where a paid ticket stands after an attempt to charge it (`charge_id` is None for a
    ticket given up before its price was ever confirmed: it never had a charge)."""

    charge_id: int | None
    ticket_id: int
    status: str
    ticket_status: str
    amount: int
    currency: str
    failure_reason: str

    @property
    def paid(self) -> bool:
        return self.status == Status.succeeded.value

    @property
    def payment_url(self) -> str | None:
        if self.ticket_status == Ticket.Status.awaiting_payment.value:
            return payment_url(self.ticket_id)
        return None


CHARGE_COLUMNS = (
    Charge.id,
    Charge.ticket,
    Charge.customer,
    Charge.department,
    Charge.amount,
    Charge.currency,
    Charge.status,
    Charge.idempotency_key,
    Charge.attempt,
    Charge.stripe_payment_intent_id,
    Charge.stripe_checkout_session_id,
    Charge.failure_reason,
    Charge.created_at,
    Charge.ticket.status,
)


async def load_charge(
    *, charge_id: int | None = None, ticket_id: int | None = None, customer_id: int | None = None
) -> dict[str, Any] | None:
    """A charge with its ticket's status, by id or by ticket, optionally only the customer's."""
    query = Charge.select(*CHARGE_COLUMNS)
    if charge_id is not None:
        query = query.where(Charge.id == charge_id)
    if ticket_id is not None:
        query = query.where(Charge.ticket == ticket_id)
    if customer_id is not None:
        query = query.where(Charge.customer == customer_id)
    return await query.first()


async def outcome_of(charge_id: int) -> ChargeOutcome:
    row = await load_charge(charge_id=charge_id)
    assert row is not None
    return ChargeOutcome(
        charge_id=row["id"],
        ticket_id=row["ticket"],
        status=row["status"],
        ticket_status=row["ticket.status"],
        amount=row["amount"],
        currency=row["currency"],
        failure_reason=row["failure_reason"],
    )


async def outcome_for_ticket(ticket_id: int) -> ChargeOutcome:
    row = await Charge.select(Charge.id).where(Charge.ticket == ticket_id).first()
    if row is None:
        raise NotFound(tr("There is no payment for this ticket."))
    return await outcome_of(row["id"])


def new_key(charge_id: int, attempt: int, salt: str | None = None) -> str:
    # The random part keeps keys unique if the database is ever rebuilt and ids repeat.
    return f"billdesk-charge-{charge_id}-attempt-{attempt}-{salt or secrets.token_hex(6)}"


def attempt_metadata(charge: dict[str, Any], number: int) -> dict[str, str]:
    """What every PaymentIntent and Checkout Session carries, so Stripe's news names its attempt."""
    return {
        "ticket_id": str(charge["ticket"]),
        "charge_id": str(charge["id"]),
        "attempt": str(number),
    }


# ------------------------------------------------------------ starting attempts


@dataclass
class Started:
    """An attempt this process may now run: it holds the charge's lease (`token`).

    `stripe_customer` is the customer's Stripe customer id when it was read with the
    attempt (a new ticket's first attempt), else None and it is read when needed;
    `card` is the saved card's look-up when it was started early (`look_up_card`), and
    `intent` the PaymentIntent's creation when that was started early too."""

    charge: dict[str, Any]
    attempt: dict[str, Any]
    token: str
    earlier: list[dict[str, Any]]
    stripe_customer: tuple[str | None] | None = None
    card: asyncio.Future[CardOrAnswer] | None = None
    # The PaymentIntent's creation, started by `write_first_attempt` before its opening
    # committed: `_create_intent`'s answer.
    intent: asyncio.Future[tuple[str, str, str | None]] | None = None


async def begin_attempt(charge_id: int, method: PaymentAttempt.Method) -> Started | None:
    """Take the lease and write the attempt; None when the charge is no longer unpaid.

    A saved-card attempt whose answer was lost (`unknown`, or `started` by a process
    whose lease expired) is run again with its own keys; otherwise a new attempt
    with a new key starts. Raises PaymentInProgress while another process holds
    the lease, InvalidTransition when the ticket is not awaiting payment.
    """
    async with locked_charge(charge_id) as locked:
        if not locked.unpaid:
            return None
        next_status(locked.ticket["status"], Action.pay)
        if locked.lease_held():
            raise PaymentInProgress(BUSY, errors={"status": BUSY})
        charge = locked.charge
        current = locked.attempt()
        if (
            method == PaymentAttempt.Method.saved_card
            and current is not None
            and current["method"] == method.value
            and current["status"] in (AttemptStatus.unknown.value, AttemptStatus.started.value)
        ):
            attempt = current
            await move_attempt(locked, attempt, AttemptStatus.started)
        else:
            attempt = await _add_attempt(locked, method)
        if method == PaymentAttempt.Method.saved_card:
            await move_charge(
                locked, ChargeStatus.pending,
                attempt=attempt["number"], idempotency_key=attempt["idempotency_key"],
                stripe_payment_intent_id=attempt["stripe_payment_intent_id"],
            )
        else:
            # A Checkout Session leaves the charge waiting for the customer until it is paid.
            waiting = ChargeStatus(charge["status"])
            if waiting == ChargeStatus.failed:
                waiting = ChargeStatus.requires_payment
            await move_charge(
                locked, waiting,
                attempt=attempt["number"], idempotency_key=attempt["idempotency_key"],
            )
        token = await take_lease(locked)
        earlier = [
            a for a in locked.attempts
            if a["id"] != attempt["id"] and a["status"] in LIVE_ATTEMPTS
        ]
        return Started(charge=dict(charge), attempt=dict(attempt), token=token, earlier=earlier)


async def _add_attempt(locked: Locked, method: PaymentAttempt.Method) -> dict[str, Any]:
    charge = locked.charge
    number = max([charge["attempt"], *(a["number"] for a in locked.attempts)]) + 1
    rows = await PaymentAttempt.insert(
        PaymentAttempt(
            charge=charge["id"],
            number=number,
            method=method,
            status=AttemptStatus.started,
            amount=charge["amount"],
            currency=charge["currency"],
            idempotency_key=new_key(charge["id"], number),
        )
    ).returning(*PaymentAttempt.all_columns())
    attempt = dict(rows[0])
    locked.attempts.append(attempt)
    return attempt


def close_in_stripe(client: stripe.StripeClient, attempt: dict[str, Any]) -> tuple[str, str | None]:
    """Make sure `attempt` can no longer take money: ("canceled" | "succeeded" | "processing", intent id).

    A PaymentIntent is cancelled and a Checkout Session expired; when Stripe says it
    is too late for that, Stripe is asked what happened. Stripe errors propagate.
    """
    if attempt["method"] == PaymentAttempt.Method.checkout.value:
        session_id = attempt["stripe_checkout_session_id"]
        if not session_id:
            return "canceled", None
        try:
            client.v1.checkout.sessions.expire(session_id)
            return "canceled", None
        except stripe.InvalidRequestError:
            session = client.v1.checkout.sessions.retrieve(session_id)
        intent_id = stripe_api.object_id(getattr(session, "payment_intent", None))
        if getattr(session, "payment_status", None) == "paid":
            return "succeeded", intent_id
        if getattr(session, "status", None) == "expired":
            return "canceled", intent_id
        return "processing", intent_id
    intent_id = attempt["stripe_payment_intent_id"]
    if not intent_id:
        # Never created, or created and never confirmed: nothing can take money.
        return "canceled", None
    try:
        client.v1.payment_intents.cancel(intent_id)
        return "canceled", intent_id
    except stripe.InvalidRequestError:
        intent = client.v1.payment_intents.retrieve(intent_id)
    if intent.status == "succeeded":
        return "succeeded", intent_id
    if intent.status == "canceled":
        return "canceled", intent_id
    if intent.status == "processing":
        return "processing", intent_id
    raise stripe.InvalidRequestError(
        f"PaymentIntent {intent_id} could not be cancelled ({intent.status})", param=None
    )


async def close_earlier(started: Started) -> str:
    """Close the attempts before this one in Stripe: "closed", "paid" or "processing".

    Stripe errors propagate; nothing is written for the attempts Stripe did not answer about.
    """
    results: list[tuple[dict[str, Any], str, str | None]] = []
    for attempt in started.earlier:
        state, intent_id = await stripe_api.call(
            partial(close_in_stripe, attempt=attempt)
        )
        results.append((attempt, state, intent_id))
    if not results:
        return "closed"
    outcome = "closed"
    async with locked_charge(started.charge["id"]) as locked:
        for attempt, state, intent_id in results:
            row = find_attempt(locked, number=attempt["number"])
            assert row is not None
            if state == "succeeded":
                await record_success(locked, row, payment_intent_id=intent_id)
                outcome = "paid"
            elif state == "canceled":
                await record_closed(locked, row)
            elif outcome != "paid":
                outcome = "processing"
    return outcome


# ------------------------------------------------------------ the saved card


def _declined_reason(error: stripe.CardError) -> str:
    if error.code == "authentication_required":
        return NEEDS_AUTHENTICATION
    message = getattr(error, "user_message", None) or (
        error.error.message if error.error is not None else None
    )
    return str(message or DECLINED)


def _intent_state(intent: Any) -> tuple[str, str]:
    """An attempt's outcome from a PaymentIntent's status: (succeeded|declined|unknown|canceled, reason)."""
    if intent.status == "succeeded":
        return AttemptStatus.succeeded.value, ""
    if intent.status in ("requires_action", "requires_confirmation"):
        return AttemptStatus.declined.value, NEEDS_AUTHENTICATION
    if intent.status == "processing":
        return AttemptStatus.unknown.value, PROCESSING
    if intent.status == "canceled":
        return AttemptStatus.canceled.value, tr("The payment was cancelled.")
    error = getattr(intent, "last_payment_error", None)
    message = getattr(error, "message", None) if error is not None else None
    return AttemptStatus.declined.value, str(message or DECLINED)


LOST_ERRORS = (
    stripe.APIConnectionError,
    stripe.APIError,
    stripe.RateLimitError,
    stripe.IdempotencyError,
)


# The saved card to charge, or the attempt's final answer when there is none to use:
# (attempt status, reason).
CardOrAnswer = stripe_api.SavedCard | tuple[str, str]


async def _card_or_answer(
    client: stripe.StripeClient, stripe_customer_id: str | None
) -> CardOrAnswer:
    """The customer's saved card, looked up in Stripe."""
    if not stripe_customer_id:
        return AttemptStatus.declined.value, NO_CARD
    try:
        card = await stripe_api.find_saved_card(client, stripe_customer_id)
    except LOST_ERRORS:
        return AttemptStatus.unknown.value, UNREACHABLE
    if card is None:
        return AttemptStatus.declined.value, NO_CARD
    return card


def look_up_card(stripe_customer_id: str | None) -> asyncio.Future[CardOrAnswer]:
    """Start looking up the customer's saved card now, for `write_first_attempt(card=…)`.

    An opening that will charge calls it as soon as it knows, so the look-up runs in
    Stripe while the opening writes its ticket; only creating and confirming the
    PaymentIntent waits for the commit. It reads and changes nothing: if the opening
    fails, its answer is dropped."""
    answer = stripe_api.start(lambda client: _card_or_answer(client, stripe_customer_id))
    # Read here, so an answer nobody awaits (the opening failed) is not reported lost.
    answer.add_done_callback(lambda done: done.cancelled() or done.exception())
    return answer


async def _create_intent(
    client: stripe.StripeClient, charge: dict[str, Any], attempt: dict[str, Any],
    card: CardOrAnswer | None, stripe_customer_id: str | None,
) -> tuple[str, str, str | None]:
    """Create the attempt's PaymentIntent, unconfirmed: ("created", "", id) or a final
    answer. The card is looked up first unless `card` is its look-up's answer. Only
    the attempt's amount, currency, number and idempotency key are read."""
    if card is None:
        card = await _card_or_answer(client, stripe_customer_id)
    if isinstance(card, tuple):
        return card[0], card[1], None
    try:
        intent = await client.v1.payment_intents.create_async(
            params={
                "amount": attempt["amount"],
                "currency": attempt["currency"],
                "customer": stripe_customer_id,
                "payment_method": card.payment_method_id,
                "metadata": attempt_metadata(charge, attempt["number"]),
            },
            options={"idempotency_key": attempt["idempotency_key"]},
        )
    except LOST_ERRORS:
        return AttemptStatus.unknown.value, UNREACHABLE, None
    except stripe.StripeError as error:
        log.warning("charge %s refused by Stripe: %s", charge["id"], error)
        return AttemptStatus.declined.value, str(error.user_message or DECLINED), None
    return "created", "", intent.id


async def _confirm_intent(
    client: stripe.StripeClient, started: Started, intent_id: str
) -> tuple[str, str, str | None]:
    """Confirm the PaymentIntent off-session: (attempt status, reason, intent id)."""
    try:
        intent = await client.v1.payment_intents.confirm_async(
            intent_id,
            params={"off_session": True},
            options={"idempotency_key": started.attempt["idempotency_key"] + "-confirm"},
        )
    except stripe.CardError as error:
        return AttemptStatus.declined.value, _declined_reason(error), intent_id
    except LOST_ERRORS:
        return AttemptStatus.unknown.value, UNREACHABLE, intent_id
    except stripe.InvalidRequestError:
        # Already confirmed (a retry after the key's replay window): ask where it stands.
        try:
            intent = await client.v1.payment_intents.retrieve_async(intent_id)
        except stripe.StripeError:
            return AttemptStatus.unknown.value, UNREACHABLE, intent_id
    except stripe.StripeError as error:
        log.warning("charge %s refused by Stripe: %s", started.charge["id"], error)
        return AttemptStatus.declined.value, str(error.user_message or DECLINED), intent_id
    status, reason = _intent_state(intent)
    return status, reason, intent_id


async def _note_intent(started: Started, intent_id: str) -> bool:
    """Write the new PaymentIntent's id before confirming it; False if the lease was lost.

    Not a full `locked_charge`: while this process holds the lease nobody else moves the
    charge or its attempts, so the charge's row is locked by its conditional update
    (which also checks the lease) and the attempt's after it. The charge, then its
    attempts: the tail of the one lock order, which cannot deadlock with it. On
    PostgreSQL the two updates are one statement (so one commit, without BEGIN's and
    COMMIT's round trips): the attempt's update waits for the charge's, whose id it reads."""
    arguments = {
        "charge": started.charge["id"], "token": started.token,
        "number": started.attempt["number"], "intent": intent_id,
    }
    if DB.engine_type == "postgres":
        noted = await _NOTE_INTENT_POSTGRES.first(**arguments) is not None
    else:
        async with write_transaction():
            noted = await _NOTE_INTENT_ON_CHARGE.first(**arguments) is not None
            if noted:
                await _NOTE_INTENT_ON_ATTEMPT.run(**arguments)
    if noted:
        started.attempt["stripe_payment_intent_id"] = intent_id
    return noted


_NOTE_INTENT_ON_CHARGE = Statement(
    "UPDATE charges SET stripe_payment_intent_id = CASE WHEN attempt = :number "
    "THEN :intent ELSE stripe_payment_intent_id END "
    "WHERE id = :charge AND in_flight_token = :token RETURNING id"
)
_NOTE_INTENT_ON_ATTEMPT = Statement(
    "UPDATE payment_attempts SET stripe_payment_intent_id = :intent "
    "WHERE charge = :charge AND number = :number"
)
_NOTE_INTENT_POSTGRES = Statement(
    "WITH held AS (UPDATE charges SET stripe_payment_intent_id = CASE WHEN attempt = :number "
    "THEN :intent ELSE stripe_payment_intent_id END "
    "WHERE id = :charge AND in_flight_token = :token RETURNING id) "
    "UPDATE payment_attempts SET stripe_payment_intent_id = :intent "
    "WHERE charge = (SELECT id FROM held) AND number = :number RETURNING id"
)


async def run_saved_card(started: Started) -> ChargeOutcome:
    """Run a begun saved-card attempt to Stripe's answer; the lease is given back at the end."""
    charge_id = started.charge["id"]
    try:
        try:
            earlier = await close_earlier(started)
        except stripe.StripeError as error:
            log.warning("charge %s: earlier attempts could not be closed: %s", charge_id, error)
            await after_stripe_answer(started, AttemptStatus.unknown.value, UNREACHABLE, None)
            return await outcome_of(charge_id)
        if earlier != "closed":
            await _abandon(started)
            return await outcome_of(charge_id)
        intent_id = started.attempt["stripe_payment_intent_id"]
        if intent_id is None:
            if started.stripe_customer is not None:
                (stripe_customer_id,) = started.stripe_customer
            else:
                stripe_customer_id = await stripe_api.stripe_customer_of(
                    started.charge["customer"]
                )
            if started.intent is not None:
                await give_back_while_waiting()
                state, reason, intent_id = await started.intent
            else:
                card = await started.card if started.card is not None else None
                state, reason, intent_id = await stripe_api.call_async(
                    lambda client: _create_intent(
                        client, started.charge, started.attempt, card, stripe_customer_id
                    )
                )
            if state != "created":
                return await after_stripe_answer(started, state, reason, intent_id)
            assert intent_id is not None
            if not await _note_intent(started, intent_id):
                log.warning("charge %s: lease lost before confirming %s", charge_id, intent_id)
                return await outcome_of(charge_id)
        state, reason, intent_id = await stripe_api.call_async(
            lambda client: _confirm_intent(client, started, intent_id)
        )
        return await after_stripe_answer(started, state, reason, intent_id)
    except Exception:
        await _give_back(started)
        raise


async def after_stripe_answer(
    started: Started, status: str, reason: str, intent_id: str | None
) -> ChargeOutcome:
    """Write what Stripe answered and give the lease back (a step of its own, so that a
    crash before it can be simulated); where the charge stands once written.

    The rows it writes go to the database together (`batched_writes`): a payment that
    succeeded moves the attempt, the charge and the ticket and adds two history lines,
    three jobs and a notification, in one round trip."""
    async with locked_charge(started.charge["id"]) as locked, batched_writes():
        attempt = find_attempt(locked, number=started.attempt["number"])
        assert attempt is not None
        locked.give_back_with_next_move(started.token)
        if status == AttemptStatus.succeeded.value:
            await record_success(locked, attempt, payment_intent_id=intent_id)
        elif status == AttemptStatus.unknown.value:
            await record_unknown(locked, attempt, reason=reason, payment_intent_id=intent_id)
        else:
            await record_decline(locked, attempt, reason=reason, payment_intent_id=intent_id)
            if status == AttemptStatus.canceled.value or intent_id is None:
                # Nothing in Stripe can take money for this attempt any more.
                await record_closed(locked, attempt)
        await release_lease(locked, started.token)
        return outcome_of_locked(locked)


def outcome_of_locked(locked: Locked) -> ChargeOutcome:
    """Where the locked charge stands, as this transaction leaves it."""
    charge = locked.charge
    return ChargeOutcome(
        charge_id=charge["id"],
        ticket_id=charge["ticket"],
        status=charge["status"],
        ticket_status=locked.ticket["status"],
        amount=charge["amount"],
        currency=charge["currency"],
        failure_reason=charge["failure_reason"],
    )


async def _abandon(started: Started) -> None:
    """An earlier attempt paid (or is being paid): this one is never sent."""
    async with locked_charge(started.charge["id"]) as locked:
        attempt = find_attempt(locked, number=started.attempt["number"])
        assert attempt is not None
        await record_closed(locked, attempt)
        if locked.charge["status"] == ChargeStatus.pending.value and locked.is_current(attempt):
            # Still being processed in Stripe: the webhook or reconcile settles it.
            await move_charge(locked, ChargeStatus.pending, failure_reason=PROCESSING)
        await release_lease(locked, started.token)


async def _give_back(started: Started) -> None:
    async with locked_charge(started.charge["id"]) as locked:
        await release_lease(locked, started.token)


async def charge_new_ticket(
    *,
    ticket_id: int,
    customer_id: int | None = None,
    department_id: int | None = None,
    amount: int | None = None,
    currency: str | None = None,
) -> ChargeOutcome:
    """Charge the saved card for a ticket just opened in `awaiting_payment`.

    Call it after the ticket's own transaction has committed, with the price the
    customer confirmed (`amount`, `currency`); what is left out is read from the
    ticket and its department. It writes the charge row first (committed), then
    asks Stripe; calling it again for the same ticket never charges twice.
    Raises PaymentsUnavailable, before writing anything, when payments are not set up.
    """
    stripe_api.stripe_client()
    if None in (customer_id, department_id, amount, currency):
        ticket = (
            await Ticket.select(
                Ticket.customer,
                Ticket.department,
                Ticket.department.ticket_price,
                Ticket.department.currency,
            )
            .where(Ticket.id == ticket_id)
            .first()
        )
        if ticket is None:
            raise NotFound(tr("There is no such ticket."))
        customer_id = customer_id if customer_id is not None else ticket["customer"]
        department_id = department_id if department_id is not None else ticket["department"]
        amount = amount if amount is not None else ticket["department.ticket_price"]
        currency = currency or ticket["department.currency"]
    assert currency is not None and amount is not None
    assert customer_id is not None and department_id is not None
    started = await _first_attempt(
        ticket_id=ticket_id, customer_id=customer_id, department_id=department_id,
        amount=amount, currency=currency,
    )
    if started is not None:
        return await run_saved_card(started)
    async with write_transaction():
        existing = await Charge.select(Charge.id).where(Charge.ticket == ticket_id).first()
        if existing is None:
            rows = await Charge.insert(
                Charge(
                    ticket=ticket_id,
                    customer=customer_id,
                    department=department_id,
                    amount=amount,
                    currency=currency.lower(),
                    status=Status.pending,
                    idempotency_key=f"billdesk-charge-new-{secrets.token_hex(16)}",
                    attempt=0,
                )
            ).returning(Charge.id)
            charge_id = rows[0]["id"]
            await record_event(
                ticket_id=ticket_id,
                kind=TicketEvent.Kind.charge,
                actor_id=None,
                old_value="",
                new_value=f"{Status.pending.value} {money_text(amount, currency)}",
                text=tr("Charge of %(amount)s pending", amount=LocalMoney(amount, currency)),
            )
        else:
            charge_id = existing["id"]
    try:
        started = await begin_attempt(charge_id, PaymentAttempt.Method.saved_card)
    except PaymentInProgress:
        return await outcome_of(charge_id)
    if started is None:
        return await outcome_of(charge_id)
    return await run_saved_card(started)


async def write_first_attempt(
    *, ticket_id: int, customer_id: int, department_id: int, amount: int, currency: str,
    stripe_customer_id: str | None, card: asyncio.Future[CardOrAnswer] | None = None,
) -> Started | None:
    """A paid ticket's charge with its first saved-card attempt and the lease, written in
    the caller's transaction, which holds the ticket (the one that opens it): as
    `charge_new_ticket` and `begin_attempt` would leave them, in the same commit as the
    ticket. With the card's look-up (`look_up_card`) it also starts creating the
    PaymentIntent, unconfirmed, as soon as the charge has its id: Stripe creates it
    while the rest is written and committed. `charge_opened_ticket` then confirms it
    (or asks Stripe for all of it, without a look-up). None, with nothing written, when
    the ticket has a charge already. If the caller's transaction does not commit, it
    calls `abandon_first_attempt`."""
    now = clock.now()
    token, until = new_lease()
    salt = secrets.token_hex(6)
    charge = await _NEW_CHARGE.first(
        ticket=ticket_id, customer=customer_id, department=department_id, amount=amount,
        currency=currency.lower(), status=Status.pending.value,
        key=f"billdesk-charge-new-{secrets.token_hex(16)}", salt=salt, at=now, until=until,
        token=token,
    )
    if charge is None:
        return None
    key = new_key(charge["id"], 1, salt)
    intent = None
    if card is not None:
        intent = _create_early(
            charge, {"amount": amount, "currency": currency.lower(), "number": 1,
                     "idempotency_key": key},
            card, stripe_customer_id,
        )
    try:
        await record_event(
            ticket_id=ticket_id, kind=TicketEvent.Kind.charge, actor_id=None,
            old_value="", new_value=f"{Status.pending.value} {money_text(amount, currency)}",
            text=tr("Charge of %(amount)s pending", amount=LocalMoney(amount, currency)),
        )
        attempt = await _NEW_ATTEMPT.first(
            charge=charge["id"], method=PaymentAttempt.Method.saved_card.value,
            status=AttemptStatus.started.value, amount=amount, currency=currency.lower(),
            key=key, at=now,
        )
        assert attempt is not None
        if charge["idempotency_key"] != key:
            # The charge carries its current attempt's key, known once the charge has its
            # id (PostgreSQL writes it with the charge).
            await update_row("charges", charge["id"], {"idempotency_key": key})
            charge["idempotency_key"] = key
    except BaseException:
        if intent is not None:
            _cancel_created(intent)
        raise
    return Started(
        charge=charge, attempt=attempt, token=token, earlier=[],
        stripe_customer=(stripe_customer_id,), card=card, intent=intent,
    )


def _create_early(
    charge: dict[str, Any], attempt: dict[str, Any], card: asyncio.Future[CardOrAnswer],
    stripe_customer_id: str | None,
) -> asyncio.Future[tuple[str, str, str | None]]:
    """Create the new ticket's PaymentIntent, unconfirmed, once the card is found: as a
    task, while the opening goes on writing (its connection stays with it). An
    unconfirmed PaymentIntent cannot take money; it is confirmed only once the charge
    has committed and the PaymentIntent's id is written (`run_saved_card`)."""

    async def create(client: stripe.StripeClient) -> tuple[str, str, str | None]:
        return await _create_intent(client, charge, attempt, await card, stripe_customer_id)

    created = stripe_api.start(create)
    # Read here, so an answer nobody awaits (the opening failed) is not reported lost.
    created.add_done_callback(lambda done: done.cancelled() or done.exception())
    return created


def abandon_first_attempt(started: Started) -> None:
    """The transaction that wrote `started` (`write_first_attempt`) did not commit: the
    PaymentIntent created for it meanwhile, never confirmed, is cancelled in Stripe."""
    if started.intent is not None:
        _cancel_created(started.intent)


# Cancellations under way (a task nobody awaits must be referenced until it ends).
_CANCELLING: set[asyncio.Task[None]] = set()


def _cancel_created(intent: asyncio.Future[tuple[str, str, str | None]]) -> None:
    """Cancel, in the background, the PaymentIntent this creation makes, if it makes one."""

    async def cancel() -> None:
        try:
            state, _, intent_id = await intent
        except Exception:  # nothing was created
            return
        if state != "created" or intent_id is None:
            return
        try:
            await stripe_api.call_async(
                lambda client: client.v1.payment_intents.cancel_async(intent_id)
            )
        except stripe.StripeError as error:
            # Unconfirmed, it can take no money: it only stays listed in Stripe.
            log.warning("PaymentIntent %s of an opening that did not commit was not "
                        "cancelled: %s", intent_id, error)

    task = asyncio.ensure_future(cancel())
    _CANCELLING.add(task)
    task.add_done_callback(_CANCELLING.discard)


async def charge_opened_ticket(started: Started) -> ChargeOutcome:
    """Charge the saved card for a ticket opened with `write_first_attempt`, once that
    transaction has committed."""
    return await run_saved_card(started)


async def _first_attempt(
    *, ticket_id: int, customer_id: int, department_id: int, amount: int, currency: str
) -> Started | None:
    """`write_first_attempt` in a transaction of its own, for a ticket opened before its
    charge was written (by mail, confirmed later; or by a process that stopped): the
    ticket locked first, as the one lock order wants. None, with nothing written, when the
    ticket already has a charge or is not awaiting payment: the general path decides."""
    async with write_transaction():
        ticket = await _LOCKED_TICKET_TO_CHARGE.first(ticket=ticket_id)
        if ticket is None or ticket["status"] != Ticket.Status.awaiting_payment.value:
            return None
        return await write_first_attempt(
            ticket_id=ticket_id, customer_id=customer_id, department_id=department_id,
            amount=amount, currency=currency, stripe_customer_id=ticket["stripe_customer_id"],
        )


_LOCKED_TICKET_TO_CHARGE = Statement(
    "SELECT t.status, u.stripe_customer_id FROM tickets t JOIN users u ON u.id = t.customer "
    "WHERE t.id = :ticket",
    postgres="SELECT t.status, u.stripe_customer_id FROM tickets t "
    "JOIN users u ON u.id = t.customer WHERE t.id = :ticket FOR NO KEY UPDATE OF t",
)
# A charge as `charge_new_ticket` writes it and `begin_attempt` then moves it: pending,
# on attempt 1, with the lease held and its first attempt's key (`new_key` with :salt).
# PostgreSQL draws the id first so the key goes in with the row; on SQLite the key is set
# once the id is known.
_NEW_CHARGE = Statement(
    "INSERT INTO charges (ticket, customer, department, amount, currency, status, "
    "refunded_amount, idempotency_key, attempt, stripe_payment_intent_id, "
    "stripe_checkout_session_id, failure_reason, created_at, updated_at, paid_at, "
    "in_flight_until, in_flight_token, surplus_payments, card_brand, card_last4, receipt_url) "
    "VALUES (:ticket, :customer, :department, :amount, :currency, :status, 0, :key, 1, NULL, "
    "NULL, '', :at, :at, NULL, :until, :token, 0, NULL, NULL, NULL) "
    "ON CONFLICT (ticket) DO NOTHING RETURNING *",
    postgres="WITH drawn AS (SELECT nextval(pg_get_serial_sequence('charges', 'id')) AS id) "
    "INSERT INTO charges (id, ticket, customer, department, amount, currency, status, "
    "refunded_amount, idempotency_key, attempt, stripe_payment_intent_id, "
    "stripe_checkout_session_id, failure_reason, created_at, updated_at, paid_at, "
    "in_flight_until, in_flight_token, surplus_payments, card_brand, card_last4, receipt_url) "
    "VALUES ((SELECT id FROM drawn), :ticket, :customer, :department, :amount, :currency, "
    ":status, 0, 'billdesk-charge-' || (SELECT id FROM drawn) || '-attempt-1-' || :salt, 1, "
    "NULL, NULL, '', :at, :at, NULL, :until, :token, 0, NULL, NULL, NULL) "
    "ON CONFLICT (ticket) DO NOTHING RETURNING *",
)
_NEW_ATTEMPT = Statement(
    "INSERT INTO payment_attempts (charge, number, method, status, amount, currency, "
    "idempotency_key, stripe_payment_intent_id, stripe_checkout_session_id, failure_reason, "
    "surplus, created_at, updated_at) "
    "VALUES (:charge, 1, :method, :status, :amount, :currency, :key, NULL, NULL, '', FALSE, "
    ":at, :at) RETURNING *"
)


async def customer_charge(ticket_id: int, customer_id: int) -> dict[str, Any]:
    """The customer's charge for the ticket (NotFound when there is none to pay)."""
    charge = await load_charge(ticket_id=ticket_id, customer_id=customer_id)
    if charge is None:
        ticket = (
            await Ticket.select(Ticket.status, Ticket.price_unconfirmed)
            .where(
                (Ticket.id == ticket_id)
                & (Ticket.customer == customer_id)
                & Ticket.removed_at.is_null()
            )
            .first()
        )
        if ticket is None or ticket["status"] != Ticket.Status.awaiting_payment.value:
            raise NotFound(tr("There is no payment to make for this ticket."))
        if ticket["price_unconfirmed"]:
            # Opened by mail: nothing is charged before the customer confirms the price.
            raise PaymentConfirmationRequired(
                tr("Confirm the price of this ticket first."),
                errors={"accept_price": tr("Confirm the price of this ticket first.")},
            )
        # The process that opened the ticket stopped before writing its charge.
        await charge_new_ticket(ticket_id=ticket_id)
        charge = await load_charge(ticket_id=ticket_id, customer_id=customer_id)
        assert charge is not None
    return charge


async def payment_view(*, ticket_id: int, customer_id: int) -> dict[str, Any]:
    """The customer's ticket with its charge, for the payment page (NotFound if not theirs)."""
    ticket = (
        await Ticket.select(
            Ticket.id,
            Ticket.subject,
            Ticket.status,
            Ticket.created_at,
            Ticket.price_unconfirmed,
            Ticket.department.name,
            Ticket.department.ticket_price,
            Ticket.department.currency,
        )
        .where(
            (Ticket.id == ticket_id)
            & (Ticket.customer == customer_id)
            & Ticket.removed_at.is_null()
        )
        .first()
    )
    if ticket is None:
        raise NotFound(tr("There is no such ticket."))
    charge = await load_charge(ticket_id=ticket_id, customer_id=customer_id)
    surplus = []
    if charge is not None:
        surplus = await PaymentAttempt.select(
            PaymentAttempt.amount, PaymentAttempt.currency, PaymentAttempt.updated_at
        ).where((PaymentAttempt.charge == charge["id"]) & PaymentAttempt.surplus.eq(True))
    price_to_confirm = None
    if ticket["price_unconfirmed"] and ticket["status"] == Ticket.Status.awaiting_payment.value:
        # Opened by mail beyond the quota: today's price, which the customer confirms.
        price_to_confirm = {
            "amount": ticket["department.ticket_price"],
            "currency": ticket["department.currency"],
        }
    return {
        "ticket": ticket,
        "charge": charge,
        "surplus_payments": surplus,
        "price_to_confirm": price_to_confirm,
    }


async def retry_saved_card(*, ticket_id: int, customer_id: int) -> ChargeOutcome:
    """Charge the saved card again for a ticket awaiting payment (`/pay`).

    An attempt whose answer was lost is retried with its own idempotency key, so it
    cannot be paid twice; a refused one is closed in Stripe and a new attempt starts
    with a new key. While another attempt is in flight: PaymentInProgress (409).
    """
    stripe_api.stripe_client()
    charge = await customer_charge(ticket_id, customer_id)
    next_status(charge["ticket.status"], Action.pay)
    started = await begin_attempt(charge["id"], PaymentAttempt.Method.saved_card)
    if started is None:
        return await outcome_of(charge["id"])
    return await run_saved_card(started)


# ------------------------------------------------------------------- cancel


async def _claim_for_cancel(charge_id: int) -> tuple[str | None, list[dict[str, Any]]]:
    """The lease for cancelling, waiting a few seconds for an attempt in flight.

    (None, []) when the charge is no longer unpaid (it was just paid).
    """
    deadline = time.monotonic() + CANCEL_WAIT_SECONDS
    while True:
        async with locked_charge(charge_id) as locked:
            if locked.charge["status"] in PAID:
                # Paid while this request waited: the ticket is in the queue.
                return None, []
            next_status(locked.ticket["status"], Action.cancel)
            if not locked.lease_held():
                token = await take_lease(locked)
                live = [dict(a) for a in locked.attempts if a["status"] in LIVE_ATTEMPTS]
                return token, live
        if time.monotonic() > deadline:
            raise PaymentInProgress(
                tr(
                    "A payment for this ticket is under way, so it cannot be cancelled now. "
                    "Wait a moment and look again: if the payment went through, the ticket is "
                    "in the support queue."
                ),
                errors={"status": BUSY},
            )
        await give_back_while_waiting()
        await asyncio.sleep(0.2)


async def cancel_unpaid_ticket(*, ticket_id: int, customer_id: int) -> ChargeOutcome:
    """Give up a ticket awaiting payment: the ticket is solved and nothing is charged.

    Every attempt that reached Stripe is closed there first (PaymentIntent cancelled,
    Checkout Session expired); only once Stripe has confirmed that none can take
    money are the charge and the ticket cancelled. A payment that turns out to
    have gone through pays the ticket instead, and the answer says so. Stripe not
    answering refuses the cancellation and changes nothing (PaymentsUnavailable).
    """
    unconfirmed = await _cancel_unconfirmed(ticket_id, customer_id)
    if unconfirmed is not None:
        return unconfirmed
    charge = await customer_charge(ticket_id, customer_id)
    next_status(charge["ticket.status"], Action.cancel)
    token, live = await _claim_for_cancel(charge["id"])
    if token is None:
        return await outcome_of(charge["id"])
    try:
        results = []
        for attempt in live:
            state, intent_id = await stripe_api.call(
                partial(close_in_stripe, attempt=attempt)
            )
            results.append((attempt, state, intent_id))
    except stripe.StripeError as error:
        log.warning("cancelling ticket %s: Stripe did not answer: %s", ticket_id, error)
        await _release(charge["id"], token)
        raise PaymentsUnavailable(
            tr(
                "The ticket was not cancelled: the payment provider did not answer, so we "
                "cannot be sure that no payment is under way. Nothing was changed; try again "
                "in a moment."
            )
        ) from None
    except Exception:
        await _release(charge["id"], token)
        raise
    processing = False
    async with locked_charge(charge["id"]) as locked:
        for attempt, state, intent_id in results:
            row = find_attempt(locked, number=attempt["number"])
            assert row is not None
            if state == "succeeded":
                await record_success(locked, row, payment_intent_id=intent_id)
            elif state == "canceled":
                await record_closed(locked, row)
            else:
                processing = True
        if locked.unpaid and not processing:
            await _cancel(locked, customer_id)
        await release_lease(locked, token)
    if processing:
        raise PaymentInProgress(
            tr(
                "A payment for this ticket is being processed, so it cannot be cancelled now. "
                "Look again in a few minutes."
            ),
            errors={"status": BUSY},
        )
    return await outcome_of(charge["id"])


async def _cancel_unconfirmed(ticket_id: int, customer_id: int) -> ChargeOutcome | None:
    """Give up a ticket whose price was never confirmed: no charge exists, Stripe never
    heard of it. None when the ticket is not such a ticket."""
    async with write_transaction():
        ticket = await locked_row(Ticket, ticket_id)
        if (
            ticket is None
            or ticket["customer"] != customer_id
            or ticket["removed_at"] is not None
            or not ticket["price_unconfirmed"]
            or await Charge.exists().where(Charge.ticket == ticket_id)
        ):
            return None
        new_status = next_status(ticket["status"], Action.cancel)
        await Ticket.update({Ticket.status: new_status, Ticket.price_unconfirmed: False}).where(
            Ticket.id == ticket_id
        )
        await record_event(
            ticket_id=ticket_id, kind=TicketEvent.Kind.status, actor_id=customer_id,
            old_value=ticket["status"], new_value=new_status.value,
        )
    return ChargeOutcome(
        charge_id=None, ticket_id=ticket_id, status="", ticket_status=new_status.value,
        amount=0, currency="", failure_reason="",
    )


async def _cancel(locked: Locked, customer_id: int) -> None:
    ticket, charge = locked.ticket, locked.charge
    new_status = next_status(ticket["status"], Action.cancel)
    await Ticket.update({Ticket.status: new_status}).where(Ticket.id == ticket["id"])
    await record_event(
        ticket_id=ticket["id"], kind=TicketEvent.Kind.status, actor_id=customer_id,
        old_value=ticket["status"], new_value=new_status.value,
    )
    old = charge["status"]
    await move_charge(locked, ChargeStatus.canceled)
    await record_event(
        ticket_id=ticket["id"], kind=TicketEvent.Kind.charge, actor_id=customer_id,
        old_value=old, new_value=ChargeStatus.canceled.value,
    )


async def _release(charge_id: int, token: str) -> None:
    async with locked_charge(charge_id) as locked:
        await release_lease(locked, token)

