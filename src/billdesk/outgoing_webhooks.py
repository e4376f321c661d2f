"""Outgoing webhooks: what happened in billdesk, posted to the endpoints admins register,
signed the way Stripe signs its own (docs/integration.md).

The channel subscribes to the outbox like mail and Telegram do. For each happening
an endpoint wants, it writes one `webhook_deliveries` row (keyed by endpoint and
event, so a happening told twice is delivered once) holding the exact body, and
enqueues a `webhooks.deliver` job. The event `id` is derived from the happening's
id, so it is the same on every try and receivers can deduplicate.

A try is `POST` of the body with `Billdesk-Signature: t=<unix time>,v1=<hex
HMAC-SHA256 of "<t>.<body>">`, a 10 s timeout and no redirects followed. A 2xx
answer delivers it; anything else is retried after about 10 s, 30 s, 2 min,
10 min, 1 h, then hourly, until 24 hours have passed since the event. An endpoint
whose deliveries have failed for 24 hours is disabled and the admins are told.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import random
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from billdesk import clock, jobs, notifications, outbox
from billdesk.errors import NotFound, ValidationFailed
from billdesk.i18n import tr
from billdesk.tables import (
    Message,
    Notification,
    RequestKind,
    Ticket,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)

EVENTS = (
    outbox.TICKET_OPENED,
    outbox.MESSAGE_ADDED,
    outbox.STATUS_CHANGED,
    outbox.ASSIGNED,
    outbox.MERGED,
    outbox.CHARGE_SUCCEEDED,
    outbox.CHARGE_REFUNDED,
    outbox.REQUEST_DECIDED,
)
DELIVER = "webhooks.deliver"
SIGNATURE_HEADER = "Billdesk-Signature"
TIMEOUT_SECONDS = 10.0
# After the 1st, 2nd, … failed try; the last delay repeats until GIVE_UP_AFTER.
RETRY_SCHEDULE = (10, 30, 120, 600, 3600)
GIVE_UP_AFTER = timedelta(hours=24)
URL_MAX = 500
DESCRIPTION_MAX = 300
ENDPOINT_COLUMNS = (
    WebhookEndpoint.id,
    WebhookEndpoint.url,
    WebhookEndpoint.description,
    WebhookEndpoint.events,
    WebhookEndpoint.active,
    WebhookEndpoint.allow_insecure,
    WebhookEndpoint.disabled_reason,
    WebhookEndpoint.failing_since,
    WebhookEndpoint.created_at,
)
LOOPBACK_NAMES = ("localhost",)


# ------------------------------------------------------------------ signing


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `Billdesk-Signature` header value for `body` sent at `timestamp`."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: does a `v1` of the header match `body` and `secret`?"""
    parts = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value for key, value in parts if key == "t"]
    if len(timestamps) != 1 or not timestamps[0].isdigit():
        return False
    expected = sign(secret, body, int(timestamps[0])).split("v1=", 1)[1]
    return any(key == "v1" and hmac.compare_digest(value, expected) for key, value in parts)


# ------------------------------------------------------------------ endpoints


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: Any, *, allow_insecure: bool) -> str:
    """The target URL, or a validation error naming `url`: https, or http to loopback
    (or anywhere, when an admin allowed it)."""
    if not isinstance(url, str) or not url.strip():
        raise ValidationFailed.field("url", tr("Give the URL billdesk should post events to."))
    url = url.strip()
    if len(url) > URL_MAX:
        raise ValidationFailed.field("url", tr("The URL has at most %(num)s characters.", num=URL_MAX))
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationFailed.field("url", tr("The URL must start with https:// and name a host."))
    if parts.username or parts.password:
        raise ValidationFailed.field("url", tr("Put no user name or password in the URL."))
    if parts.scheme == "http" and not allow_insecure and not _is_loopback(parts.hostname):
        raise ValidationFailed.field(
            "url", tr("Use https (plain http only to this machine, unless allow_insecure is set).")
        )
    return url


def check_events(events: Any) -> list[str]:
    if not isinstance(events, list) or not events:
        raise ValidationFailed.field("events", tr("Choose at least one event."))
    unknown = [event for event in events if event not in EVENTS]
    if unknown:
        raise ValidationFailed.field(
            "events", tr("Unknown event; choose among: %(choices)s.", choices=", ".join(EVENTS))
        )
    return [event for event in EVENTS if event in events]


