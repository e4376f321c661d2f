"""The customer's payment pages: a ticket's payment, Checkout and its return, the saved card."""

from __future__ import annotations

import logging
from typing import Any

import stripe
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from billdesk import payments, tickets
from billdesk.auth import CurrentUser, requires_customer
from billdesk.errors import (
    DeskError,
    PaymentConfirmationRequired,
    PaymentInProgress,
    PaymentsUnavailable,
    PriceChanged,
)
from billdesk.i18n import tr
from billdesk.settings import get_settings
from billdesk.web.layout import render

log = logging.getLogger("billdesk.payments")

RESULTS = {
    "paid": ("success", tr("Payment received. Your ticket is now in the support queue.")),
    "unpaid": ("error", tr("The payment did not go through. See why below.")),
    "canceled": ("info", tr("The ticket was cancelled. Nothing was charged.")),
    "busy": ("info", tr("A payment for this ticket is under way. Wait a moment, then reload.")),
    "not_canceled": (
        "error",
        tr(
            "The ticket was not cancelled: the payment provider did not answer, so we cannot be "
            "sure no payment is under way. Nothing was changed; try again in a moment."
        ),
    ),
    "card_saved": ("success", tr("Your card is saved. It will be charged for paid tickets.")),
    "price_changed": ("error", tr("The price has changed since the page was shown. Confirm the new price.")),
    "card_not_saved": ("error", tr("The card was not saved. Try again.")),
}

TEST_CARDS = [
    ("4242424242424242", tr("4242 4242 4242 4242 — always works")),
    ("4000000000000341", tr("4000 0000 0000 0341 — declined when charged")),
]


def _flash(result: str | None) -> list[tuple[str, str]]:
    return [RESULTS[result]] if result in RESULTS else []


def _after(outcome: payments.ChargeOutcome) -> str:
    if outcome.paid:
        return "paid"
    if outcome.ticket_status == "solved":
        return "canceled"
    return "unpaid"


