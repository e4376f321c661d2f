"""The Stripe boundary: the client built from the settings, customers and saved cards.

Every call goes through the official SDK's `StripeClient`. Most calls use the SDK's
synchronous methods (over `requests`), run in a worker thread so they never block
the event loop (`call`). The calls of a saved-card payment use its `_async` methods
(over `aiohttp`, `call_async` and `start`): they are the ones a customer waits for
when opening a paid ticket, and on the loop they cost neither a thread's hand-offs
nor its turns on the GIL. Tests and the offline demo point the client elsewhere with
`STRIPE_API_BASE`, or hand in a client of their own with `use_stripe_client()`: a
client whose HTTP client answers both kinds of call.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import ssl
import urllib.request
import weakref
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import stripe

from billdesk.db_postgres import give_back_while_waiting
from billdesk.errors import PaymentsUnavailable
from billdesk.i18n import tr
from billdesk.settings import get_settings
from billdesk.tables import User

log = logging.getLogger("billdesk.payments")

T = TypeVar("T")

# The SDK retries connection errors, 409s and 5xx with the same idempotency key.
NETWORK_RETRIES = 2
# Seconds per HTTP request; with the retries, one call ends well within the charge's
# in-flight lease (payments.states.LEASE).
TIMEOUT = 30

_override: stripe.StripeClient | None = None


def use_stripe_client(client: stripe.StripeClient | None) -> None:
    """Use this client instead of the one built from the settings (None: back to the settings)."""
    global _override
    _override = client


class AIOHTTPPerLoop(stripe.HTTPClient):
    """The SDK's aiohttp client, one session per event loop: an aiohttp session belongs
    to the loop that opened it. A worker has one loop; tests and commands run several.

    Stripe is reached as the synchronous calls reach it over `requests`: with the CA
    bundle the SDK ships, and through the proxy HTTPS_PROXY (or HTTP_PROXY) names
    unless NO_PROXY names the host. The proxy is worked out once per host and session,
    not by aiohttp's `trust_env` on every request, which reads the environment and
    ~/.netrc in a thread each time."""

    name = "aiohttp"

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout
        # loop -> (its session, (scheme, host) -> the SDK's client for that host)
        self._by_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[Any, dict[tuple[str, str], stripe.AIOHTTPClient]]
        ] = weakref.WeakKeyDictionary()

    def _client(self, url: str) -> stripe.AIOHTTPClient:
        loop = asyncio.get_running_loop()
        found = self._by_loop.get(loop)
        if found is None:
            import aiohttp

            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    ssl=ssl.create_default_context(cafile=stripe.ca_bundle_path)
                ),
            )
            found = self._by_loop[loop] = (session, {})
        session, clients = found
        parts = urlsplit(url)
        host = (parts.scheme, parts.hostname or "")
        client = clients.get(host)
        if client is None:
            import aiohttp

            client = clients[host] = stripe.AIOHTTPClient(
                timeout=aiohttp.ClientTimeout(total=self._timeout), session=session,
                proxy=_proxy_for(*host),
            )
        return client

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        return await self._client(url).request_async(method, url, headers, post_data)

    async def request_stream_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> Any:
        return await self._client(url).request_stream_async(method, url, headers, post_data)

    async def close_async(self) -> None:
        found = self._by_loop.pop(asyncio.get_running_loop(), None)
        if found is not None:
            await found[0].close()

    def sleep_async(self, secs: float) -> Awaitable[None]:
        return asyncio.sleep(secs)


def _proxy_for(scheme: str, host: str) -> str | None:
    """The proxy the environment names for `scheme://host`, as `requests` finds it."""
    proxy = urllib.request.getproxies().get(scheme)
    if proxy and urllib.request.proxy_bypass(host):
        return None
    return proxy


# Shared by the clients built from the settings.
_AIOHTTP = AIOHTTPPerLoop(TIMEOUT)


@functools.lru_cache(maxsize=4)
def _client_for(secret_key: str, api_base: str | None) -> stripe.StripeClient:
    base_addresses = {"api": api_base} if api_base else {}
    return stripe.StripeClient(
        secret_key,
        base_addresses=base_addresses,  # type: ignore[arg-type]
        max_network_retries=NETWORK_RETRIES,
        http_client=stripe.RequestsClient(
            timeout=TIMEOUT, async_fallback_client=_AIOHTTP
        ),
    )


async def close() -> None:
    """Close this event loop's Stripe connections (a worker's shutdown)."""
    await _AIOHTTP.close_async()


def stripe_client() -> stripe.StripeClient:
    """The Stripe client of this process; PaymentsUnavailable when payments are not set up."""
    if _override is not None:
        return _override
    settings = get_settings()
    if not settings.stripe_secret_key:
        raise PaymentsUnavailable(
            tr("Paid tickets are not available right now: payments are not set up.")
        )
    return _client_for(settings.stripe_secret_key, settings.stripe_api_base)


def payments_configured() -> bool:
    return _override is not None or get_settings().payments_configured


# Stripe answers in hundreds of milliseconds: enough threads that slow answers do not
# queue behind each other (the loop's default pool has cpu_count + 4).
_STRIPE_THREADS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="stripe")


async def call(work: Callable[[stripe.StripeClient], T]) -> T:
    """Run one SDK call with the process's client, off the event loop."""
    client = stripe_client()
    await give_back_while_waiting()
    return await asyncio.get_running_loop().run_in_executor(_STRIPE_THREADS, work, client)