def _description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > DESCRIPTION_MAX:
        raise ValidationFailed.field(
            "description", tr("The description is text of at most %(num)s characters.", num=DESCRIPTION_MAX)
        )
    return value.strip()


async def create_endpoint(
    *, url: Any, events: Any, description: Any = "", allow_insecure: bool = False
) -> tuple[dict[str, Any], str]:
    """Register an endpoint; the endpoint and its signing secret (shown only now)."""
    checked_url = check_url(url, allow_insecure=allow_insecure)
    checked_events = check_events(events)
    secret = "whsec_" + secrets.token_hex(24)
    rows = await WebhookEndpoint.insert(
        WebhookEndpoint(
            url=checked_url,
            events=checked_events,
            description=_description(description),
            secret=secret,
            allow_insecure=allow_insecure,
        )
    ).returning(WebhookEndpoint.id)
    return await get_endpoint(rows[0]["id"]), secret


async def get_endpoint(endpoint_id: int) -> dict[str, Any]:
    row = (
        await WebhookEndpoint.select(*ENDPOINT_COLUMNS)
        .where(WebhookEndpoint.id == endpoint_id)
        .first()
    )
    if row is None:
        raise NotFound(tr("There is no such webhook endpoint."))
    return _decoded(row)


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    if isinstance(row.get("events"), str):
        row["events"] = json.loads(row["events"])
    return row


async def list_endpoints() -> list[dict[str, Any]]:
    rows = await WebhookEndpoint.select(*ENDPOINT_COLUMNS).order_by(WebhookEndpoint.id)
    return [_decoded(row) for row in rows]


