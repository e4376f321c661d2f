"""Fixtures shared by the payment tests: one local Stripe-compatible server per run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import stripe

from billdesk.payments.stripe_api import stripe_client
from tests.payment_helpers import stripe_settings
from tests.support.stripe_server import LocalStripe


@pytest.fixture(scope="session")
def local_stripe() -> Iterator[LocalStripe]:
    """A localstripe server on 127.0.0.1, started on first use and emptied per test by `sdk`."""
    with LocalStripe() as server:
        yield server


@pytest.fixture
async def sdk(local_stripe: LocalStripe) -> AsyncIterator[stripe.StripeClient]:
    """The real SDK pointed at an empty local server, with billdesk's settings to match."""
    local_stripe.reset()
    with stripe_settings(local_stripe.api_base):
        yield stripe_client()