async def call_async(work: Callable[[stripe.StripeClient], Awaitable[T]]) -> T:
    """Run SDK calls made with the `_async` methods, with the process's client."""
    client = stripe_client()
    await give_back_while_waiting()
    return await work(client)


def start(work: Callable[[stripe.StripeClient], Awaitable[T]]) -> asyncio.Future[T]:
    """Start SDK calls made with the `_async` methods now, as a task, and go on: for calls
    that run while the request keeps working with the database (its connection stays
    with it)."""
    client = stripe_client()
    return asyncio.ensure_future(work(client))


async def checkout_call(work: Callable[[stripe.StripeClient], T]) -> T:
    """Open a Stripe Checkout Session; Stripe's refusal becomes a message for the person."""
    try:
        return await call(work)
    except stripe.StripeError as error:
        raise PaymentsUnavailable(
            tr(
                "Stripe's payment page cannot be opened right now. Try again in a moment"
                " or pay with your saved card."
            )
        ) from error


def object_id(value: Any) -> str | None:
    """The id of an expandable field: Stripe sends an id, localstripe sometimes the object."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return getattr(value, "id", None) or (value.get("id") if isinstance(value, dict) else None)


def metadata_of(obj: Any) -> dict[str, str]:
    """An object's metadata as a plain dict (the SDK's objects are not dicts)."""
    metadata = getattr(obj, "metadata", None)
    if metadata is None:
        return {}
    if hasattr(metadata, "to_dict"):
        metadata = metadata.to_dict()
    return {str(k): str(v) for k, v in dict(metadata).items()}


@dataclass(frozen=True)
class SavedCard:
    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int

    @property
    def expiry(self) -> str:
        return f"{self.exp_month:02d}/{self.exp_year}"


def _card_of(payment_method: Any) -> SavedCard | None:
    card = getattr(payment_method, "card", None)
    if card is None:
        return None
    return SavedCard(
        payment_method_id=payment_method.id,
        brand=str(card.brand or "card"),
        last4=str(card.last4 or ""),
        exp_month=int(card.exp_month or 0),
        exp_year=int(card.exp_year or 0),
    )


async def find_saved_card(
    client: stripe.StripeClient, stripe_customer_id: str
) -> SavedCard | None:
    """The saved card, looked up with this client (see `saved_card`).

    A customer that Stripe no longer has (deleted there, or an id from another
    account or an emptied test mode) has no saved card: the ticket then waits to be
    paid on the payment page instead of failing."""
    try:
        customer = await client.v1.customers.retrieve_async(stripe_customer_id)
    except stripe.InvalidRequestError as error:
        if error.http_status == 404 or error.code == "resource_missing":
            log.warning(
                "Stripe has no customer %s: treated as having no saved card", stripe_customer_id
            )
            return None
        raise
    if getattr(customer, "deleted", False):
        return None
    settings = getattr(customer, "invoice_settings", None)
    default = object_id(getattr(settings, "default_payment_method", None)) if settings else None
    listed = await client.v1.payment_methods.list_async(
        params={"customer": stripe_customer_id, "type": "card", "limit": 100}
    )
    cards = listed.data
    if default:
        for payment_method in cards:
            if payment_method.id == default:
                return _card_of(payment_method)
        # A default set by id that the list does not show (e.g. a magic test id).
        try:
            return _card_of(await client.v1.payment_methods.retrieve_async(default))
        except stripe.InvalidRequestError:
            pass
    if not cards:
        return None
    newest = max(cards, key=lambda payment_method: payment_method.created or 0)
    return _card_of(newest)


async def saved_card(stripe_customer_id: str | None) -> SavedCard | None:
    """The customer's saved card: the default payment method, else the newest attached card."""
    if not stripe_customer_id:
        return None
    return await call_async(lambda client: find_saved_card(client, stripe_customer_id))


