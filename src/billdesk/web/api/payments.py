"""The JSON API for paying or giving up a ticket awaiting payment (customers)."""

from __future__ import annotations

from typing import Literal

import msgspec
from litestar import Controller, Request, post
from litestar.params import FromPath, JSONBody

from billdesk import payments, tickets
from billdesk.auth import CurrentUser, requires_customer
from billdesk.web.params import Amount


class ChargeState(msgspec.Struct):
    id: int
    amount: int
    currency: str
    status: str
    failure_reason: str


class PaymentAnswer(msgspec.Struct):
    ticket_id: int
    status: str
    charge: ChargeState | None  # null: cancelled before its price was confirmed, never charged
    payment_url: str | None


class PayRequest(msgspec.Struct, forbid_unknown_fields=True):
    method: Literal["saved_card", "checkout"] = "saved_card"
    # A ticket opened by mail beyond the quota: the price the customer confirms (minor units).
    accept_price: Amount | None = None


def _answer(outcome: payments.ChargeOutcome, payment_url: str | None = None) -> PaymentAnswer:
    return PaymentAnswer(
        ticket_id=outcome.ticket_id,
        status=outcome.ticket_status,
        charge=None
        if outcome.charge_id is None
        else ChargeState(
            id=outcome.charge_id,
            amount=outcome.amount,
            currency=outcome.currency,
            status=outcome.status,
            failure_reason=outcome.failure_reason,
        ),
        payment_url=payment_url or outcome.payment_url,
    )


class PaymentsApiController(Controller):
    path = "/api/v1/tickets"
    tags = ["tickets"]
    guards = [requires_customer]

    @post("/{ticket_id:int}/pay", status_code=200)
    async def pay(
        self,
        request: Request,
        ticket_id: FromPath[int],
        data: JSONBody[PayRequest | None] = None,
    ) -> PaymentAnswer:
        """Retry the saved card (default), or `{"method": "checkout"}` for a fresh Checkout URL.

        A ticket opened by mail beyond the quota is charged only once its price is
        confirmed: `{"accept_price": 1500}` (else 402 `payment_confirmation_required`,
        or 409 `price_changed` when the price is no longer that).

        The ticket must be awaiting payment (else 409 `invalid_transition`); a
        refused card answers 200 with the reason and a `payment_url`.
        """
        user: CurrentUser = request.scope["user"]
        if data is not None and data.accept_price is not None:
            confirmed = await tickets.confirm_ticket_price(
                ticket_id=ticket_id, customer=user, accept_price=data.accept_price
            )
            if confirmed.created and data.method == "saved_card":
                return _answer(await payments.charges.outcome_for_ticket(ticket_id))
        if data is not None and data.method == "checkout":
            url = await payments.start_checkout(ticket_id=ticket_id, customer_id=user.id)
            outcome = await payments.charges.outcome_for_ticket(ticket_id)
            return _answer(outcome, url)
        outcome = await payments.retry_saved_card(ticket_id=ticket_id, customer_id=user.id)
        return _answer(outcome)

    @post("/{ticket_id:int}/cancel", status_code=200)
    async def cancel(self, request: Request, ticket_id: FromPath[int]) -> PaymentAnswer:
        """Give up a ticket awaiting payment: it is solved and nothing is charged."""
        user: CurrentUser = request.scope["user"]
        outcome = await payments.cancel_unpaid_ticket(ticket_id=ticket_id, customer_id=user.id)
        return _answer(outcome)
