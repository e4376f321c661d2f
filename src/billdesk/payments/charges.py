"""Charging paid tickets: the saved card off-session, Stripe Checkout, retry, cancel.

The charge row is written, with its idempotency key, in its own committed
transaction before Stripe is called. Whatever happens next (a retry, a second
click, a crash between Stripe's answer and the database write), the same attempt
reuses the same key, so Stripe charges it at most once; `reconcile()` settles what
a crash left behind. Every settling write is conditional on the charge's current
status, so the charge path, the webhook and the reconcile job can race without
moving anything twice.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import stripe
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from billdesk import clock
from billdesk.db import DB
from billdesk.errors import InvalidTransition, NotFound
from billdesk.payments import stripe_api
from billdesk.settings import get_settings
from billdesk.tables import Charge, Notification, Ticket, TicketEvent
from billdesk.tickets import Action, next_status, record_event

log = logging.getLogger("billdesk.payments")

Status = Charge.Status
UNPAID = (Status.pending.value, Status.requires_payment.value, Status.failed.value)

NO_CARD = "You have no saved card. Pay on the payment page, or add a card and retry."
NEEDS_AUTHENTICATION = (
    "Your bank asks you to confirm this payment. Pay on the payment page to confirm it."
)
UNREACHABLE = (
    "The payment provider could not be reached. The payment will be checked again; "
    "you can also retry."
)
DECLINED = "Your card was declined."


def atomic() -> Any:
    """One write transaction; on SQLite it takes the write lock at once."""
    if isinstance(DB, SQLiteEngine):
        return DB.transaction(transaction_type=TransactionType.immediate)
    return DB.transaction()


def now() -> datetime:
    return clock.now()


def payment_url(ticket_id: int) -> str:
    """The page that sends the customer to a fresh Stripe Checkout Session for the ticket."""
    return f"{get_settings().base_url}/tickets/{ticket_id}/checkout"


@dataclass(frozen=True)
class ChargeOutcome:
    """Where a paid ticket stands after an attempt to charge it."""

    charge_id: int
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
        raise NotFound("There is no payment for this ticket.")
    return await outcome_of(row["id"])


def _new_key(charge_id: int, attempt: int) -> str:
    # The random part keeps keys unique if the database is ever rebuilt and ids repeat.
    return f"billdesk-charge-{charge_id}-attempt-{attempt}-{secrets.token_hex(6)}"


async def notify(user_id: int, kind: Notification.Kind, ticket_id: int, text: str) -> None:
    await Notification.insert(
        Notification(user=user_id, kind=kind, ticket=ticket_id, text=text[:300])
    )


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:.2f} {currency.upper()}"


# ------------------------------------------------------------------ settling


async def settle_paid(
    charge_id: int, *, payment_intent_id: str | None, checkout_session_id: str | None = None
) -> bool:
    """Record that Stripe took the money; the ticket goes to the queue. False if already known."""
    async with atomic():
        row = (
            await Charge.select(
                Charge.status,
                Charge.ticket,
                Charge.customer,
                Charge.amount,
                Charge.currency,
                Charge.stripe_payment_intent_id,
            )
            .where(Charge.id == charge_id)
            .first()
        )
        if row is None:
            return False
        if row["status"] not in (*UNPAID, Status.canceled.value):
            return False
        values: dict[Any, Any] = {
            Charge.status: Status.succeeded,
            Charge.paid_at: now(),
            Charge.updated_at: now(),
            Charge.failure_reason: "",
        }
        if payment_intent_id:
            values[Charge.stripe_payment_intent_id] = payment_intent_id
        if checkout_session_id:
            values[Charge.stripe_checkout_session_id] = checkout_session_id
        changed = (
            await Charge.update(values)
            .where((Charge.id == charge_id) & (Charge.status == row["status"]))
            .returning(Charge.id)
        )
        if not changed:
            return False
        ticket_id = row["ticket"]
        await record_event(
            ticket_id=ticket_id,
            kind=TicketEvent.Kind.charge,
            actor_id=None,
            old_value=row["status"],
            new_value=Status.succeeded.value,
        )
        if row["status"] == Status.canceled.value:
            # The customer gave the ticket up while a payment was under way. The
            # money is recorded so that finance sees it and refunds it.
            log.warning("charge %s paid after its ticket %s was cancelled", charge_id, ticket_id)
            return True
        ticket = await Ticket.select(Ticket.status).where(Ticket.id == ticket_id).first()
        if ticket and ticket["status"] == Ticket.Status.awaiting_payment.value:
            new_status = next_status(ticket["status"], Action.pay)
            await Ticket.update({Ticket.status: new_status}).where(
                (Ticket.id == ticket_id) & (Ticket.status == Ticket.Status.awaiting_payment)
            )
            await record_event(
                ticket_id=ticket_id,
                kind=TicketEvent.Kind.status,
                actor_id=None,
                old_value=ticket["status"],
                new_value=new_status.value,
            )
        await notify(
            row["customer"],
            Notification.Kind.payment_succeeded,
            ticket_id,
            f"Payment of {_money(row['amount'], row['currency'])} received for ticket "
            f"#{ticket_id}. It is now in the support queue.",
        )
    return True


async def settle_unpaid(
    charge_id: int,
    *,
    status: Status,
    reason: str,
    payment_intent_id: str | None = None,
) -> bool:
    """Record that the charge is not paid (yet): `pending` or `requires_payment`.

    Never overrides a charge already paid, cancelled or refunded. The customer is
    told when the charge newly needs their action.
    """
    async with atomic():
        row = (
            await Charge.select(
                Charge.status,
                Charge.ticket,
                Charge.customer,
                Charge.failure_reason,
            )
            .where(Charge.id == charge_id)
            .first()
        )
        if row is None or row["status"] not in UNPAID:
            return False
        values: dict[Any, Any] = {
            Charge.status: status,
            Charge.failure_reason: reason,
            Charge.updated_at: now(),
        }
        if payment_intent_id:
            values[Charge.stripe_payment_intent_id] = payment_intent_id
        changed = (
            await Charge.update(values)
            .where((Charge.id == charge_id) & (Charge.status == row["status"]))
            .returning(Charge.id)
        )
        if not changed:
            return False
        if row["status"] != status.value:
            await record_event(
                ticket_id=row["ticket"],
                kind=TicketEvent.Kind.charge,
                actor_id=None,
                old_value=row["status"],
                new_value=status.value,
            )
        if status == Status.requires_payment and (
            row["status"] != status.value or row["failure_reason"] != reason
        ):
            await notify(
                row["customer"],
                Notification.Kind.payment_failed,
                row["ticket"],
                f"Payment for ticket #{row['ticket']} did not go through: {reason}",
            )
    return True


# ------------------------------------------------------------ the saved card


def _declined_reason(error: stripe.CardError) -> str:
    if error.code == "authentication_required":
        return NEEDS_AUTHENTICATION
    message = getattr(error, "user_message", None) or (
        error.error.message if error.error is not None else None
    )
    return str(message or DECLINED)


def _payment_intent_of_error(client: stripe.StripeClient, error: stripe.StripeError) -> str | None:
    """The PaymentIntent a failed confirmation left behind.

    Stripe puts it in the error; localstripe only names the failed charge.
    """
    detail = error.error
    if detail is None:
        return None
    found = stripe_api.object_id(getattr(detail, "payment_intent", None))
    if found:
        return found
    charge_id = getattr(detail, "charge", None)
    if charge_id:
        try:
            return stripe_api.object_id(client.v1.charges.retrieve(charge_id).payment_intent)
        except stripe.StripeError:
            return None
    return None


def _charge_saved_card(
    client: stripe.StripeClient, charge: dict[str, Any], stripe_customer_id: str | None
) -> tuple[str, str, str | None]:
    """One off-session attempt: (charge status, failure reason, PaymentIntent id)."""
    if not stripe_customer_id:
        return Status.requires_payment.value, NO_CARD, None
    try:
        card = stripe_api.find_saved_card(client, stripe_customer_id)
    except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError):
        return Status.pending.value, UNREACHABLE, None
    if card is None:
        return Status.requires_payment.value, NO_CARD, None
    metadata = {"ticket_id": str(charge["ticket"]), "charge_id": str(charge["id"])}
    try:
        intent = client.v1.payment_intents.create(
            params={
                "amount": charge["amount"],
                "currency": charge["currency"],
                "customer": stripe_customer_id,
                "payment_method": card.payment_method_id,
                "off_session": True,
                "confirm": True,
                "metadata": metadata,
            },
            options={"idempotency_key": charge["idempotency_key"]},
        )
    except stripe.CardError as error:
        return (
            Status.requires_payment.value,
            _declined_reason(error),
            _payment_intent_of_error(client, error),
        )
    except (
        stripe.APIConnectionError,
        stripe.APIError,
        stripe.RateLimitError,
        stripe.IdempotencyError,
    ):
        # Stripe may or may not have charged: stay pending, reconcile will ask.
        return Status.pending.value, UNREACHABLE, None
    except stripe.StripeError as error:
        log.warning("charge %s refused by Stripe: %s", charge["id"], error)
        return Status.requires_payment.value, str(error.user_message or DECLINED), None
    if intent.status == "succeeded":
        return Status.succeeded.value, "", intent.id
    if intent.status in ("requires_action", "requires_confirmation"):
        return Status.requires_payment.value, NEEDS_AUTHENTICATION, intent.id
    if intent.status == "processing":
        return Status.pending.value, "The payment is being processed.", intent.id
    return Status.requires_payment.value, DECLINED, intent.id


async def _attempt(charge: dict[str, Any]) -> ChargeOutcome:
    stripe_customer_id = await stripe_api.stripe_customer_of(charge["customer"])
    status, reason, intent_id = await stripe_api.call(
        lambda client: _charge_saved_card(client, charge, stripe_customer_id)
    )
    await after_stripe_answer(charge["id"], status, reason, intent_id)
    return await outcome_of(charge["id"])


async def after_stripe_answer(
    charge_id: int, status: str, reason: str, intent_id: str | None
) -> None:
    """Write what Stripe answered (a separate step, so a crash before it can be simulated)."""
    if status == Status.succeeded.value:
        await settle_paid(charge_id, payment_intent_id=intent_id)
    else:
        await settle_unpaid(
            charge_id, status=Status(status), reason=reason, payment_intent_id=intent_id
        )


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
    asks Stripe once; calling it again for the same ticket never charges twice.
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
            raise NotFound("There is no such ticket.")
        customer_id = customer_id if customer_id is not None else ticket["customer"]
        department_id = department_id if department_id is not None else ticket["department"]
        amount = amount if amount is not None else ticket["department.ticket_price"]
        currency = currency or ticket["department.currency"]
    assert currency is not None and amount is not None
    async with atomic():
        existing = await Charge.select(Charge.id).where(Charge.ticket == ticket_id).first()
        if existing is None:
            placeholder = f"new-{secrets.token_hex(16)}"
            rows = await Charge.insert(
                Charge(
                    ticket=ticket_id,
                    customer=customer_id,
                    department=department_id,
                    amount=amount,
                    currency=currency.lower(),
                    status=Status.pending,
                    idempotency_key=placeholder,
                    attempt=1,
                )
            ).returning(Charge.id)
            charge_id = rows[0]["id"]
            await Charge.update({Charge.idempotency_key: _new_key(charge_id, 1)}).where(
                Charge.id == charge_id
            )
            await record_event(
                ticket_id=ticket_id,
                kind=TicketEvent.Kind.charge,
                actor_id=None,
                old_value="",
                new_value=f"{Status.pending.value} {_money(amount, currency)}",
            )
        else:
            charge_id = existing["id"]
    charge = await load_charge(charge_id=charge_id)
    assert charge is not None
    if charge["status"] != Status.pending.value:
        return await outcome_of(charge_id)
    return await _attempt(charge)


async def _customer_charge(ticket_id: int, customer_id: int) -> dict[str, Any]:
    charge = await load_charge(ticket_id=ticket_id, customer_id=customer_id)
    if charge is None:
        ticket = (
            await Ticket.select(Ticket.status)
            .where(
                (Ticket.id == ticket_id)
                & (Ticket.customer == customer_id)
                & Ticket.removed_at.is_null()
            )
            .first()
        )
        if ticket is None or ticket["status"] != Ticket.Status.awaiting_payment.value:
            raise NotFound("There is no payment to make for this ticket.")
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
            Ticket.department.name,
        )
        .where(
            (Ticket.id == ticket_id)
            & (Ticket.customer == customer_id)
            & Ticket.removed_at.is_null()
        )
        .first()
    )
    if ticket is None:
        raise NotFound("There is no such ticket.")
    charge = await load_charge(ticket_id=ticket_id, customer_id=customer_id)
    return {"ticket": ticket, "charge": charge}


async def retry_saved_card(*, ticket_id: int, customer_id: int) -> ChargeOutcome:
    """Charge the saved card again for a ticket awaiting payment (`/pay`).

    A charge left `pending` (Stripe's answer unknown) is retried with the same
    idempotency key, so it cannot be paid twice; a refused one starts a new
    attempt with a new key. Two clicks at once make one attempt.
    """
    stripe_api.stripe_client()
    charge = await _customer_charge(ticket_id, customer_id)
    next_status(charge["ticket.status"], Action.pay)
    if charge["status"] in (Status.requires_payment.value, Status.failed.value):
        attempt = charge["attempt"] + 1
        key = _new_key(charge["id"], attempt)
        async with atomic():
            moved = (
                await Charge.update(
                    {
                        Charge.attempt: attempt,
                        Charge.idempotency_key: key,
                        Charge.status: Status.pending,
                        Charge.updated_at: now(),
                    }
                )
                .where(
                    (Charge.id == charge["id"])
                    & (Charge.attempt == charge["attempt"])
                    & (Charge.status == charge["status"])
                )
                .returning(Charge.id)
            )
        if not moved:
            return await outcome_of(charge["id"])
        reloaded = await load_charge(charge_id=charge["id"])
        assert reloaded is not None
        charge = reloaded
    elif charge["status"] != Status.pending.value:
        return await outcome_of(charge["id"])
    return await _attempt(charge)


# ------------------------------------------------------------------ Checkout


async def start_checkout(*, ticket_id: int, customer_id: int) -> str:
    """A Stripe Checkout Session paying this ticket's charge; returns its URL."""
    stripe_api.stripe_client()
    charge = await _customer_charge(ticket_id, customer_id)
    next_status(charge["ticket.status"], Action.pay)
    if charge["status"] not in UNPAID:
        raise InvalidTransition(
            "This ticket's payment is already settled.",
            errors={"status": "The payment is already settled."},
        )
    stripe_customer_id = await stripe_api.get_or_create_stripe_customer(customer_id)
    base = get_settings().base_url
    metadata = {"ticket_id": str(ticket_id), "charge_id": str(charge["id"])}
    session = await stripe_api.checkout_call(
        lambda client: client.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "customer": stripe_customer_id,
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": charge["currency"],
                            "unit_amount": charge["amount"],
                            "product_data": {"name": f"Support ticket #{ticket_id}"},
                        },
                    }
                ],
                "metadata": metadata,
                "payment_intent_data": {"metadata": metadata},
                "client_reference_id": str(charge["id"]),
                "success_url": f"{base}/tickets/{ticket_id}/checkout/done"
                "?session_id={CHECKOUT_SESSION_ID}",
                "cancel_url": f"{base}/tickets/{ticket_id}",
            }
        )
    )
    await Charge.update(
        {
            Charge.stripe_checkout_session_id: session.id,
            Charge.updated_at: now(),
        }
    ).where(Charge.id == charge["id"])
    return str(session.url)