class PaymentsController(Controller):
    tags = ["client"]
    include_in_schema = False
    guards = [requires_customer]

    @get("/tickets/{ticket_id:int}/payment")
    async def payment(
        self, request: Request, ticket_id: FromPath[int], result: FromQuery[str | None] = None
    ) -> Template:
        """Where a paid ticket stands, with the ways to pay or give it up."""
        user: CurrentUser = request.scope["user"]
        view = await payments.charges.payment_view(ticket_id=ticket_id, customer_id=user.id)
        card, card_error = await _card_of(user.id)
        return await render(
            request,
            "client/payment.html",
            {
                **view,
                "card": card,
                "card_error": card_error,
                "flashes": _flash(result),
                "test_mode": get_settings().payments_test_mode,
            },
            active="tickets",
        )

    @post("/tickets/{ticket_id:int}/pay")
    async def pay(self, request: Request, ticket_id: FromPath[int]) -> Redirect:
        user: CurrentUser = request.scope["user"]
        try:
            outcome = await payments.retry_saved_card(ticket_id=ticket_id, customer_id=user.id)
        except PaymentInProgress:
            return Redirect(f"/tickets/{ticket_id}/payment?result=busy", status_code=303)
        return Redirect(f"/tickets/{ticket_id}/payment?result={_after(outcome)}", status_code=303)

    @post("/tickets/{ticket_id:int}/confirm-price")
    async def confirm_price(self, request: Request, ticket_id: FromPath[int]) -> Redirect:
        """A ticket opened by mail beyond the quota: the customer confirms its price, and it is charged."""
        user: CurrentUser = request.scope["user"]
        form = await request.form()
        raw = str(form.get("accept_price", "")).strip()
        accept_price = int(raw) if raw.isdigit() and len(raw) < 12 else None
        try:
            await tickets.confirm_ticket_price(
                ticket_id=ticket_id, customer=user, accept_price=accept_price
            )
        except (PriceChanged, PaymentConfirmationRequired):
            return Redirect(f"/tickets/{ticket_id}/payment?result=price_changed", status_code=303)
        except PaymentInProgress:
            return Redirect(f"/tickets/{ticket_id}/payment?result=busy", status_code=303)
        outcome = await payments.charges.outcome_for_ticket(ticket_id)
        return Redirect(f"/tickets/{ticket_id}/payment?result={_after(outcome)}", status_code=303)

    @post("/tickets/{ticket_id:int}/cancel")
    async def cancel(self, request: Request, ticket_id: FromPath[int]) -> Redirect:
        user: CurrentUser = request.scope["user"]
        try:
            outcome = await payments.cancel_unpaid_ticket(ticket_id=ticket_id, customer_id=user.id)
        except PaymentInProgress:
            return Redirect(f"/tickets/{ticket_id}/payment?result=busy", status_code=303)
        except PaymentsUnavailable:
            return Redirect(f"/tickets/{ticket_id}/payment?result=not_canceled", status_code=303)
        return Redirect(f"/tickets/{ticket_id}/payment?result={_after(outcome)}", status_code=303)

    @get("/tickets/{ticket_id:int}/checkout")
    async def checkout(self, request: Request, ticket_id: FromPath[int]) -> Redirect:
        """Off to a fresh Stripe Checkout Session for this ticket (the `payment_url`)."""
        user: CurrentUser = request.scope["user"]
        url = await payments.start_checkout(ticket_id=ticket_id, customer_id=user.id)
        return Redirect(url, status_code=303)

    @get("/tickets/{ticket_id:int}/checkout/done")
    async def checkout_done(
        self, request: Request, ticket_id: FromPath[int], session_id: FromQuery[str] = ""
    ) -> Redirect:
        user: CurrentUser = request.scope["user"]
        try:
            outcome = await payments.finish_checkout(
                ticket_id=ticket_id, customer_id=user.id, session_id=session_id
            )
        except stripe.StripeError as error:
            # The webhook settles it anyway; show where the ticket stands.
            log.warning("checkout return for ticket %s: %s", ticket_id, error)
            outcome = await payments.charges.outcome_for_ticket(ticket_id)
        return Redirect(f"/tickets/{ticket_id}/payment?result={_after(outcome)}", status_code=303)

    @get("/payment-method")
    async def payment_method(
        self, request: Request, result: FromQuery[str | None] = None
    ) -> Template:
        """The saved card (brand, last 4, expiry), with add or replace through Checkout."""
        user: CurrentUser = request.scope["user"]
        return await _payment_method_page(request, user, flashes=_flash(result))

    @post("/payment-method")
    async def add_card(self, request: Request) -> Redirect:
        user: CurrentUser = request.scope["user"]
        url = await payments.start_card_setup(user_id=user.id)
        return Redirect(url, status_code=303)

    @get("/payment-method/done")
    async def add_card_done(self, request: Request, session_id: FromQuery[str] = "") -> Redirect:
        user: CurrentUser = request.scope["user"]
        try:
            saved = await payments.finish_card_setup(user_id=user.id, session_id=session_id)
        except stripe.StripeError as error:
            log.warning("card setup return for user %s: %s", user.id, error)
            saved = False
        return Redirect(
            f"/payment-method?result={'card_saved' if saved else 'card_not_saved'}",
            status_code=303,
        )

    @post("/payment-method/test-card")
    async def add_test_card(self, request: Request) -> Template | Redirect:
        """Against the local test server only: save a test card number directly."""
        user: CurrentUser = request.scope["user"]
        form = await request.form()
        number = str(form.get("number", ""))
        try:
            await payments.save_test_card(user_id=user.id, number=number)
        except DeskError as error:
            return await _payment_method_page(
                request, user, errors=error.errors, number=number, status_code=error.status
            )
        return Redirect("/payment-method?result=card_saved", status_code=303)


async def _card_of(user_id: int) -> tuple[Any, str]:
    if not payments.payments_configured():
        return None, ""
    try:
        return await payments.saved_card(await payments.stripe_api.stripe_customer_of(user_id)), ""
    except stripe.StripeError as error:
        log.warning("saved card of user %s: %s", user_id, error)
        return (
            None,
            tr("Your saved card cannot be shown right now: the payment provider did not answer."),
        )


async def _payment_method_page(
    request: Request,
    user: CurrentUser,
    *,
    flashes: list[tuple[str, str]] | None = None,
    errors: dict[str, str] | None = None,
    number: str = "",
    status_code: int = 200,
) -> Template:
    card, card_error = await _card_of(user.id)
    return await render(
        request,
        "client/payment_method.html",
        {
            "card": card,
            "card_error": card_error,
            "configured": payments.payments_configured(),
            "test_mode": get_settings().payments_test_mode,
            "test_cards": TEST_CARDS,
            "errors": errors or {},
            "number": number,
            "flashes": flashes or [],
        },
        active="payment_method",
        status_code=status_code,
    )
