"""A local Stripe-compatible server for the offline demo, and the demo customers' cards.

`billdesk stripe-dev-server` runs `localstripe` (from PyPI, installed with the
test extras) on 127.0.0.1 only, keeps its data in memory (plain localstripe
pickles every write to a file shared by every instance on the machine) and lists
each kind of object from an index (`keep_store_in_memory`), replays
repeated idempotency keys the way Stripe does (plain localstripe ignores them),
and delivers its events, signed, to the app's webhook.

`billdesk demo-cards` gives the demo customers their saved cards: Alice one
that works, Bob one that is declined when charged. It also leaves Alice two paid
tickets in Premium administration, one of them refunded, so that finance does not
start on an empty screen, and Bob one charged to his declined card, which waits
for payment (`give_demo_payments`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import stripe

from billdesk.tables import User

log = logging.getLogger("billdesk.payments")

WORKING_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000341"
DEMO_CARDS = {"alice@example.com": WORKING_CARD, "bob@example.com": DECLINED_CARD}
WEBHOOK_EVENTS = ["payment_intent.succeeded", "payment_intent.payment_failed"]


def _idempotency_middleware() -> Any:
    """Replay a repeated Idempotency-Key's first answer, as Stripe does."""
    from aiohttp import web

    saved: dict[str, tuple[Any, int, bytes, str]] = {}
    running: set[str] = set()

    def refuse(status: int, message: str) -> Any:
        return web.json_response(
            {"error": {"type": "idempotency_error", "message": message}}, status=status
        )

    @web.middleware
    async def middleware(request: Any, handler: Any) -> Any:
        if request.path == "/_config/data" and request.method == "DELETE":
            saved.clear()
        key = request.headers.get("Idempotency-Key")
        if not key or request.method != "POST" or request.path.startswith("/_config/"):
            return await handler(request)
        fingerprint = (request.method, request.path, await request.read())
        if key in running:
            return refuse(409, f"A request with the idempotency key {key} is in progress.")
        if key in saved:
            first, status, body, content_type = saved[key]
            if first != fingerprint:
                return refuse(400, f"The idempotency key {key} was used with other parameters.")
            response = web.Response(status=status, body=body, content_type=content_type)
            response.headers["Idempotent-Replayed"] = "true"
            return response
        running.add(key)
        try:
            response = await handler(request)
            if response.status != 401:
                saved[key] = (fingerprint, response.status, response.body, response.content_type)
            return response
        finally:
            running.discard(key)

    return middleware


def make_localstripe_stripe_like() -> None:
    """Teach localstripe the few Stripe parameters billdesk sends that it refuses.

    - `off_session` when confirming a PaymentIntent (Stripe takes it; billdesk creates
      a PaymentIntent, writes its id, then confirms it off-session);
    - the `customer` and `created` filters of the PaymentIntent and Refund lists (the
      ledger check lists what Stripe holds since a date);
    - a charge's `payment_method_details.card` (brand, last 4), which a paid ticket shows.
      localstripe gives no `receipt_url`, so billdesk's own receipt page stands in.

    Call it before `localstripe.server` is imported: that import routes the endpoints.
    """
    from localstripe import resources

    intents = resources.PaymentIntent
    if getattr(intents, "_billdesk_patched", False):
        return
    confirm = intents._api_confirm.__func__  # type: ignore[attr-defined]
    list_intents = intents._api_list_all.__func__  # type: ignore[attr-defined]
    list_refunds = resources.Refund._api_list_all.__func__  # type: ignore[attr-defined]

    def confirm_off_session(cls: Any, id: Any, payment_method: Any = None,
                            off_session: Any = None, **kwargs: Any) -> Any:
        return confirm(cls, id, payment_method=payment_method, **kwargs)

    def created_filter(created: Any) -> Any:
        if not isinstance(created, dict):
            return lambda obj: True
        bounds = {op: int(value) for op, value in created.items()}
        checks = {
            "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
            "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
        }
        return lambda obj: all(checks[op](obj.created, v) for op, v in bounds.items())

    def list_intents_filtered(cls: Any, url: Any, customer: Any = None, created: Any = None,
                              **kwargs: Any) -> Any:
        found = list_intents(cls, url, **kwargs)
        keep = created_filter(created)
        found._list = [
            i for i in found._list if (customer is None or i.customer == customer) and keep(i)
        ]
        return found

    def list_refunds_filtered(cls: Any, url: Any, created: Any = None, **kwargs: Any) -> Any:
        found = list_refunds(cls, url, **kwargs)
        keep = created_filter(created)
        found._list = [r for r in found._list if keep(r)]
        return found

    intents._api_confirm = classmethod(confirm_off_session)  # type: ignore[assignment]
    # The server module routes extra endpoints through this list when it is imported.
    resources.extra_apis[:] = [
        (method, url, intents._api_confirm if url.endswith("/payment_intents/{id}/confirm")
         else func)
        for method, url, func in resources.extra_apis
    ]
    intents._api_list_all = classmethod(list_intents_filtered)  # type: ignore[assignment]
    resources.Refund._api_list_all = classmethod(list_refunds_filtered)  # type: ignore[assignment]
    def payment_method_details(charge: Any) -> Any:
        try:
            method = resources.PaymentMethod._api_retrieve(charge.payment_method)
        except Exception:
            return None
        card = getattr(method, "card", None) or {}
        return {"type": "card", "card": {"brand": card.get("brand"), "last4": card.get("last4")}}

    resources.Charge.payment_method_details = property(  # type: ignore[attr-defined]
        payment_method_details
    )
    intents._billdesk_patched = True  # type: ignore[attr-defined]


