"""Outgoing webhooks to a receiver on loopback: each event once, signed, the same id on
every retry, on the schedule the docs give; nothing for internal notes; a failing
endpoint is disabled after a day and the admins are told."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from billdesk import jobs
from billdesk.outgoing_webhooks import EVENTS, verify
from billdesk.tables import Job, Notification, WebhookDelivery, WebhookEndpoint
from tests.desk_support import bearer, make_world
from tests.support.webhook_receiver import Receiver


@pytest.fixture(scope="module")
def receiver_server():
    server = Receiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def receiver(receiver_server):
    receiver_server.clear()
    return receiver_server


async def _endpoint(client, admin, url, events=None):
    answer = await client.post(
        "/api/v1/admin/webhooks",
        headers=admin,
        json={"url": url, "events": events or list(EVENTS), "description": "billing panel"},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def _events(receiver, secret):
    seen = []
    for hit in receiver.received:
        assert verify(secret, hit.body, hit.headers["billdesk-signature"]), hit.headers
        assert hit.headers["content-type"] == "application/json"
        seen.append(json.loads(hit.body))
    return seen


async def test_events_arrive_once_each_signed_and_internal_notes_send_nothing(
    client, clock, receiver
):
    world = await make_world()
    admin, customer, staff = (
        await bearer(world.admin),
        await bearer(world.customer),
        await bearer(world.staff),
    )
    endpoint = await _endpoint(
        client,
        admin,
        receiver.url + "/hooks",
        ["ticket.opened", "ticket.message_added", "request.decided", "charge.refunded"],
    )
    assert endpoint["secret"].startswith("whsec_")
    assert (
        "secret"
        not in (await client.get(f"/api/v1/admin/webhooks/{endpoint['id']}", headers=admin)).json()
    )

    opened = await client.post(
        "/api/v1/tickets",
        headers=customer,
        json={"department_id": world.department, "message": "Disk full"},
    )
    ticket_id = opened.json()["id"]
    await client.post(
        f"/api/v1/desk/tickets/{ticket_id}/messages",
        headers=staff,
        json={"body": "Looking into it", "internal": False},
    )
    await client.post(
        f"/api/v1/desk/tickets/{ticket_id}/messages",
        headers=staff,
        json={"body": "Customer is rude", "internal": True},
    )
    kind = (
        await client.post(
            f"/api/v1/admin/departments/{world.department}/request-kinds",
            headers=admin,
            json={"name": "Unblock SMTP port 25"},
        )
    ).json()
    request_id = (
        await client.post(
            "/api/v1/tickets",
            headers=customer,
            json={
                "department_id": world.department,
                "request_kind_id": kind["id"],
                "message": "Please",
            },
        )
    ).json()["id"]
    await client.post(
        f"/api/v1/desk/tickets/{request_id}/decision",
        headers=staff,
        json={"decision": "approved", "reason": "Done"},
    )
    await jobs.drain()
    await jobs.drain()  # what a first round enqueued, told twice, still arrives once

    seen = _events(receiver, endpoint["secret"])
    types = sorted(event["type"] for event in seen)
    assert types == [
        "request.decided",
        "ticket.message_added",
        "ticket.message_added",
        "ticket.opened",
        "ticket.opened",
    ]
    assert len({event["id"] for event in seen}) == len(seen)
    reply = next(
        e
        for e in seen
        if e["type"] == "ticket.message_added" and e["data"]["ticket"]["id"] == ticket_id
    )
    assert reply["data"]["body"] == "Looking into it" and reply["data"]["author_role"] == "staff"
    assert "Customer is rude" not in json.dumps(seen)
    decided = next(e for e in seen if e["type"] == "request.decided")
    assert decided["data"]["decision"] == "approved" and decided["data"]["reason"] == "Done"
    assert decided["data"]["request"]["kind"]["name"] == "Unblock SMTP port 25"
    assert decided["data"]["ticket"]["customer"]["id"] == world.customer.id
    assert decided["created_at"].startswith("2026-11-02T09:00")
    hit = receiver.received[0]
    assert hit.path == "/hooks" and hit.headers["billdesk-signature"].startswith("t=1793610000,v1=")

    log = await client.get(f"/api/v1/admin/webhooks/{endpoint['id']}/deliveries", headers=admin)
    assert {row["status"] for row in log.json()["items"]} == {"succeeded"}
    assert {row["response_code"] for row in log.json()["items"]} == {200}


async def test_a_refund_arrives_signed(client, clock, receiver):
    from billdesk import outbox
    from billdesk.tickets.lifecycle import write_transaction

    world = await make_world()
    admin = await bearer(world.admin)
    endpoint = await _endpoint(client, admin, receiver.url, ["charge.refunded"])
    # What billdesk.payments.refunds publishes when Stripe confirms a refund.
    async with write_transaction():
        await outbox.publish(
            outbox.CHARGE_REFUNDED,
            ticket_id=world.ticket,
            actor_id=None,
            charge_id=7,
            refund_id=3,
            amount=500,
            currency="usd",
            automatic=False,
        )
    await jobs.drain()
    [event] = _events(receiver, endpoint["secret"])
    assert event["type"] == "charge.refunded" and event["data"]["amount"] == 500
    assert event["data"]["ticket"]["id"] == world.ticket


async def test_a_failing_receiver_gets_the_same_event_on_the_schedule(client, clock, receiver):
    world = await make_world()
    admin, customer = await bearer(world.admin), await bearer(world.customer)
    await _endpoint(client, admin, receiver.url, ["ticket.opened"])
    receiver.answers = [500, 503, 302]  # a redirect is not followed: it fails too
    await client.post(
        "/api/v1/tickets",
        headers=customer,
        json={"department_id": world.department, "message": "Disk full"},
    )
    await jobs.drain()
    assert len(receiver.received) == 1
    for wait in (10, 30, 120):  # seconds, less up to a tenth
        before = len(receiver.received)
        clock.advance(timedelta(seconds=wait * 0.85))
        await jobs.drain()
        assert len(receiver.received) == before, wait
        clock.advance(timedelta(seconds=wait * 0.15 + 1))
        await jobs.drain()
        assert len(receiver.received) == before + 1, wait
    assert len(receiver.received) == 4
    ids = {json.loads(hit.body)["id"] for hit in receiver.received}
    assert len(ids) == 1
    assert len({hit.body for hit in receiver.received}) == 1
    [delivery] = await WebhookDelivery.select()
    assert delivery["status"] == "succeeded" and delivery["tries"] == 4
    assert delivery["response_code"] == 200
    endpoint_row = await WebhookEndpoint.select().first()
    assert endpoint_row["failing_since"] is None and endpoint_row["active"]


async def test_an_endpoint_failing_for_a_day_is_disabled_and_admins_are_told(
    client, clock, receiver
):
    world = await make_world()
    admin, customer = await bearer(world.admin), await bearer(world.customer)
    endpoint = await _endpoint(client, admin, receiver.url, ["ticket.opened"])
    receiver.answers = [500] * 100
    await client.post(
        "/api/v1/tickets",
        headers=customer,
        json={"department_id": world.department, "message": "Disk full"},
    )
    await jobs.drain()
    for _ in range(30):
        clock.advance(timedelta(hours=1))
        await jobs.drain()
    tries = len(receiver.received)
    assert 25 <= tries <= 30  # 10 s, 30 s, 2 min, 10 min, 1 h, then hourly for a day
    [delivery] = await WebhookDelivery.select()
    assert delivery["status"] == "failed" and delivery["response_code"] == 500
    row = (await client.get(f"/api/v1/admin/webhooks/{endpoint['id']}", headers=admin)).json()
    assert row["active"] is False and "24 hours" in row["disabled_reason"]
    [note] = await Notification.select(Notification.user, Notification.kind)
    assert note == {"user": world.admin.id, "kind": "webhook_disabled"}
    assert (
        await Job.count().where((Job.kind == "webhooks.deliver") & (Job.status == "pending")) == 0
    )

    # Turned back on and sent again by hand: the same event arrives.
    receiver.answers = []
    await client.patch(
        f"/api/v1/admin/webhooks/{endpoint['id']}", headers=admin, json={"active": True}
    )
    again = await client.post(
        f"/api/v1/admin/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/resend", headers=admin
    )
    assert again.status_code == 200 and again.json()["status"] == "pending"
    await jobs.drain()
    assert (
        json.loads(receiver.received[-1].body)["id"] == json.loads(receiver.received[0].body)["id"]
    )
    assert (await WebhookDelivery.select(WebhookDelivery.status).first())["status"] == "succeeded"


async def test_targets_are_checked(client):
    admin = await bearer((await make_world()).admin)
    for body, field in [
        ({"url": "http://billing.example.test/hook"}, "url"),
        ({"url": "ftp://billing.example.test/hook"}, "url"),
        ({"url": "https://user:pw@billing.example.test/hook"}, "url"),
        ({"url": "https://billing.example.test/hook", "events": ["ticket.eaten"]}, "events"),
        ({"url": "https://billing.example.test/hook", "events": []}, "events"),
    ]:
        answer = await client.post(
            "/api/v1/admin/webhooks", headers=admin, json={"events": ["ticket.opened"], **body}
        )
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == field, body
    allowed = await client.post(
        "/api/v1/admin/webhooks",
        headers=admin,
        json={
            "url": "http://billing.example.test/hook",
            "events": ["ticket.opened"],
            "allow_insecure": True,
        },
    )
    assert allowed.status_code == 201
    assert (
        await client.post(
            "/api/v1/admin/webhooks",
            headers=admin,
            json={"url": "https://billing.example.test/hook", "events": ["ticket.opened"]},
        )
    ).status_code == 201
    listed = await client.get("/api/v1/admin/webhooks", headers=admin)
    assert len(listed.json()["items"]) == 2
    gone = await client.delete(f"/api/v1/admin/webhooks/{allowed.json()['id']}", headers=admin)
    assert gone.status_code == 204


async def test_the_admin_pages_show_the_secret_once_and_the_log(client, clock, receiver):
    from tests.factories import form_token, login

    world = await make_world()
    await login(client, world.admin.email)
    token = await form_token(client, "/admin/webhooks")
    made = await client.post(
        "/admin/webhooks",
        data={
            "url": receiver.url,
            "events": ["ticket.opened"],
            "description": "panel",
            "_csrf_token": token,
        },
    )
    assert made.status_code == 201 and "whsec_" in made.text
    listed = await client.get("/admin/webhooks")
    assert receiver.url in listed.text and "whsec_" not in listed.text
    endpoint_id = (await WebhookEndpoint.select(WebhookEndpoint.id).first())["id"]
    await client.post(
        "/api/v1/tickets",
        headers=await bearer(world.customer),
        json={"department_id": world.department, "message": "Disk full"},
    )
    await jobs.drain()
    page = await client.get(f"/admin/webhooks/{endpoint_id}")
    assert "ticket.opened" in page.text and "succeeded" in page.text
    delivery_id = (await WebhookDelivery.select(WebhookDelivery.id).first())["id"]
    resent = await client.post(
        f"/admin/webhooks/{endpoint_id}/deliveries/{delivery_id}/resend",
        data={"_csrf_token": token},
    )
    assert resent.status_code == 302
    await jobs.drain()
    assert len(receiver.received) == 2 and receiver.received[0].body == receiver.received[1].body