async def stripe_customer_of(user_id: int) -> str | None:
    row = await User.select(User.stripe_customer_id).where(User.id == user_id).first()
    return row["stripe_customer_id"] if row else None


async def get_or_create_stripe_customer(user_id: int) -> str:
    """The user's Stripe customer id, creating the Stripe customer on first need."""
    row = (
        await User.select(User.email, User.name, User.stripe_customer_id)
        .where(User.id == user_id)
        .first()
    )
    if row is None:
        raise ValueError(f"no user {user_id}")
    if row["stripe_customer_id"]:
        return row["stripe_customer_id"]
    created = await call(
        lambda client: client.v1.customers.create(
            params={
                "email": row["email"],
                "name": row["name"],
                "metadata": {"billdesk_user_id": str(user_id)},
            },
            options={"idempotency_key": f"customer-{user_id}-{secrets.token_hex(6)}"},
        )
    )
    # Two requests may create a customer at once: the first to write wins, and
    # the other Stripe customer is simply never used.
    await User.update({User.stripe_customer_id: created.id}).where(
        (User.id == user_id) & User.stripe_customer_id.is_null()
    )
    return await stripe_customer_of(user_id) or created.id


async def make_default_card(stripe_customer_id: str, payment_method_id: str) -> None:
    """Make this attached card the one charged for paid tickets."""
    await call(
        lambda client: client.v1.customers.update(
            stripe_customer_id,
            params={"invoice_settings": {"default_payment_method": payment_method_id}},
        )
    )


@dataclass(frozen=True)
class PaidWith:
    """The card that paid, and Stripe's receipt page for the payment where it has one."""

    brand: str | None
    last4: str | None
    receipt_url: str | None


def _field(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def paid_with(stripe_charge: Any) -> PaidWith:
    """What a Stripe charge says about its card and receipt (fields missing stay None)."""
    card = _field(_field(stripe_charge, "payment_method_details"), "card")
    brand, last4 = _field(card, "brand"), _field(card, "last4")
    receipt = _field(stripe_charge, "receipt_url")
    return PaidWith(
        brand=str(brand)[:20] if brand else None,
        last4=str(last4)[-4:] if last4 else None,
        receipt_url=str(receipt) if receipt and str(receipt).startswith("https://") else None,
    )


def _read_paying_charge(client: stripe.StripeClient, intent_id: str) -> Any:
    intent = client.v1.payment_intents.retrieve(intent_id, params={"expand": ["latest_charge"]})
    latest = _field(intent, "latest_charge")
    if isinstance(latest, str):
        latest = client.v1.charges.retrieve(latest)
    return latest


async def note_paying_card(charge_id: int, intent_id: str) -> PaidWith | None:
    """Read the PaymentIntent's latest charge once and write its card and receipt link on
    billdesk's charge, if that PaymentIntent is still the one that paid it."""
    from billdesk.tables import Charge

    latest = await call(functools.partial(_read_paying_charge, intent_id=intent_id))
    if latest is None:
        return None
    found = paid_with(latest)
    await Charge.update(
        {
            Charge.card_brand: found.brand,
            Charge.card_last4: found.last4,
            Charge.receipt_url: found.receipt_url,
        }
    ).where((Charge.id == charge_id) & (Charge.stripe_payment_intent_id == intent_id))
    return found
