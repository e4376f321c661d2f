"""Admin's JSON API: departments with quota and price, members, users, the billing-system
sync and the support switch; every refused input names its field and changes nothing."""

from __future__ import annotations

import pytest

from billdesk.navigation import support_enabled
from billdesk.tables import Department, Service, User
from tests.desk_support import bearer
from tests.factories import make_department, make_user


@pytest.fixture
async def admin_headers():
    return await bearer(await make_user(role="admin"))


def _field(answer, field: str) -> None:
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["code"] == "validation_error"
    assert field in {error["field"] for error in body["errors"]}, body


async def test_department_create_edit_deactivate(client, admin_headers):
    answer = await client.post("/api/v1/admin/departments", headers=admin_headers, json={
        "slug": "vps-support", "name": "VPS support", "free_tickets": 3, "quota_period": "month",
        "ticket_price": 1500, "currency": "eur", "public": False,
    })
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert {key: created[key] for key in ("slug", "free_tickets", "ticket_price", "currency", "public", "active")} == {
        "slug": "vps-support", "free_tickets": 3, "ticket_price": 1500, "currency": "eur",
        "public": False, "active": True,
    }
    changed = await client.patch(f"/api/v1/admin/departments/{created['id']}", headers=admin_headers,
                                 json={"free_tickets": None, "quota_period": "lifetime", "active": False})
    assert changed.status_code == 200, changed.text
    assert changed.json()["free_tickets"] is None and changed.json()["active"] is False
    listed = await client.get("/api/v1/admin/departments", headers=admin_headers)
    assert [item["slug"] for item in listed.json()["items"]] == ["vps-support"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"free_tickets": -1}, "free_tickets"),
        ({"ticket_price": -100}, "ticket_price"),
        ({"currency": "xyz"}, "currency"),
        ({"currency": "USD"}, "currency"),
        ({"slug": "Bad Slug"}, "slug"),
        ({"slug": "taken"}, "slug"),
        ({"quota_period": "week"}, "quota_period"),
        ({"name": " "}, "name"),
    ],
)
async def test_bad_department_input_is_refused_and_nothing_changes(client, admin_headers, changes, field):
    await client.post("/api/v1/admin/departments", headers=admin_headers,
                      json={"slug": "taken", "name": "Taken"})
    existing = await make_department(name="Existing")
    before = await Department.select().order_by(Department.id)
    created = await client.post("/api/v1/admin/departments", headers=admin_headers,
                                json={"slug": "fresh", "name": "Fresh", **changes})
    _field(created, field)
    edited = await client.patch(f"/api/v1/admin/departments/{existing}", headers=admin_headers,
                                json=changes)
    _field(edited, field)
    assert await Department.select().order_by(Department.id) == before


async def test_members_are_staff_only(client, admin_headers):
    department = await make_department()
    staff = await make_user(role="staff")
    customer = await make_user(role="customer")
    added = await client.post(f"/api/v1/admin/departments/{department}/members",
                              headers=admin_headers, json={"user_id": staff.id})
    assert added.status_code == 201
    assert [member["id"] for member in added.json()["members"]] == [staff.id]
    refused = await client.post(f"/api/v1/admin/departments/{department}/members",
                                headers=admin_headers, json={"user_id": customer.id})
    _field(refused, "user_id")
    removed = await client.delete(f"/api/v1/admin/departments/{department}/members/{staff.id}",
                                  headers=admin_headers)
    assert removed.status_code == 204
    again = await client.delete(f"/api/v1/admin/departments/{department}/members/{staff.id}",
                                headers=admin_headers)
    assert again.status_code == 404


async def test_users_create_change_role_and_deactivate_at_once(client, admin_headers):
    created = await client.post("/api/v1/admin/users", headers=admin_headers, json={
        "email": "Agent@Example.test", "name": "Agent", "role": "staff", "password": "long enough pw",
    })
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["email"] == "agent@example.test" and user["role"] == "staff" and user["active"]
    duplicate = await client.post("/api/v1/admin/users", headers=admin_headers,
                                  json={"email": "agent@example.test", "name": "Again", "role": "staff"})
    _field(duplicate, "email")
    bad_role = await client.patch(f"/api/v1/admin/users/{user['id']}", headers=admin_headers,
                                  json={"role": "owner"})
    _field(bad_role, "role")
    promoted = await client.patch(f"/api/v1/admin/users/{user['id']}", headers=admin_headers,
                                  json={"role": "finance"})
    assert promoted.json()["role"] == "finance"
    from tests.factories import MadeUser

    agent_headers = await bearer(MadeUser(id=user["id"], email=user["email"], name="Agent", role="finance"))
    assert (await client.get("/api/v1/me", headers=agent_headers)).status_code == 200
    off = await client.patch(f"/api/v1/admin/users/{user['id']}", headers=admin_headers,
                             json={"active": False})
    assert off.json()["active"] is False
    assert (await client.get("/api/v1/me", headers=agent_headers)).status_code == 401


async def test_billing_system_sync_creates_then_updates(client, admin_headers):
    first = await client.put("/api/v1/admin/customers/cus-42", headers=admin_headers,
                             json={"email": "ops@acme.test", "name": "Acme", "stripe_customer_id": "cus_ABC"})
    assert first.status_code == 201, first.text
    again = await client.put("/api/v1/admin/customers/cus-42", headers=admin_headers,
                             json={"email": "ops@acme.test", "name": "Acme Ltd"})
    assert again.status_code == 200 and again.json()["name"] == "Acme Ltd"
    assert again.json()["stripe_customer_id"] == "cus_ABC"
    assert await User.count().where(User.external_id == "cus-42") == 1
    service = await client.put("/api/v1/admin/services/srv-1", headers=admin_headers, json={
        "customer_external_id": "cus-42", "name": "VPS 1", "kind": "vps", "status": "active"})
    assert service.status_code == 201, service.text
    suspended = await client.put("/api/v1/admin/services/srv-1", headers=admin_headers, json={
        "customer_external_id": "cus-42", "name": "VPS 1", "kind": "vps", "status": "suspended"})
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    unknown = await client.put("/api/v1/admin/services/srv-2", headers=admin_headers, json={
        "customer_external_id": "nobody", "name": "X", "kind": "toaster", "status": "active"})
    _field(unknown, "customer_external_id")
    _field(unknown, "kind")
    assert await Service.count() == 1
    bad_email = await client.put("/api/v1/admin/customers/cus-43", headers=admin_headers,
                                 json={"email": "not-an-email", "name": "X"})
    _field(bad_email, "email")


async def test_support_switch(client, admin_headers):
    off = await client.patch("/api/v1/admin/settings", headers=admin_headers,
                             json={"support_enabled": False})
    assert off.json()["support_enabled"] is False
    assert await support_enabled() is False
    on = await client.patch("/api/v1/admin/settings", headers=admin_headers,
                            json={"support_enabled": True})
    assert on.json()["support_enabled"] is True and await support_enabled() is True