async def update_endpoint(endpoint_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Change url, events, description, allow_insecure or active. Turning an endpoint
    back on forgets its failures."""
    current = await get_endpoint(endpoint_id)
    values: dict[Any, Any] = {}
    allow = changes.get("allow_insecure", current["allow_insecure"])
    if not isinstance(allow, bool):
        raise ValidationFailed.field("allow_insecure", tr("allow_insecure must be true or false."))
    if "url" in changes or "allow_insecure" in changes:
        values[WebhookEndpoint.url] = check_url(
            changes.get("url", current["url"]), allow_insecure=allow
        )
        values[WebhookEndpoint.allow_insecure] = allow
    if "events" in changes:
        values[WebhookEndpoint.events] = check_events(changes["events"])
    if "description" in changes:
        values[WebhookEndpoint.description] = _description(changes["description"])
    if "active" in changes:
        if not isinstance(changes["active"], bool):
            raise ValidationFailed.field("active", tr("active must be true or false."))
        values[WebhookEndpoint.active] = changes["active"]
        if changes["active"]:
            values[WebhookEndpoint.failing_since] = None
            values[WebhookEndpoint.disabled_reason] = ""
    if values:
        await WebhookEndpoint.update(values).where(WebhookEndpoint.id == endpoint_id)
    return await get_endpoint(endpoint_id)


async def delete_endpoint(endpoint_id: int) -> None:
    """Forget the endpoint and its delivery log; deliveries not made yet are dropped."""
    await get_endpoint(endpoint_id)
    await WebhookDelivery.delete().where(WebhookDelivery.endpoint == endpoint_id)
    await WebhookEndpoint.delete().where(WebhookEndpoint.id == endpoint_id)


def deliveries_query(endpoint_id: int):
    """The endpoint's delivery log, for a keyset page newest first."""
    return WebhookDelivery.select(
        WebhookDelivery.id,
        WebhookDelivery.event_id,
        WebhookDelivery.event_type,
        WebhookDelivery.status,
        WebhookDelivery.tries,
        WebhookDelivery.response_code,
        WebhookDelivery.last_error,
        WebhookDelivery.created_at,
        WebhookDelivery.last_try_at,
        WebhookDelivery.delivered_at,
    ).where(WebhookDelivery.endpoint == endpoint_id)


async def send_again(*, endpoint_id: int, delivery_id: int) -> None:
    """Send a delivery again (the same event id and body), with a fresh 24 hours of retries."""
    rows = (
        await WebhookDelivery.update({WebhookDelivery.status: WebhookDelivery.Status.pending.value})
        .where((WebhookDelivery.id == delivery_id) & (WebhookDelivery.endpoint == endpoint_id))
        .returning(WebhookDelivery.id)
    )
    if not rows:
        raise NotFound(tr("There is no such delivery."))
    await jobs.enqueue(
        DELIVER,
        {"delivery_id": delivery_id, "since": clock.now().isoformat()},
        key=f"{DELIVER}:{delivery_id}",
    )


# ------------------------------------------------------------ the channel


async def _event_data(happening: dict[str, Any]) -> dict[str, Any] | None:
    """What the event says: the happening's own fields and the ticket as the billing
    system knows it (its customer's and service's external ids)."""
    ticket = (
        await Ticket.select(
            Ticket.id,
            Ticket.type,
            Ticket.status,
            Ticket.subject,
            Ticket.department,
            Ticket.customer.id,
            Ticket.customer.external_id,
            Ticket.service.id,
            Ticket.service.external_id,
            Ticket.request_kind,
            Ticket.request_state,
        )
        .where(Ticket.id == happening["ticket_id"])
        .first()
    )
    if ticket is None:
        return None
    own = {
        key: value
        for key, value in happening.items()
        if key not in ("id", "type", "occurred_at", "ticket_id", "internal")
    }
    data: dict[str, Any] = {
        **own,
        "ticket": {
            "id": ticket["id"],
            "type": ticket["type"],
            "status": ticket["status"],
            "subject": ticket["subject"],
            "department_id": ticket["department"],
            "customer": {
                "id": ticket["customer.id"],
                "external_id": ticket["customer.external_id"],
            },
            "service": (
                {"id": ticket["service.id"], "external_id": ticket["service.external_id"]}
                if ticket["service.id"]
                else None
            ),
        },
    }
    if happening["type"] == outbox.MESSAGE_ADDED:
        message = (
            await Message.select(Message.body, Message.deleted)
            .where(Message.id == happening["message_id"])
            .first()
        )
        data["body"] = "" if message is None or message["deleted"] else message["body"]
    if happening["type"] == outbox.REQUEST_DECIDED:
        kind = (
            await RequestKind.select(RequestKind.id, RequestKind.name)
            .where(RequestKind.id == ticket["request_kind"])
            .first()
        )
        data["request"] = {"kind": kind, "state": ticket["request_state"]}
    return data


@outbox.subscriber("webhooks")
async def webhooks_on(happening: dict[str, Any]) -> None:
    """Record one delivery per endpoint that wants this happening, and its job."""
    kind = happening["type"]
    if kind not in EVENTS or (kind == outbox.MESSAGE_ADDED and happening.get("internal")):
        return
    endpoints = [row for row in await list_endpoints() if row["active"] and kind in row["events"]]
    if not endpoints:
        return
    data = await _event_data(happening)
    if data is None:
        return
    event_id = "evt_" + str(happening["id"]).removeprefix("hap_")
    body = json.dumps(
        {"id": event_id, "type": kind, "created_at": happening["occurred_at"], "data": data},
        separators=(",", ":"),
        default=str,
    )
    for endpoint in endpoints:
        rows = (
            await WebhookDelivery.insert(
                WebhookDelivery(
                    endpoint=endpoint["id"],
                    key=f"{endpoint['id']}:{event_id}",
                    event_id=event_id,
                    event_type=kind,
                    body=body,
                )
            )
            .on_conflict(target=WebhookDelivery.key, action="DO NOTHING")
            .returning(WebhookDelivery.id)
        )
        if rows:
            await jobs.enqueue(
                DELIVER,
                {"delivery_id": rows[0]["id"], "since": happening["occurred_at"]},
                key=f"{DELIVER}:{rows[0]['id']}",
            )


def retry_delay(tries: int) -> float:
    """Seconds before the next try after `tries` failed ones, less up to a tenth (jitter,
    so endpoints that failed together are not all tried again at the same second)."""
    base = RETRY_SCHEDULE[min(tries, len(RETRY_SCHEDULE)) - 1]
    return base * random.uniform(0.9, 1.0)


async def _post(url: str, body: str, secret: str, event_id: str) -> httpx.Response:
    payload = body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "billdesk-webhooks/1",
        SIGNATURE_HEADER: sign(secret, payload, int(clock.now().timestamp())),
        "Billdesk-Event-Id": event_id,
    }
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
        return await client.post(url, content=payload, headers=headers)


