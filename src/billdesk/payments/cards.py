"""The customer's saved card: shown, added or replaced through Stripe Checkout in setup mode.

Against a local test server (which has no Checkout), a test card number can be
saved directly instead; real card numbers never reach billdesk.
"""

from __future__ import annotations

from typing import Any

import stripe

from billdesk.errors import Forbidden, ValidationFailed
from billdesk.i18n import tr
from billdesk.payments import stripe_api
from billdesk.settings import get_settings


async def start_card_setup(*, user_id: int) -> str:
    """A Checkout Session in setup mode for the customer; returns its URL."""
    stripe_customer_id = await stripe_api.get_or_create_stripe_customer(user_id)
    base = get_settings().base_url
    session = await stripe_api.checkout_call(
        lambda client: client.v1.checkout.sessions.create(
            params={  # type: ignore[arg-type]
                "mode": "setup",
                "customer": stripe_customer_id,
                "payment_method_types": ["card"],
                "metadata": {"billdesk_user_id": str(user_id), "purpose": "saved_card"},
                "success_url": f"{base}/payment-method/done?session_id={{CHECKOUT_SESSION_ID}}",
                "cancel_url": f"{base}/payment-method",
            }
        )
    )
    return str(session.url)


def _setup_payment_method(client: stripe.StripeClient, session: Any) -> str | None:
    setup_intent = session.setup_intent
    if setup_intent is None:
        return None
    if isinstance(setup_intent, str):
        setup_intent = client.v1.setup_intents.retrieve(setup_intent)
    return stripe_api.object_id(setup_intent.payment_method)


def apply_setup_session(client: stripe.StripeClient, session: Any) -> bool:
    """Make the card a completed setup session saved the customer's default (sync, SDK only)."""
    if (
        getattr(session, "mode", None) != "setup"
        or getattr(session, "status", "complete") != "complete"
    ):
        return False
    customer = stripe_api.object_id(session.customer)
    payment_method = _setup_payment_method(client, session)
    if not customer or not payment_method:
        return False
    client.v1.customers.update(
        customer, params={"invoice_settings": {"default_payment_method": payment_method}}
    )
    return True


async def finish_card_setup(*, user_id: int, session_id: str) -> bool:
    """Back from Checkout: save the new card at once, without waiting for the webhook."""
    stripe_customer_id = await stripe_api.stripe_customer_of(user_id)

    def work(client: stripe.StripeClient) -> bool:
        session = client.v1.checkout.sessions.retrieve(session_id)
        if stripe_api.object_id(session.customer) != stripe_customer_id:
            return False
        return apply_setup_session(client, session)

    if not stripe_customer_id:
        return False
    return await stripe_api.call(work)


async def save_test_card(
    *, user_id: int, number: str, exp_month: int = 12, exp_year: int = 2034
) -> stripe_api.SavedCard:
    """Save a test card number as the customer's card: only against a local test server."""
    if not get_settings().payments_test_mode:
        raise Forbidden(tr("Card numbers can only be typed in against the local test server."))
    digits = "".join(number.split())
    if not digits.isdigit() or len(digits) != 16:
        raise ValidationFailed.field("number", tr("Type a 16-digit test card number."))
    stripe_customer_id = await stripe_api.get_or_create_stripe_customer(user_id)

    def work(client: stripe.StripeClient) -> None:
        payment_method = client.v1.payment_methods.create(
            params={
                "type": "card",
                "card": {
                    "number": digits,
                    "exp_month": exp_month,
                    "exp_year": exp_year,
                    "cvc": "123",
                },
            }
        )
        client.v1.payment_methods.attach(payment_method.id, params={"customer": stripe_customer_id})
        client.v1.customers.update(
            stripe_customer_id,
            params={"invoice_settings": {"default_payment_method": payment_method.id}},
        )

    try:
        await stripe_api.call(work)
    except stripe.CardError as error:
        raise ValidationFailed.field(
            "number", str(error.user_message or "This card was declined.")
        ) from None
    card = await stripe_api.saved_card(stripe_customer_id)
    assert card is not None
    return card
