"""The audit log: one entry per audited action, with who, when, from where and
before → after; admins read it all, finance the money entries, customers nothing;
no route changes an entry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from billdesk import payments
from billdesk.app import create_app
from billdesk.payments.stripe_api import use_stripe_client
from billdesk.tables import AuditEntry, Charge
from tests.desk_support import bearer, make_desk_ticket
from tests.factories import add_member, form_token, login, make_department, make_user
from tests.payment_helpers import awaiting_ticket, scripted_client, stripe_settings
from tests.trust_support import entries


async def _one_new(action: str, before: int) -> dict[str, Any]:
    found = await entries(action)
    assert len(found) == before + 1, (action, len(found) - before)
    return found[-1]


async def test_each_admin_action_writes_exactly_one_entry_with_before_and_after(client):
    admin = await make_user(role="admin", email="ada@example.test")
    agent = await make_user(role="staff")
    customer = await make_user()
    department = await make_department(name="Hosting", ticket_price=1500)
    headers = await bearer(admin)
    await add_member(department_id=department, user_id=admin.id)
    trashed = await make_desk_ticket(customer_id=customer.id, department_id=department)

    async def check(
        action: str, method: str, path: str, body: Any, before: Any, after: Any, money: bool = False
    ) -> dict[str, Any]:
        count = len(await entries(action))
        answer = await client.request(method, path, json=body, headers=headers)
        assert answer.status_code < 300, (path, answer.text)
        entry = await _one_new(action, count)
        assert (entry["before"], entry["after"], entry["money"]) == (before, after, money), action
        assert (entry["actor_id"], entry["actor_email"]) == (admin.id, admin.email)
        assert entry["ip"] and entry["created_at"] is not None
        return entry

    await check(
        "department.updated",
        "PATCH",
        f"/api/v1/admin/departments/{department}",
        {"ticket_price": 900, "free_tickets": 5},
        {"ticket_price": 1500, "free_tickets": 3},
        {"ticket_price": 900, "free_tickets": 5},
        money=True,
    )
    await check(
        "department.updated",
        "PATCH",
        f"/api/v1/admin/departments/{department}",
        {"description": "VPS and hosting"},
        {"description": ""},
        {"description": "VPS and hosting"},
    )
    await check(
        "department.member_added",
        "POST",
        f"/api/v1/admin/departments/{department}/members",
        {"user_id": agent.id},
        {},
        {"member": agent.email},
    )
    await check(
        "department.member_removed",
        "DELETE",
        f"/api/v1/admin/departments/{department}/members/{agent.id}",
        None,
        {"member": agent.email},
        {},
    )
    entry = await check(
        "user.updated",
        "PATCH",
        f"/api/v1/admin/users/{agent.id}",
        {"role": "finance"},
        {"role": "staff"},
        {"role": "finance"},
    )
    assert (entry["target_type"], entry["target_id"]) == ("user", agent.id)
    await check(
        "user.updated",
        "PATCH",
        f"/api/v1/admin/users/{agent.id}",
        {"password": "violet tractor lagoon"},
        {"password": "old"},
        {"password": "set by an admin"},
    )
    await check(
        "setting.changed",
        "PATCH",
        "/api/v1/admin/settings",
        {"support_enabled": False},
        {"support_enabled": True},
        {"support_enabled": False},
    )
    await check(
        "setting.changed",
        "PATCH",
        "/api/v1/admin/settings",
        {"two_factor_required": True},
        {"two_factor_required": False},
        {"two_factor_required": True},
    )
    await check(
        "ticket.trashed",
        "POST",
        "/api/v1/desk/tickets/bulk",
        {"action": "remove", "ticket_ids": [trashed]},
        {"in_trash": False},
        {"in_trash": True},
    )
    await check(
        "ticket.restored",
        "POST",
        f"/api/v1/admin/trash/{trashed}/restore",
        None,
        {"in_trash": True},
        {"in_trash": False},
    )
    # Saving without a change, or a refused change, writes nothing.
    count = len(await entries("department.updated"))
    await client.patch(
        f"/api/v1/admin/departments/{department}", json={"ticket_price": 900}, headers=headers
    )
    refused = await client.patch(
        f"/api/v1/admin/departments/{department}", json={"currency": "xxx"}, headers=headers
    )
    assert refused.status_code == 422
    assert len(await entries("department.updated")) == count


async def test_sign_ins_are_recorded_with_where_from(client):
    customer = await make_user()
    client.headers["user-agent"] = "Audit Browser/1.0"
    assert (await login(client, customer.email, "not the password")).status_code == 401
    assert (await login(client, "nobody@example.test", "whatever pw")).status_code == 401
    assert (await login(client, customer.email)).status_code == 302
    failed = await entries("login.failed")
    assert [(e["actor_email"], e["actor_id"]) for e in failed] == [
        (customer.email, customer.id),
        ("nobody@example.test", None),
    ]
    [succeeded] = await entries("login.succeeded")
    assert succeeded["actor_id"] == customer.id and succeeded["after"] == {"via": "password"}
    assert succeeded["user_agent"] == "Audit Browser/1.0" and succeeded["ip"]


@pytest.fixture
def scripted() -> Iterator:
    def install(routes: dict[str, list[Any]]):
        stripe_client, http = scripted_client(routes)
        use_stripe_client(stripe_client)
        return http

    with stripe_settings(None):
        yield install
    use_stripe_client(None)


async def test_refunds_and_reconcile_are_money_entries_that_finance_reads(client, scripted):
    import stripe

    scripted(
        {
            "POST /v1/refunds": [stripe.APIConnectionError("reset", should_retry=True)],
            "GET /v1/refunds": [
                (200, {"object": "list", "url": "/v1/refunds", "has_more": False, "data": []})
            ],
        }
    )
    finance = await make_user(role="finance")
    customer = await make_user()
    department = await make_department(free_tickets=0)
    ticket_id = await awaiting_ticket(customer_id=customer.id, department_id=department)
    rows = await Charge.insert(
        Charge(
            ticket=ticket_id,
            customer=customer.id,
            department=department,
            amount=2000,
            currency="usd",
            status="succeeded",
            idempotency_key="k-audit",
            stripe_payment_intent_id="pi_a",
        )
    ).returning(Charge.id)
    charge_id = rows[0]["id"]
    headers = await bearer(finance)
    answer = await client.post(
        f"/api/v1/finance/charges/{charge_id}/refunds",
        json={"amount": 500, "reason": "Goodwill"},
        headers=headers,
    )
    assert answer.status_code in (201, 202), answer.text
    [refund] = await entries("refund.created")
    assert refund["money"] and refund["actor_id"] == finance.id
    assert refund["before"] == {"refunded_amount": 0, "currency": "usd"}
    assert refund["after"]["refunded_amount"] == 500 and refund["after"]["reason"] == "Goodwill"

    # Reconcile learns the refund never reached Stripe, and a pending charge that never started.
    second = await awaiting_ticket(customer_id=customer.id, department_id=department)
    await Charge.insert(
        Charge(
            ticket=second,
            customer=customer.id,
            department=department,
            amount=900,
            currency="usd",
            status="pending",
            idempotency_key="k-audit-2",
        )
    )
    await payments.reconcile(include_recent=True)
    [settled] = await entries("refund.reconciled")
    assert (settled["before"]["status"], settled["after"]["status"]) == ("pending", "failed")
    assert settled["actor_id"] is None  # billdesk itself
    [moved] = await entries("charge.reconciled")
    assert (moved["before"], moved["after"]["status"]) == (
        {"status": "pending"},
        "requires_payment",
    )

    # Finance sees the money entries only; an admin sees everything.
    listed = (await client.get("/api/v1/admin/audit", headers=headers)).json()["items"]
    assert {item["action"] for item in listed} == {
        "refund.created",
        "refund.reconciled",
        "charge.reconciled",
    }
    assert listed[0]["at"].endswith("Z")
    admin_view = await client.get(
        "/api/v1/admin/audit", headers=await bearer(await make_user(role="admin"))
    )
    assert "user.created" in {item["action"] for item in admin_view.json()["items"]}
    await login(client, finance.email)
    page = await client.get("/admin/audit")
    assert page.status_code == 200 and "Goodwill" in page.text and "User created" not in page.text


@pytest.mark.parametrize("role", ["customer", "staff"])
async def test_customers_and_staff_cannot_read_the_log(client, role):
    user = await make_user(role=role)
    assert (await client.get("/api/v1/admin/audit", headers=await bearer(user))).status_code == 403
    await login(client, user.email)
    assert (await client.get("/admin/audit")).status_code == 403


async def test_search_by_person_action_and_date(client, clock):
    admin = await make_user(role="admin")
    alice = await make_user(email="alice@example.test")
    bob = await make_user(email="bob@example.test")
    await login(client, alice.email, "wrong password")
    clock.advance(timedelta(days=2))
    await login(client, bob.email, "wrong password")
    await login(client, bob.email)
    headers = await bearer(admin)

    async def actions(**query: str) -> list[tuple[str, str]]:
        answer = await client.get("/api/v1/admin/audit", params=query, headers=headers)
        assert answer.status_code == 200, answer.text
        return [(i["action"], i["target"]["name"]) for i in answer.json()["items"]]

    assert await actions(person="alice@example.test") == [
        ("login.failed", alice.email),
        ("user.created", alice.email),
    ]
    assert await actions(person=str(bob.id), action="login") == [
        ("login.succeeded", bob.email),
        ("login.failed", bob.email),
    ]
    assert await actions(action="login.failed", to="2026-11-02") == [("login.failed", alice.email)]
    assert await actions(action="login.failed", **{"from": "2026-11-03"}) == [
        ("login.failed", bob.email)
    ]
    first = (await client.get("/api/v1/admin/audit", params={"limit": 2}, headers=headers)).json()
    rest = (
        await client.get(
            "/api/v1/admin/audit", params={"cursor": first["next_cursor"]}, headers=headers
        )
    ).json()
    ids = [i["id"] for i in first["items"] + rest["items"]]
    assert len(ids) == len(set(ids)) == await AuditEntry.count()
    bad = await client.get("/api/v1/admin/audit", params={"from": "yesterday"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "from"
    bad = await client.get("/api/v1/admin/audit", params={"action": "drop"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "action"
    client.cookies.clear()
    await login(client, admin.email)
    page = await client.get("/admin/audit", params={"person": "bob@example.test"})
    assert page.status_code == 200 and page.text.count('data-action="login.') == 2


def test_no_route_changes_an_audit_entry():
    app = create_app(pooled=False, worker=False)
    for route in app.routes:
        if "audit" in route.path:
            assert set(route.methods) <= {"GET", "HEAD", "OPTIONS"}, (route.path, route.methods)
    assert {route.path for route in app.routes} >= {"/admin/audit", "/api/v1/admin/audit"}


async def test_a_change_that_fails_leaves_no_entry(client):
    admin = await make_user(role="admin")
    await login(client, admin.email)
    token = await form_token(client, "/admin/users")
    before = await AuditEntry.count()
    answer = await client.post(
        "/admin/users",
        data={"email": "not an email", "name": "X", "role": "staff", "_csrf_token": token},
    )
    assert answer.status_code == 422 and await AuditEntry.count() == before