@jobs.handler(DELIVER, max_attempts=200, timeout=30)
async def deliver(payload: dict[str, Any]) -> None:
    """One try of one delivery; on failure, the next try at the schedule's time (RetryAfter),
    until 24 hours have passed since the event (GiveUp)."""
    from datetime import datetime

    delivery = (
        await WebhookDelivery.select().where(WebhookDelivery.id == payload["delivery_id"]).first()
    )
    if delivery is None or delivery["status"] == WebhookDelivery.Status.succeeded.value:
        return
    endpoint = (
        await WebhookEndpoint.select().where(WebhookEndpoint.id == delivery["endpoint"]).first()
    )
    if endpoint is None or not endpoint["active"]:
        await _record(delivery["id"], failed=True, error="the endpoint is disabled")
        raise jobs.GiveUp("the endpoint is disabled")
    now = clock.now()
    code: int | None = None
    try:
        answer = await _post(
            endpoint["url"], delivery["body"], endpoint["secret"], delivery["event_id"]
        )
        code = answer.status_code
        error = "" if 200 <= code < 300 else f"answered {code}"
    except httpx.TimeoutException:
        error = f"no answer within {TIMEOUT_SECONDS:g} s"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    tries = delivery["tries"] + 1
    if not error:
        await _record(delivery["id"], tries=tries, code=code, delivered=True)
        await WebhookEndpoint.update({WebhookEndpoint.failing_since: None}).where(
            WebhookEndpoint.id == endpoint["id"]
        )
        return
    since = datetime.fromisoformat(payload.get("since") or delivery["created_at"].isoformat())
    out_of_time = now - since >= GIVE_UP_AFTER
    await _record(delivery["id"], tries=tries, code=code, error=error, failed=out_of_time)
    await _note_failure(endpoint, now)
    if out_of_time:
        raise jobs.GiveUp(f"not delivered within 24 hours: {error}")
    delay = min(retry_delay(tries), (since + GIVE_UP_AFTER - now).total_seconds())
    raise jobs.RetryAfter(max(delay, 1.0), error)


async def _record(
    delivery_id: int,
    *,
    tries: int | None = None,
    code: int | None = None,
    error: str = "",
    delivered: bool = False,
    failed: bool = False,
) -> None:
    values: dict[Any, Any] = {WebhookDelivery.last_error: error}
    if tries is not None:
        values[WebhookDelivery.tries] = tries
        values[WebhookDelivery.last_try_at] = clock.now()
        values[WebhookDelivery.response_code] = code
    if delivered:
        values[WebhookDelivery.status] = WebhookDelivery.Status.succeeded.value
        values[WebhookDelivery.delivered_at] = clock.now()
    elif failed:
        values[WebhookDelivery.status] = WebhookDelivery.Status.failed.value
    await WebhookDelivery.update(values).where(WebhookDelivery.id == delivery_id)


async def _note_failure(endpoint: dict[str, Any], now: Any) -> None:
    """Remember when the endpoint started failing; after 24 hours, disable it and tell admins."""
    if endpoint["failing_since"] is None:
        await WebhookEndpoint.update({WebhookEndpoint.failing_since: now}).where(
            (WebhookEndpoint.id == endpoint["id"]) & WebhookEndpoint.failing_since.is_null()
        )
        return
    if now - endpoint["failing_since"] < GIVE_UP_AFTER:
        return
    disabled = (
        await WebhookEndpoint.update(
            {
                WebhookEndpoint.active: False,
                WebhookEndpoint.disabled_reason: "Every delivery failed for 24 hours.",
            }
        )
        .where(
            (WebhookEndpoint.id == endpoint["id"]) & (WebhookEndpoint.active == True)  # noqa: E712
        )
        .returning(WebhookEndpoint.id)
    )
    if not disabled:
        return
    admins = (
        await User.select(User.id)
        .where(
            (User.role == User.Role.admin.value) & (User.active == True)  # noqa: E712
        )
        .output(as_list=True)
    )
    for admin_id in admins:
        await notifications.notify(
            user_id=admin_id,
            kind=Notification.Kind.webhook_disabled,
            ticket_id=None,
            text=tr(
                "The webhook endpoint %(url)s failed for 24 hours and was disabled.",
                url=endpoint["url"],
            ),
        )
