"""Helpers for the payment tests: Stripe settings, paid tickets, saved cards, signed events."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import stripe

from billdesk import clock
from billdesk.settings import get_settings
from billdesk.tables import Charge, Message, PaymentAttempt, Ticket, User
from tests.support.stripe_server import API_KEY, sign_webhook

WEBHOOK_SECRET = "whsec_billdesk_tests"
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000341"


@contextmanager
def stripe_settings(api_base: str | None, *, secret_key: str = API_KEY) -> Iterator[None]:
    """Payments configured (against `api_base`) for the duration of the block."""
    values = {
        "STRIPE_SECRET_KEY": secret_key,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": api_base or "",
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


async def awaiting_ticket(*, customer_id: int, department_id: int, body: str = "Please help") -> int:
    """A ticket as the client area opens it beyond the quota: awaiting payment."""
    rows = await Ticket.insert(
        Ticket(customer=customer_id, department=department_id, subject=body[:100],
               status=Ticket.Status.awaiting_payment)
    ).returning(Ticket.id)
    ticket_id = rows[0]["id"]
    await Message.insert(Message(ticket=ticket_id, author=customer_id, body=body, opening=True))
    return ticket_id


async def make_charge(
    *, ticket_id: int, customer_id: int, department_id: int, amount: int = 900,
    status: str = "pending", attempt_status: str = "unknown", intent_id: str | None = None,
    key: str | None = None,
) -> int:
    """A charge with its first attempt, as billdesk writes them; returns the charge id."""
    key = key or f"k-{ticket_id}-{time.time_ns()}"
    rows = await Charge.insert(Charge(
        ticket=ticket_id, customer=customer_id, department=department_id, amount=amount,
        currency="usd", status=status, idempotency_key=key, attempt=1,
        stripe_payment_intent_id=intent_id,
    )).returning(Charge.id)
    charge_id = rows[0]["id"]
    await PaymentAttempt.insert(PaymentAttempt(
        charge=charge_id, number=1, status=attempt_status, amount=amount, currency="usd",
        idempotency_key=key, stripe_payment_intent_id=intent_id,
    ))
    return charge_id


def save_card(client: stripe.StripeClient, customer_id: str, number: str) -> str:
    payment_method = client.v1.payment_methods.create(
        params={"type": "card",
                "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    client.v1.payment_methods.attach(payment_method.id, params={"customer": customer_id})
    client.v1.customers.update(
        customer_id, params={"invoice_settings": {"default_payment_method": payment_method.id}}
    )
    return payment_method.id


async def give_card(client: stripe.StripeClient, user_id: int, number: str = GOOD_CARD) -> str:
    """A Stripe customer for the user with `number` as the saved card; returns the customer id."""
    customer = client.v1.customers.create(params={"email": f"user{user_id}@example.test"})
    save_card(client, customer.id, number)
    await User.update({User.stripe_customer_id: customer.id}).where(User.id == user_id)
    return customer.id


def event_payload(event_type: str, obj: Any, *, event_id: str | None = None) -> bytes:
    data = obj.to_dict() if hasattr(obj, "to_dict") else obj
    return json.dumps({
        "id": event_id or f"evt_{time.time_ns()}",
        "object": "event",
        "type": event_type,
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "data": {"object": data},
    }).encode()


def signed(payload: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> dict:
    """Headers of a webhook signed now, by billdesk's clock (which a test may have frozen)."""
    if timestamp is None:
        timestamp = int(clock.now().timestamp())
    return {
        "stripe-signature": sign_webhook(payload, secret, timestamp),
        "content-type": "application/json",
    }


def intents_for_charge(client: stripe.StripeClient, charge_id: int) -> list[Any]:
    return [
        intent
        for intent in client.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter()
        if (intent.metadata.to_dict() if intent.metadata else {}).get("charge_id") == str(charge_id)
    ]


class ScriptedStripe(stripe.RequestsClient):
    """An HTTP client answering Stripe calls from a script, recording every request
    (the SDK's synchronous calls and its `_async` ones alike).

    `routes` maps "METHOD /v1/path" (a prefix; the longest one matching wins) to a list of
    answers used in turn
    (the last one repeats); an answer is a (status, body) pair, an exception to
    raise, or a callable taking the parsed form and returning one of those.
    """

    def __init__(self, routes: dict[str, list[Any]]) -> None:
        super().__init__()
        self.routes = routes
        self.calls: list[tuple[str, str, dict[str, list[str]], str | None]] = []

    def request(self, method: str, url: str, headers: Any, post_data: Any = None,
                *, _usage: Any = None) -> Any:
        path = urlsplit(url).path
        form = parse_qs(post_data or urlsplit(url).query or "")
        key = (headers or {}).get("Idempotency-Key") if method == "post" else None
        self.calls.append((method.upper(), path, form, key))
        # The longest matching route wins, whatever order the routes were added in.
        for route, answers in sorted(self.routes.items(), key=lambda item: -len(item[0])):
            route_method, route_path = route.split(" ", 1)
            if route_method == method.upper() and path.startswith(route_path):
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
                if callable(answer) and not isinstance(answer, type):
                    answer = answer(form)
                if isinstance(answer, Exception):
                    raise answer
                status, body = answer
                return json.dumps(body), status, {}
        return json.dumps({"error": {"type": "invalid_request_error",
                                     "message": f"unscripted {method} {path}"}}), 404, {}

    async def request_async(self, method: str, url: str, headers: Any,
                            post_data: Any = None) -> Any:
        # In a thread: a scripted answer may block, like a slow Stripe.
        return await asyncio.to_thread(self.request, method, url, headers, post_data)

    def sleep_async(self, secs: float) -> Any:
        return asyncio.sleep(secs)

    def _sleep_time_seconds(self, num_retries: int, response: Any = None) -> float:
        return 0.0

    def posts(self, path: str) -> list[tuple[dict[str, list[str]], str | None]]:
        return [(form, key) for method, p, form, key in self.calls
                if method == "POST" and p.startswith(path)]


def scripted_client(routes: dict[str, list[Any]]) -> tuple[stripe.StripeClient, ScriptedStripe]:
    http = ScriptedStripe(routes)
    client = stripe.StripeClient(API_KEY, base_addresses={"api": "http://127.0.0.1:9"},
                                 http_client=http, max_network_retries=2)
    return client, http


Factory = Callable[..., Any]
