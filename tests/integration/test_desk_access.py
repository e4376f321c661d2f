"""Who reaches which desk and admin route, by page and by API, for every role.

One table: each route with what it needs, and the answer each role must get.
Staff of another department get 404 for a ticket or template of the department,
exactly as if it did not exist; customers and finance never reach the desk or
admin; anonymous visitors are sent to log in (pages) or get 401 (API).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from billdesk import outgoing_webhooks, requests
from billdesk.tables import Job, Message, ReplyTemplate, WebhookDelivery
from billdesk.tickets import open_ticket
from tests.desk_support import World, bearer, make_desk_ticket, make_world
from tests.factories import as_current, form_token, login, make_department

ROLES = ("anonymous", "customer", "other_staff", "staff", "finance", "admin")

# Who may use a route: the desk (any staff), one department's object (its staff),
# admin only, finance only.
DESK, DEPARTMENT, ADMIN, FINANCE = "desk", "department", "admin", "finance"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    reach: str
    ok: int
    body: Any = None
    # The answer for staff of another department when it is not 404 (a bulk
    # action on tickets that are not theirs is refused naming ticket_ids).
    other_staff: int | None = None


ROUTES = [
    # --- desk pages
    Route("GET", "/desk", DESK, 200),
    Route("GET", "/desk?status=solved&assignee=me&q=server", DESK, 200),
    Route("GET", "/desk/tickets/{ticket}", DEPARTMENT, 200),
    Route("POST", "/desk/tickets/{ticket}/reply", DEPARTMENT, 302, {"body": "Looking", "internal": "1"}),
    Route("POST", "/desk/tickets/{ticket}/assign", DEPARTMENT, 302, {"assignee_id": "{staff}"}),
    Route("POST", "/desk/tickets/{ticket}/transfer", DEPARTMENT, 302, {"department_id": "{department}"}),
    Route("POST", "/desk/tickets/{ticket}/priority", DEPARTMENT, 302, {"priority": "high"}),
    Route("POST", "/desk/tickets/{page_close}/close", DEPARTMENT, 302),
    Route("POST", "/desk/bulk", DESK, 302, {"action": "close", "ids": "{page_bulk}"}, other_staff=422),
    Route("GET", "/desk?type=request&request_state=pending", DESK, 200),
    Route("POST", "/desk/tickets/{page_request}/decision", DEPARTMENT, 302, {"decision": "approved"}),
    Route("POST", "/desk/tickets/{ticket}/messages/{page_message}/delete", DEPARTMENT, 302),
    Route("GET", "/desk/live", DESK, 200),
    Route("GET", "/desk/rows?status=open&sort=due_at&page=1&shown=1,2", DESK, 200),
    Route("GET", "/desk/tickets/new", DESK, 200),
    Route("POST", "/desk/tickets/new", DESK, 302,
          {"customer_id": "{customer}", "department_id": "{department}", "message": "Abuse notice"},
          other_staff=422),
    Route("GET", "/desk/templates", DESK, 200),
    Route("POST", "/desk/templates", DESK, 302, {"title": "Hello", "body": "Hi {customer_name}"}),
    Route("GET", "/desk/templates/{template}", DEPARTMENT, 200),
    Route("POST", "/desk/templates/{template}", DEPARTMENT, 302,
          {"title": "Renamed", "body": "Hi", "scope": "department", "department_id": "{department}"}),
    Route("POST", "/desk/templates/{template}/delete", DEPARTMENT, 302),
    # --- desk API
    Route("GET", "/api/v1/desk/tickets", DESK, 200),
    Route("GET", "/api/v1/desk/tickets/{ticket}", DEPARTMENT, 200),
    Route("POST", "/api/v1/desk/tickets/{ticket}/messages", DEPARTMENT, 201, {"body": "Noted", "internal": True}),
    Route("PATCH", "/api/v1/desk/tickets/{ticket}", DEPARTMENT, 200, {"priority": "urgent"}),
    Route("POST", "/api/v1/desk/tickets/{api_close}/close", DEPARTMENT, 200),
    Route("POST", "/api/v1/desk/tickets/bulk", DESK, 200,
          {"action": "remove", "ticket_ids": ["{api_bulk}"]}, other_staff=422),
    Route("GET", "/api/v1/desk/tickets?type=request&request_state=pending", DESK, 200),
    Route("POST", "/api/v1/desk/tickets", DESK, 201,
          {"customer_id": "{customer}", "department_id": "{department}", "message": "Maintenance"},
          other_staff=422),
    Route("POST", "/api/v1/desk/tickets/{api_request}/decision", DEPARTMENT, 200,
          {"decision": "rejected", "reason": "No"}),
    Route("DELETE", "/api/v1/desk/tickets/{ticket}/messages/{api_message}", DEPARTMENT, 204),
    Route("GET", "/api/v1/desk/counts", DESK, 200),
    Route("GET", "/api/v1/desk/templates", DESK, 200),
    Route("POST", "/api/v1/desk/templates", DESK, 201, {"title": "Bye", "body": "Bye {agent_name}"}),
    Route("PATCH", "/api/v1/desk/templates/{api_template}", DEPARTMENT, 200, {"title": "Later"}),
    Route("DELETE", "/api/v1/desk/templates/{api_template}", DEPARTMENT, 204),
    # --- finance (customers and staff never; it is someone else's area, checked here for reach)
    Route("GET", "/finance", FINANCE, 200),
    # --- admin pages
    Route("GET", "/admin/departments", ADMIN, 200),
    Route("POST", "/admin/departments", ADMIN, 302,
          {"name": "Billing", "slug": "billing", "quota_period": "month", "ticket_price": "0",
           "currency": "usd", "public": "1", "active": "1"}),
    Route("GET", "/admin/departments/{department}", ADMIN, 200),
    Route("POST", "/admin/departments/{department}", ADMIN, 302,
          {"name": "Hosting", "slug": "hosting", "free_tickets": "2", "quota_period": "year",
           "ticket_price": "900", "currency": "eur", "public": "1", "active": "1"}),
    Route("POST", "/admin/departments/{department}/members", ADMIN, 302, {"user_id": "{other_staff}"}),
    Route("POST", "/admin/departments/{department}/members/{other_staff}/remove", ADMIN, 302),
    Route("POST", "/admin/departments/{spare_department}/deactivate", ADMIN, 302),
    Route("GET", "/admin/users", ADMIN, 200),
    Route("POST", "/admin/users", ADMIN, 302,
          {"name": "New One", "email": "new.one@example.test", "role": "staff", "password": "long enough pw"}),
    Route("GET", "/admin/users/{customer}", ADMIN, 200),
    Route("POST", "/admin/users/{customer}", ADMIN, 302,
          {"name": "Carla C.", "email": "carla@example.test", "role": "customer", "active": "1"}),
    Route("GET", "/admin/settings", ADMIN, 200),
    Route("POST", "/admin/settings", ADMIN, 302, {"support_enabled": "1"}),
    Route("GET", "/admin/trash", ADMIN, 200),
    Route("POST", "/admin/trash/{trashed}/restore", ADMIN, 302),
    Route("GET", "/admin/jobs", ADMIN, 200),
    Route("GET", "/admin/jobs?status=failed&kind=mail.send", ADMIN, 200),
    Route("POST", "/admin/jobs/{failed_job}/retry", ADMIN, 302),
    Route("POST", "/admin/users/{customer}/two-factor/reset", ADMIN, 302),
    # --- the audit log: admins, and finance for its money entries
    Route("GET", "/admin/audit", FINANCE, 200),
    Route("GET", "/admin/audit?person={customer}&action=login&from=2026-01-01&to=2026-12-31", FINANCE, 200),
    # --- admin API
    Route("GET", "/api/v1/admin/departments", ADMIN, 200),
    Route("POST", "/api/v1/admin/departments", ADMIN, 201, {"slug": "vps", "name": "VPS"}),
    Route("GET", "/api/v1/admin/departments/{department}", ADMIN, 200),
    Route("PATCH", "/api/v1/admin/departments/{department}", ADMIN, 200, {"free_tickets": 5}),
    Route("POST", "/api/v1/admin/departments/{department}/members", ADMIN, 201, {"user_id": "{other_staff}"}),
    Route("DELETE", "/api/v1/admin/departments/{department}/members/{other_staff}", ADMIN, 204),
    Route("GET", "/api/v1/admin/users", ADMIN, 200),
    Route("POST", "/api/v1/admin/users", ADMIN, 201,
          {"email": "api.user@example.test", "name": "Api User", "role": "finance"}),
    Route("PATCH", "/api/v1/admin/users/{customer}", ADMIN, 200, {"name": "Carla API"}),
    Route("PUT", "/api/v1/admin/customers/cust-1", ADMIN, 201, {"email": "billing.c@example.test", "name": "Bill C"}),
    Route("PUT", "/api/v1/admin/services/svc-1", ADMIN, 201,
          {"customer_external_id": "cust-1", "name": "VPS 9", "kind": "vps", "status": "active"}),
    Route("GET", "/api/v1/admin/settings", ADMIN, 200),
    Route("PATCH", "/api/v1/admin/settings", ADMIN, 200, {"support_enabled": True}),
    Route("GET", "/api/v1/admin/trash", ADMIN, 200),
    Route("POST", "/api/v1/admin/trash/{api_trashed}/restore", ADMIN, 200),
    Route("GET", "/api/v1/admin/jobs?status=failed", ADMIN, 200),
    Route("GET", "/api/v1/admin/jobs/{api_failed_job}", ADMIN, 200),
    Route("POST", "/api/v1/admin/jobs/{api_failed_job}/retry", ADMIN, 200),
    Route("GET", "/api/v1/admin/job-schedules", ADMIN, 200),
    Route("POST", "/api/v1/admin/users/{customer}/two-factor/reset", ADMIN, 200),
    Route("GET", "/api/v1/admin/audit", FINANCE, 200),
    Route("GET", "/api/v1/admin/audit?action=refund.created&limit=5", FINANCE, 200),
    # --- beside the billing system (docs/integration.md)
    Route("POST", "/api/v1/admin/customers/cust-1/login-link", ADMIN, 201, {"redirect": "/tickets"}),
    Route("POST", "/admin/departments/{department}/request-kinds", ADMIN, 302,
          {"name": "An additional IPv4 address", "description": "One more address"}),
    Route("GET", "/api/v1/admin/departments/{department}/request-kinds", ADMIN, 200),
    Route("POST", "/api/v1/admin/departments/{department}/request-kinds", ADMIN, 201,
          {"name": "Raise the inode limit", "requires_service": True}),
    Route("POST", "/api/v1/admin/requests", ADMIN, 201,
          {"customer_external_id": "cust-1", "kind_id": "{request_kind}", "message": "Asked in the panel"}),
    Route("POST", "/admin/departments/{department}/request-kinds/{request_kind}/toggle", ADMIN, 302),
    Route("GET", "/admin/webhooks", ADMIN, 200),
    Route("POST", "/admin/webhooks", ADMIN, 201, {"url": "https://hooks.example.test/a", "events": "ticket.opened"}),
    Route("GET", "/admin/webhooks/{webhook}", ADMIN, 200),
    Route("POST", "/admin/webhooks/{webhook}", ADMIN, 302,
          {"url": "https://hooks.example.test/b", "events": "ticket.opened", "active": "1"}),
    Route("POST", "/admin/webhooks/{webhook}/deliveries/{delivery}/resend", ADMIN, 302),
    Route("POST", "/admin/webhooks/{page_webhook_gone}/delete", ADMIN, 302),
    Route("GET", "/api/v1/admin/webhooks", ADMIN, 200),
    Route("POST", "/api/v1/admin/webhooks", ADMIN, 201,
          {"url": "https://hooks.example.test/c", "events": ["ticket.opened", "request.decided"]}),
    Route("GET", "/api/v1/admin/webhooks/{webhook}", ADMIN, 200),
    Route("PATCH", "/api/v1/admin/webhooks/{webhook}", ADMIN, 200, {"description": "Billing panel"}),
    Route("GET", "/api/v1/admin/webhooks/{webhook}/deliveries", ADMIN, 200),
    Route("POST", "/api/v1/admin/webhooks/{webhook}/deliveries/{delivery}/resend", ADMIN, 200),
    Route("DELETE", "/api/v1/admin/webhooks/{api_webhook_gone}", ADMIN, 204),
]


def expected(route: Route, role: str) -> int:
    api = route.path.startswith("/api/")
    if role == "anonymous":
        return 401 if api else 302
    allowed = {
        DESK: {"staff", "other_staff", "admin"},
        DEPARTMENT: {"staff", "admin"},
        ADMIN: {"admin"},
        FINANCE: {"finance", "admin"},
    }[route.reach]
    if role in allowed:
        if role == "other_staff" and route.other_staff is not None:
            return route.other_staff
        return route.ok
    if route.reach == DEPARTMENT and role == "other_staff":
        return 404
    if route.reach == DESK and role == "other_staff" and route.other_staff is not None:
        return route.other_staff
    return 403


async def _names(world: World) -> dict[str, int]:
    department = world.department
    customer = world.customer.id

    async def ticket(**extra: Any) -> int:
        return await make_desk_ticket(customer_id=customer, department_id=department, **extra)

    templates = await ReplyTemplate.insert(
        ReplyTemplate(title="Dept", body="Hello {customer_name}", scope="department",
                      department=department),
        ReplyTemplate(title="Dept 2", body="Hi", scope="department", department=department),
    ).returning(ReplyTemplate.id)
    kind = await requests.create_kind(department_id=department, name="Unblock SMTP port 25")

    async def request() -> int:
        opened = await open_ticket(
            customer=as_current(world.customer), department_id=department, service_id=None,
            message="Please", files=[], accept_price=None, client_token=None,
            request_kind_id=kind["id"],
        )
        return opened.ticket_id

    endpoints = [
        (await outgoing_webhooks.create_endpoint(
            url=f"https://hooks.example.test/{n}", events=["ticket.opened"]))[0]["id"]
        for n in range(3)
    ]
    deliveries = await WebhookDelivery.insert(
        WebhookDelivery(endpoint=endpoints[0], key="x:evt_1", event_id="evt_1",
                        event_type="ticket.opened", body="{}", status="failed", tries=3),
    ).returning(WebhookDelivery.id)
    replies = await Message.insert(
        Message(ticket=world.ticket, author=world.staff.id, body="First reply"),
        Message(ticket=world.ticket, author=world.staff.id, body="Second reply"),
    ).returning(Message.id)
    failed_jobs = await Job.insert(
        Job(kind="mail.send", status="failed", attempts=3, last_error="refused"),
        Job(kind="mail.send", status="failed", attempts=3, last_error="refused"),
    ).returning(Job.id)
    return {
        "ticket": world.ticket, "department": department, "staff": world.staff.id,
        "other_staff": world.other_staff.id, "customer": customer,
        "page_close": await ticket(), "page_bulk": await ticket(), "api_close": await ticket(),
        "api_bulk": await ticket(), "trashed": await ticket(removed=True),
        "api_trashed": await ticket(removed=True),
        "template": templates[0]["id"], "api_template": templates[1]["id"],
        "spare_department": await make_department(name="Spare"),
        "failed_job": failed_jobs[0]["id"], "api_failed_job": failed_jobs[1]["id"],
        "request_kind": kind["id"], "page_request": await request(),
        "api_request": await request(), "page_message": replies[0]["id"],
        "api_message": replies[1]["id"], "webhook": endpoints[0],
        "page_webhook_gone": endpoints[1], "api_webhook_gone": endpoints[2],
        "delivery": deliveries[0]["id"],
    }


def _fill(value: Any, names: dict[str, int]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in names:
        return names[value[1:-1]]
    if isinstance(value, str):
        return value.format(**names) if "{" in value and "}" in value and "_name" not in value else value
    if isinstance(value, list):
        return [_fill(item, names) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, names) for key, item in value.items()}
    return value


@pytest.mark.parametrize("role", ROLES)
async def test_every_desk_and_admin_route_for_every_role(client, role):
    world = await make_world()
    names = await _names(world)
    user = world.by_role(role)
    headers: dict[str, str] = {}
    if user is not None:
        await login(client, user.email)
        headers = await bearer(user)
    token = await form_token(client, "/account" if user is not None else "/login")
    wrong = []
    for route in ROUTES:
        path = route.path.format(**names)
        body = _fill(route.body, names)
        if path.startswith("/api/"):
            answer = await client.request(route.method, path, json=body, headers=headers)
        elif route.method == "GET":
            answer = await client.get(path)
        else:
            form = {key: str(value) for key, value in (body or {}).items()}
            answer = await client.post(path, data={**form, "_csrf_token": token})
        want = expected(route, role)
        if answer.status_code != want:
            wrong.append((route.method, path, want, answer.status_code, answer.text[:200]))
        elif want == 302 and role == "anonymous":
            assert answer.headers["location"].startswith("/login?next=")
    assert not wrong, "\n".join(map(str, wrong))
