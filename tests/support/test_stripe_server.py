"""The LocalStripe helper against the real stripe SDK."""

from __future__ import annotations

import http.server
import queue
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import stripe
from stripe.params import PaymentIntentCreateParams

from .stripe_server import API_KEY, LocalStripe, sign_webhook

pytestmark = pytest.mark.stripe

GOOD_CARD = "4242424242424242"
CHARGE_DECLINED_CARD = "4000000000000341"
ATTACH_DECLINED_CARD = "4000000000000002"


@pytest.fixture(scope="module")
def local_stripe() -> Iterator[LocalStripe]:
    with LocalStripe() as running:
        yield running


def make_client(server: LocalStripe) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": server.api_base})


@pytest.fixture
def stripe_client(local_stripe: LocalStripe) -> stripe.StripeClient:
    return make_client(local_stripe)


@pytest.fixture
def stripe_customer(stripe_client: stripe.StripeClient) -> stripe.Customer:
    return stripe_client.v1.customers.create(params={"email": "alice@example.com"})


def save_card(
    client: stripe.StripeClient, customer: stripe.Customer, number: str
) -> stripe.PaymentMethod:
    payment_method = client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    return client.v1.payment_methods.attach(payment_method.id, params={"customer": customer.id})


def charge_params(customer: stripe.Customer, payment_method: str) -> PaymentIntentCreateParams:
    return {
        "amount": 1500,
        "currency": "eur",
        "customer": customer.id,
        "payment_method": payment_method,
        "off_session": True,
        "confirm": True,
        "metadata": {"charge_id": "42"},
    }


def payment_intent_count(client: stripe.StripeClient) -> int:
    return sum(1 for _ in client.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter())


def test_saved_good_card_is_charged_off_session(
    stripe_client: stripe.StripeClient, stripe_customer: stripe.Customer
) -> None:
    card = save_card(stripe_client, stripe_customer, GOOD_CARD)
    stripe_client.v1.customers.update(
        stripe_customer.id,
        params={"invoice_settings": {"default_payment_method": card.id}},
    )

    intent = stripe_client.v1.payment_intents.create(
        params=charge_params(stripe_customer, card.id),
        options={"idempotency_key": f"charge-{uuid.uuid4()}"},
    )

    assert intent.status == "succeeded"
    assert intent.metadata["charge_id"] == "42"
    assert stripe_client.v1.payment_intents.retrieve(intent.id).status == "succeeded"
    saved = stripe_client.v1.payment_methods.list(
        params={"customer": stripe_customer.id, "type": "card"}
    ).data
    assert len(saved) == 1
    details = saved[0].card
    assert details is not None
    assert (saved[0].id, details.brand, details.last4, details.exp_month, details.exp_year) == (
        card.id,
        "visa",
        "4242",
        12,
        2034,
    )


def test_charge_declined_card_raises_card_error(
    stripe_client: stripe.StripeClient, stripe_customer: stripe.Customer
) -> None:
    card = save_card(stripe_client, stripe_customer, CHARGE_DECLINED_CARD)

    with pytest.raises(stripe.CardError) as declined:
        stripe_client.v1.payment_intents.create(
            params=charge_params(stripe_customer, card.id),
            options={"idempotency_key": f"charge-{uuid.uuid4()}"},
        )

    assert declined.value.code == "card_declined"
    assert declined.value.http_status == 402
    error = declined.value.error
    assert error is not None
    assert error.payment_intent is None
    assert isinstance(error.charge, str)
    failed_charge = stripe_client.v1.charges.retrieve(error.charge)
    assert isinstance(failed_charge.payment_intent, str)
    intent = stripe_client.v1.payment_intents.retrieve(failed_charge.payment_intent)
    assert intent.status == "requires_payment_method"
    assert intent.metadata["charge_id"] == "42"


def test_attaching_declined_card_raises_card_error(
    stripe_client: stripe.StripeClient, stripe_customer: stripe.Customer
) -> None:
    with pytest.raises(stripe.CardError) as declined:
        save_card(stripe_client, stripe_customer, ATTACH_DECLINED_CARD)

    assert declined.value.code == "card_declined"


def test_same_idempotency_key_twice_makes_one_payment_intent(
    stripe_client: stripe.StripeClient, stripe_customer: stripe.Customer
) -> None:
    card = save_card(stripe_client, stripe_customer, GOOD_CARD)
    key = f"charge-{uuid.uuid4()}"
    before = payment_intent_count(stripe_client)

    first = stripe_client.v1.payment_intents.create(
        params=charge_params(stripe_customer, card.id), options={"idempotency_key": key}
    )
    second = stripe_client.v1.payment_intents.create(
        params=charge_params(stripe_customer, card.id), options={"idempotency_key": key}
    )

    assert second.id == first.id
    assert second.last_response is not None
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert payment_intent_count(stripe_client) == before + 1