def keep_store_in_memory() -> None:
    """Keep localstripe's objects in memory only, each kind in an index of its own.

    Plain localstripe pickles its whole store to a file on every write, and lists a
    kind of object (a customer's saved cards, say) by scanning every object it holds.
    Both grow with the payments made, so a stand-in that has taken a few thousand
    payments answers each call several milliseconds later than a fresh one; Stripe
    does not. Listing from the kind's index keeps the stand-in's answers as quick at
    the end of a test run or a bench as at its start; what it answers is unchanged
    (the same objects, in the order they were stored)."""
    from localstripe import resources

    store_class = resources.Store
    if getattr(store_class, "_billdesk_indexed", False):
        return
    # "payment_method" -> {"payment_method:pm_…": the object, …}, in the store's order.
    # Singletons (the balance) are stored under their kind alone and are never listed.
    by_kind: dict[str, dict[str, Any]] = {}

    def set_item(self: Any, key: str, value: Any) -> None:
        dict.__setitem__(self, key, value)
        kind, colon, _ = key.partition(":")
        if colon:
            by_kind.setdefault(kind, {})[key] = value

    def del_item(self: Any, key: str) -> None:
        dict.__delitem__(self, key)
        by_kind.get(key.partition(":")[0], {}).pop(key, None)

    def clear(self: Any) -> None:
        dict.clear(self)
        by_kind.clear()

    def list_all(cls: Any, url: Any, limit: Any = None, starting_after: Any = None,
                 **kwargs: Any) -> Any:
        if kwargs:
            raise resources.UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        found = resources.List(url, limit=limit, starting_after=starting_after)
        found._list = list(by_kind.get(cls.object, {}).values())
        return found

    store_class.__setitem__ = set_item  # type: ignore[assignment,method-assign]
    store_class.__delitem__ = del_item  # type: ignore[assignment,method-assign]
    store_class.clear = clear  # type: ignore[assignment,method-assign]
    store_class.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    # The kinds' own listings filter what this returns (`super()._api_list_all`).
    resources.StripeObject._api_list_all = classmethod(list_all)  # type: ignore[assignment]
    for key, value in list(resources.store.items()):
        set_item(resources.store, key, value)
    store_class._billdesk_indexed = True  # type: ignore[attr-defined]


def serve(*, port: int, webhook_url: str | None, webhook_secret: str | None) -> None:
    """Serve localstripe on 127.0.0.1:`port` until interrupted."""
    try:
        from aiohttp import web

        make_localstripe_stripe_like()
        from localstripe import server, webhooks
    except ImportError as error:
        raise RuntimeError(
            "localstripe is not installed; install billdesk with its test extras "
            "(pip install -e '.[test]')"
        ) from error

    keep_store_in_memory()
    server.app.middlewares.insert(0, _idempotency_middleware())
    if webhook_url and webhook_secret:
        webhooks.register_webhook("billdesk", webhook_url, webhook_secret, WEBHOOK_EVENTS)
    print(f"Local Stripe test server on http://127.0.0.1:{port}", flush=True)
    web.run_app(server.app, host="127.0.0.1", port=port, print=None, shutdown_timeout=1)