async def apply_checkout_session(session: Any) -> bool:
    """Settle the charge a completed payment-mode Checkout Session paid. False if nothing moved."""
    metadata = stripe_api.metadata_of(session)
    charge_id = metadata.get("charge_id") or getattr(session, "client_reference_id", None)
    if not charge_id or not str(charge_id).isdigit():
        return False
    if getattr(session, "payment_status", None) != "paid":
        return False
    return await settle_paid(
        int(charge_id),
        payment_intent_id=stripe_api.object_id(getattr(session, "payment_intent", None)),
        checkout_session_id=session.id,
    )


async def finish_checkout(*, ticket_id: int, customer_id: int, session_id: str) -> ChargeOutcome:
    """Back from Checkout: settle from the session itself, without waiting for the webhook."""
    charge = await _customer_charge(ticket_id, customer_id)
    session = await stripe_api.call(lambda client: client.v1.checkout.sessions.retrieve(session_id))
    metadata = stripe_api.metadata_of(session)
    if str(metadata.get("charge_id")) == str(charge["id"]):
        await apply_checkout_session(session)
    return await outcome_of(charge["id"])


# ------------------------------------------------------------------- cancel


async def cancel_unpaid_ticket(*, ticket_id: int, customer_id: int) -> ChargeOutcome:
    """Give up a ticket awaiting payment: the ticket is solved and nothing is charged.

    When Stripe may hold a payment for it, Stripe is asked first: a payment that
    went through settles the ticket instead, and an open PaymentIntent is
    cancelled so that it can no longer be paid.
    """
    from billdesk.payments.reconcile import reconcile_charge

    charge = await _customer_charge(ticket_id, customer_id)
    next_status(charge["ticket.status"], Action.cancel)
    if charge["status"] == Status.pending.value or charge["stripe_payment_intent_id"]:
        await reconcile_charge(charge, cancel_open_intent=True)
        charge = await _customer_charge(ticket_id, customer_id)
        if charge["status"] == Status.succeeded.value:
            return await outcome_of(charge["id"])
    async with atomic():
        ticket = await Ticket.select(Ticket.status).where(Ticket.id == ticket_id).first()
        assert ticket is not None
        new_status = next_status(ticket["status"], Action.cancel)
        moved = (
            await Ticket.update({Ticket.status: new_status})
            .where((Ticket.id == ticket_id) & (Ticket.status == ticket["status"]))
            .returning(Ticket.id)
        )
        if moved:
            await record_event(
                ticket_id=ticket_id,
                kind=TicketEvent.Kind.status,
                actor_id=customer_id,
                old_value=ticket["status"],
                new_value=new_status.value,
            )
            canceled = (
                await Charge.update(
                    {
                        Charge.status: Status.canceled,
                        Charge.updated_at: now(),
                    }
                )
                .where((Charge.id == charge["id"]) & Charge.status.is_in(list(UNPAID)))
                .returning(Charge.id)
            )
            if canceled:
                await record_event(
                    ticket_id=ticket_id,
                    kind=TicketEvent.Kind.charge,
                    actor_id=customer_id,
                    old_value=charge["status"],
                    new_value=Status.canceled.value,
                )
    return await outcome_of(charge["id"])