def test_same_idempotency_key_replays_a_decline(
    stripe_client: stripe.StripeClient, stripe_customer: stripe.Customer
) -> None:
    card = save_card(stripe_client, stripe_customer, CHARGE_DECLINED_CARD)
    key = f"charge-{uuid.uuid4()}"
    before = payment_intent_count(stripe_client)

    charges = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as declined:
            stripe_client.v1.payment_intents.create(
                params=charge_params(stripe_customer, card.id),
                options={"idempotency_key": key},
            )
        assert declined.value.error is not None
        charges.append(declined.value.error.charge)

    assert charges[0] == charges[1]
    assert payment_intent_count(stripe_client) == before + 1


def test_idempotency_key_reused_with_other_params_is_rejected(
    stripe_client: stripe.StripeClient, stripe_customer: stripe.Customer
) -> None:
    card = save_card(stripe_client, stripe_customer, GOOD_CARD)
    key = f"charge-{uuid.uuid4()}"
    stripe_client.v1.payment_intents.create(
        params=charge_params(stripe_customer, card.id), options={"idempotency_key": key}
    )

    other_amount = charge_params(stripe_customer, card.id)
    other_amount["amount"] = 999
    with pytest.raises(stripe.IdempotencyError):
        stripe_client.v1.payment_intents.create(
            params=other_amount, options={"idempotency_key": key}
        )


class LoseFirstPostResponse(stripe.RequestsClient):
    """Sends every request, but reports the first POST as a dropped connection."""

    def __init__(self) -> None:
        super().__init__()
        self.idempotency_keys: list[str | None] = []

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> Any:
        response = super().request(method, url, headers, post_data)
        if method == "post":
            self.idempotency_keys.append((headers or {}).get("Idempotency-Key"))
            if len(self.idempotency_keys) == 1:
                raise stripe.APIConnectionError("response lost", should_retry=True)
        return response

    def _sleep_time_seconds(self, num_retries: int) -> float:
        return 0.0


def test_sdk_retry_after_a_lost_response_charges_once(
    local_stripe: LocalStripe, stripe_client: stripe.StripeClient, stripe_customer: stripe.Customer
) -> None:
    card = save_card(stripe_client, stripe_customer, GOOD_CARD)
    http_client = LoseFirstPostResponse()
    flaky = stripe.StripeClient(
        API_KEY,
        base_addresses={"api": local_stripe.api_base},
        http_client=http_client,
        max_network_retries=1,
    )
    key = f"charge-{uuid.uuid4()}"
    before = payment_intent_count(stripe_client)

    intent = flaky.v1.payment_intents.create(
        params=charge_params(stripe_customer, card.id), options={"idempotency_key": key}
    )

    assert http_client.idempotency_keys == [key, key]
    assert intent.status == "succeeded"
    assert payment_intent_count(stripe_client) == before + 1


def test_plain_localstripe_ignores_idempotency_keys() -> None:
    with LocalStripe(idempotency=False) as plain:
        client = make_client(plain)
        customer = client.v1.customers.create(params={})
        for _ in range(2):
            client.v1.payment_intents.create(
                params=charge_params(customer, "pm_card_visa"),
                options={"idempotency_key": "same-key"},
            )

        assert payment_intent_count(client) == 2


def test_reset_empties_the_server_and_stop_closes_it() -> None:
    with LocalStripe() as fresh:
        client = make_client(fresh)
        client.v1.customers.create(params={})
        fresh.reset()
        assert client.v1.customers.list().data == []
        port = fresh.port

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_signed_payload_is_accepted_by_the_sdk() -> None:
    payload = (
        b'{"id": "evt_1", "object": "event", '
        b'"type": "payment_intent.succeeded", "data": {"object": '
        b'{"id": "pi_1", "object": "payment_intent"}}}'
    )
    secret = "whsec_test"

    event = stripe.Webhook.construct_event(payload, sign_webhook(payload, secret), secret)

    assert event.type == "payment_intent.succeeded"
    assert event.data.object.id == "pi_1"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, sign_webhook(payload, "whsec_other"), secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            payload,
            sign_webhook(payload, secret, timestamp=int(time.time()) - 301),
            secret,
        )


def test_localstripe_delivers_verifiable_webhooks(
    local_stripe: LocalStripe, stripe_client: stripe.StripeClient, stripe_customer: stripe.Customer
) -> None:
    received: queue.Queue[tuple[bytes, str]] = queue.Queue()

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.put((body, self.headers["Stripe-Signature"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    receiver = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    secret = "whsec_delivery"
    try:
        local_stripe.register_webhook(
            f"http://127.0.0.1:{receiver.server_port}/stripe/webhook",
            secret,
            events=["payment_intent.succeeded"],
            name="delivery-test",
        )
        card = save_card(stripe_client, stripe_customer, GOOD_CARD)
        intent = stripe_client.v1.payment_intents.create(
            params=charge_params(stripe_customer, card.id)
        )

        deadline = time.monotonic() + 10
        while True:
            body, signature = received.get(timeout=max(deadline - time.monotonic(), 0.01))
            event = stripe_client.construct_event(body, signature, secret)
            if event.data.object.id == intent.id:
                break
    finally:
        receiver.shutdown()
        receiver.server_close()

    assert event.type == "payment_intent.succeeded"
    assert event.data.object.status == "succeeded"