def _wait_for_stripe(client: stripe.StripeClient, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.v1.customers.list(params={"limit": 1})
            return
        except stripe.APIConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _ensure_card(client: stripe.StripeClient, user: dict[str, Any], number: str) -> str:
    """The user's Stripe customer (made again if the server forgot it) with `number` saved."""
    customer_id = user["stripe_customer_id"]
    if customer_id:
        try:
            customer = client.v1.customers.retrieve(customer_id)
            if not getattr(customer, "deleted", False):
                cards = client.v1.payment_methods.list(
                    params={"customer": customer_id, "type": "card"}
                ).data
                if any(card.card and card.card.last4 == number[-4:] for card in cards):
                    return customer_id
        except stripe.InvalidRequestError:
            customer_id = None
    if not customer_id:
        customer_id = client.v1.customers.create(
            params={"email": user["email"], "name": user["name"]}
        ).id
    payment_method = client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    client.v1.payment_methods.attach(payment_method.id, params={"customer": customer_id})
    client.v1.customers.update(
        customer_id, params={"invoice_settings": {"default_payment_method": payment_method.id}}
    )
    return customer_id


async def give_demo_cards() -> list[tuple[str, str]]:
    """Alice's card works, Bob's is declined; returns (email, last 4) of each saved card."""
    from billdesk.payments.stripe_api import stripe_client

    client = stripe_client()
    await asyncio.to_thread(_wait_for_stripe, client)
    given = []
    for email, number in DEMO_CARDS.items():
        user = (
            await User.select(User.id, User.email, User.name, User.stripe_customer_id)
            .where(User.email == email)
            .first()
        )
        if user is None:
            continue
        customer_id = await asyncio.to_thread(_ensure_card, client, user, number)
        await User.update({User.stripe_customer_id: customer_id}).where(User.id == user["id"])
        given.append((email, number[-4:]))
    return given


# Alice's paid demo tickets: (opening message, refunded by finance?).
DEMO_PAYMENTS = [
    ("Migrate our shop to the new server\n"
     "Please move shop.example.com and its database to the new VPS this weekend.", False),
    ("Harden SSH on web-2\n"
     "Turn off password log-ins on web-2 and allow only our office's addresses.", True),
]
DEMO_REFUND_REASON = "Demo: the work was covered by the customer's plan."


async def give_demo_payments() -> list[tuple[int, str]]:
    """Alice's paid demo tickets, charged to her working card, the second refunded in full,
    and Bob's, declined on his card and waiting for payment.

    Opened and paid through the same calls as the client area, refunded as finance
    does it. Run again, it finds them by subject and adds nothing. Returns (ticket id,
    what it shows) of each; nothing when the demo data or Alice's card is missing.
    """
    from billdesk import tickets
    from billdesk.auth import CurrentUser
    from billdesk.payments import refunds, stripe_api
    from billdesk.tables import Charge, Department, Ticket

    alice = await User.select(User.id, User.email, User.name, User.stripe_customer_id).where(
        User.email == "alice@example.com"
    ).first()
    finance = await User.select(User.id).where(User.email == "finance@example.com").first()
    premium = await Department.select(Department.id, Department.ticket_price).where(
        Department.slug == "premium-administration"
    ).first()
    if alice is None or premium is None or not alice["stripe_customer_id"]:
        return []
    customer = CurrentUser(id=alice["id"], email=alice["email"], name=alice["name"],
                           role="customer")
    shown = []
    for message, refunded in DEMO_PAYMENTS:
        subject = message.split("\n", 1)[0]
        found = await Ticket.select(Ticket.id).where(
            (Ticket.customer == alice["id"]) & (Ticket.subject == subject)
        ).first()
        if found is None:
            opened = await tickets.open_ticket(
                customer=customer, department_id=premium["id"], service_id=None,
                message=message, files=[], accept_price=premium["ticket_price"],
                client_token=None,
            )
            ticket_id = opened.ticket_id
        else:
            ticket_id = found["id"]
        charge = await Charge.select(
            Charge.id, Charge.status, Charge.refunded_amount, Charge.stripe_payment_intent_id,
            Charge.card_last4,
        ).where(Charge.ticket == ticket_id).first()
        if charge is None or charge["status"] not in ("succeeded", "partially_refunded",
                                                       "refunded"):
            shown.append((ticket_id, "not paid"))
            continue
        if charge["card_last4"] is None and charge["stripe_payment_intent_id"]:
            # The worker's job writes it too; written now so the pages show it at once.
            await stripe_api.note_paying_card(charge["id"], charge["stripe_payment_intent_id"])
        if refunded and charge["refunded_amount"] == 0:
            await refunds.refund_charge(
                charge_id=charge["id"], amount=None, reason=DEMO_REFUND_REASON,
                actor_id=finance["id"] if finance else None,
            )
        shown.append((ticket_id, "paid and refunded" if refunded else "paid"))
    waiting = await _bob_waits_for_payment(premium)
    if waiting is not None:
        shown.append((waiting, "waiting for payment: Bob's card was declined"))
    return shown


# Bob's paid demo ticket: he accepted the price, his card was declined, so the ticket
# waits for payment and his ticket page shows the Pay step.
DEMO_DECLINED = (
    "Move our backups to a second data centre\n"
    "Please copy the nightly backups of vps-3307 to Frankfurt as well."
)


async def _bob_waits_for_payment(premium: dict[str, Any]) -> int | None:
    """Bob's Premium administration ticket, charged to his declined card (once)."""
    from billdesk import tickets
    from billdesk.auth import CurrentUser
    from billdesk.tables import Ticket

    bob = await User.select(User.id, User.email, User.name, User.stripe_customer_id).where(
        User.email == "bob@example.com"
    ).first()
    if bob is None or not bob["stripe_customer_id"]:
        return None
    subject = DEMO_DECLINED.split("\n", 1)[0]
    found = await Ticket.select(Ticket.id).where(
        (Ticket.customer == bob["id"]) & (Ticket.subject == subject)
    ).first()
    if found is not None:
        return int(found["id"])
    opened = await tickets.open_ticket(
        customer=CurrentUser(id=bob["id"], email=bob["email"], name=bob["name"], role="customer"),
        department_id=premium["id"], service_id=None, message=DEMO_DECLINED, files=[],
        accept_price=premium["ticket_price"], client_token=None,
    )
    return opened.ticket_id
