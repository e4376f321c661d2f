"""Service requests: kinds per department, filed by the customer or the billing system,
approved or rejected once, singly or in bulk, never charged and never using the quota."""

from __future__ import annotations

from billdesk import requests as requests_domain
from billdesk.tables import Charge, Notification, QuotaCounter, Ticket
from tests.desk_support import bearer, make_world
from tests.factories import add_member, make_department, make_service, make_user


async def _kind(client, admin_headers, department, **extra):
    answer = await client.post(
        f"/api/v1/admin/departments/{department}/request-kinds",
        headers=admin_headers,
        json={"name": "Unblock SMTP port 25", "description": "For mail servers.", **extra},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


async def test_a_customer_files_a_request_without_using_the_quota(client):
    world = await make_world()
    admin, customer = await bearer(world.admin), await bearer(world.customer)
    # Support in this department is always paid: no free tickets at all.
    paid = await make_department(name="Network", free_tickets=0, ticket_price=2500)
    kind = await _kind(client, admin, paid, requires_service=True)
    assert kind["requires_service"] is True and kind["department_id"] == paid

    listed = (await client.get("/api/v1/departments", headers=customer)).json()["items"]
    network = next(item for item in listed if item["id"] == paid)
    assert network["request_kinds"] == [
        {
            "id": kind["id"],
            "name": "Unblock SMTP port 25",
            "description": "For mail servers.",
            "requires_service": True,
        }
    ]
    without_service = await client.post(
        "/api/v1/tickets",
        headers=customer,
        json={
            "department_id": paid,
            "request_kind_id": kind["id"],
            "message": "Please unblock it.",
        },
    )
    assert (
        without_service.status_code == 422
        and without_service.json()["errors"][0]["field"] == "service_id"
    )
    wrong_department = await client.post(
        "/api/v1/tickets",
        headers=customer,
        json={"department_id": world.department, "request_kind_id": kind["id"], "message": "Hi"},
    )
    assert wrong_department.json()["errors"][0]["field"] == "request_kind_id"

    service = await make_service(customer_id=world.customer.id, name="mail-1", status="suspended")
    answer = await client.post(
        "/api/v1/tickets",
        headers=customer,
        json={
            "department_id": paid,
            "request_kind_id": kind["id"],
            "service_id": service,
            "message": "I run a mail server; please unblock port 25.",
        },
    )
    assert answer.status_code == 201, answer.text
    ticket = answer.json()
    assert ticket["type"] == "request" and ticket["status"] == "in_progress"
    assert ticket["charge"] is None and ticket["subject"] == "Unblock SMTP port 25"
    assert ticket["request"] == {
        "kind": {"id": kind["id"], "name": "Unblock SMTP port 25"},
        "state": "pending",
        "reason": "",
        "decided_by": None,
        "decided_at": None,
    }
    assert await QuotaCounter.count() == 0 and await Charge.count() == 0
    mine = (await client.get("/api/v1/tickets", headers=customer)).json()["items"]
    by_id = {item["id"]: item for item in mine}
    assert by_id[ticket["id"]]["type"] == "request" and by_id[world.ticket]["type"] == "ticket"
    assert (
        by_id[ticket["id"]]["request"]["state"] == "pending"
        and by_id[world.ticket]["request"] is None
    )


async def test_the_billing_system_files_a_request_for_a_customer(client):
    world = await make_world()
    admin = await bearer(world.admin)
    customer = await make_user(external_id="cust-77")
    kind = await _kind(client, admin, world.department)
    await make_service(customer_id=customer.id, name="vps-7")
    service_external_id = "svc-billing-7"
    await client.put(
        f"/api/v1/admin/services/{service_external_id}",
        headers=admin,
        json={
            "customer_external_id": "cust-77",
            "name": "vps-8",
            "kind": "vps",
            "status": "active",
        },
    )
    answer = await client.post(
        "/api/v1/admin/requests",
        headers=admin,
        json={
            "customer_external_id": "cust-77",
            "kind_id": kind["id"],
            "service_external_id": service_external_id,
            "message": "Access to the pre-moderated offer was asked for.",
        },
    )
    assert answer.status_code == 201, answer.text
    ticket = answer.json()
    assert ticket["type"] == "request" and ticket["customer"]["id"] == customer.id
    assert ticket["service"]["name"] == "vps-8" and ticket["request"]["state"] == "pending"
    for body, field in [
        (
            {"customer_external_id": "nobody", "kind_id": kind["id"], "message": "x"},
            "customer_external_id",
        ),
        ({"customer_external_id": "cust-77", "kind_id": 999_999, "message": "x"}, "kind_id"),
        (
            {
                "customer_external_id": "cust-77",
                "kind_id": kind["id"],
                "message": "x",
                "service_external_id": "not-theirs",
            },
            "service_external_id",
        ),
        ({"customer_external_id": "cust-77", "kind_id": kind["id"], "message": "  "}, "message"),
    ]:
        refused = await client.post("/api/v1/admin/requests", headers=admin, json=body)
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == field, body
    assert await Ticket.count().where(Ticket.type == "request") == 1


async def _request(client, headers, department, kind, message="Please"):
    answer = await client.post(
        "/api/v1/tickets",
        headers=headers,
        json={"department_id": department, "request_kind_id": kind, "message": message},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


async def test_staff_approve_and_reject_once_and_the_customer_is_told(client):
    world = await make_world()
    admin, customer = await bearer(world.admin), await bearer(world.customer)
    staff, other_staff = await bearer(world.staff), await bearer(world.other_staff)
    kind = await _kind(client, admin, world.department)
    approved = await _request(client, customer, world.department, kind["id"])
    rejected = await _request(client, customer, world.department, kind["id"])

    hidden = await client.post(
        f"/api/v1/desk/tickets/{approved}/decision",
        headers=other_staff,
        json={"decision": "approved"},
    )
    assert hidden.status_code == 404
    bad = await client.post(
        f"/api/v1/desk/tickets/{approved}/decision", headers=staff, json={"decision": "maybe"}
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "decision"
    not_a_request = await client.post(
        f"/api/v1/desk/tickets/{world.ticket}/decision",
        headers=staff,
        json={"decision": "approved"},
    )
    assert not_a_request.status_code == 409

    answer = await client.post(
        f"/api/v1/desk/tickets/{approved}/decision",
        headers=staff,
        json={"decision": "approved", "reason": "Unblocked for 30 days."},
    )
    assert answer.status_code == 200, answer.text
    ticket = answer.json()
    assert ticket["status"] == "solved" and ticket["request"]["state"] == "approved"
    assert ticket["request"]["decided_by"] == {"id": world.staff.id, "name": world.staff.name}
    assert ticket["messages"][-1]["body"].endswith("Unblocked for 30 days.")
    again = await client.post(
        f"/api/v1/desk/tickets/{approved}/decision", headers=staff, json={"decision": "rejected"}
    )
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"

    await client.post(
        f"/api/v1/desk/tickets/{rejected}/decision",
        headers=staff,
        json={"decision": "rejected", "reason": "Your account is too new."},
    )
    listed = (await client.get("/api/v1/tickets?status=solved", headers=customer)).json()["items"]
    assert next(item for item in listed if item["id"] == rejected)["unread"] is True
    seen = (await client.get(f"/api/v1/tickets/{rejected}", headers=customer)).json()
    assert (
        seen["request"]["state"] == "rejected"
        and seen["request"]["reason"] == "Your account is too new."
    )
    assert "was rejected" in seen["messages"][-1]["body"]
    kinds = (
        await Notification.select(Notification.kind)
        .where(Notification.user == world.customer.id)
        .output(as_list=True)
    )
    assert kinds.count("request_decided") == 2


async def test_bulk_approve_and_reject_from_the_queue_and_the_queue_filters(client):
    world = await make_world()
    admin, customer, staff = (
        await bearer(world.admin),
        await bearer(world.customer),
        await bearer(world.staff),
    )
    kind = await _kind(client, admin, world.department)
    first, second, third = [
        await _request(client, customer, world.department, kind["id"]) for _ in range(3)
    ]

    queue = await client.get(
        "/api/v1/desk/tickets?type=request&request_state=pending", headers=staff
    )
    assert sorted(item["id"] for item in queue.json()["items"]) == [first, second, third]
    plain = await client.get("/api/v1/desk/tickets?type=ticket", headers=staff)
    assert [item["id"] for item in plain.json()["items"]] == [world.ticket]
    wrong = await client.get("/api/v1/desk/tickets?type=question", headers=staff)
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "type"
    wrong = await client.get("/api/v1/desk/tickets?request_state=done", headers=staff)
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "request_state"

    answer = await client.post(
        "/api/v1/desk/tickets/bulk",
        headers=staff,
        json={"action": "approve", "ticket_ids": [first, second, world.ticket]},
    )
    assert answer.json() == {
        "updated": [first, second],
        "skipped": [{"id": world.ticket, "reason": "not a request"}],
    }
    answer = await client.post(
        "/api/v1/desk/tickets/bulk",
        headers=staff,
        json={"action": "reject", "ticket_ids": [first, third], "reason": "Out of stock."},
    )
    assert answer.json() == {
        "updated": [third],
        "skipped": [{"id": first, "reason": "already approved"}],
    }
    solved = "status=solved&type=request"
    approved = await client.get(
        f"/api/v1/desk/tickets?{solved}&request_state=approved", headers=staff
    )
    assert sorted(item["id"] for item in approved.json()["items"]) == [first, second]
    rejected = await client.get(
        f"/api/v1/desk/tickets?{solved}&request_state=rejected", headers=staff
    )
    [row] = rejected.json()["items"]
    assert row["id"] == third and row["request"]["reason"] == "Out of stock."


async def test_a_staff_member_of_another_department_cannot_decide_in_bulk(client):
    world = await make_world()
    admin, customer = await bearer(world.admin), await bearer(world.customer)
    other = await make_user(role="staff")
    await add_member(department_id=world.other_department, user_id=other.id)
    kind = await _kind(client, admin, world.department)
    ticket = await _request(client, customer, world.department, kind["id"])
    answer = await client.post(
        "/api/v1/desk/tickets/bulk",
        headers=await bearer(other),
        json={"action": "approve", "ticket_ids": [ticket]},
    )
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "ticket_ids"
    assert (await Ticket.select(Ticket.request_state).where(Ticket.id == ticket).first()) == {
        "request_state": "pending"
    }


async def test_a_customer_files_a_request_from_the_new_ticket_form(customer_client):
    from tests.factories import form_token

    paid = await make_department(name="Network", free_tickets=0, ticket_price=2500)
    kind = await requests_domain.create_kind(department_id=paid, name="Raise the inode limit")
    page = await customer_client.get("/tickets/new")
    assert "Network: Raise the inode limit" in page.text
    answer = await customer_client.post(
        "/tickets/new",
        data={
            "department_id": str(paid),
            "request_kind_id": str(kind["id"]),
            "message": "I need 2 million inodes.",
            "_csrf_token": await form_token(customer_client, "/tickets/new"),
        },
    )
    assert answer.status_code == 302, answer.text
    shown = await customer_client.get(answer.headers["location"])
    assert "Request: Raise the inode limit" in shown.text and "waiting for our staff" in shown.text
    listed = await customer_client.get("/tickets")
    assert "Request · pending" in listed.text
    assert await Charge.count() == 0 and await QuotaCounter.count() == 0
